"""Workflows: one module per ilastik workflow, each registered (registry.py) by the
`workflowName`s its projects store."""

from __future__ import annotations

from ..features import STRUCTURE_TENSOR_ORDERS
from . import (  # noqa: F401  (each registers its workflows)
    counting,
    multicut,
    object_classification,
    pixel_classification,
    tracking,
)
from .base import InputRole, Workflow
from .lane import LaneRequest, LaneResult, LaneState, LaneWideResult
from .options import WorkflowOption, parse_options
from .registry import WorkflowType, find_workflow_type, load_workflow, register, workflow_types
from .volume import Volume

__all__ = ["InputRole", "LaneRequest", "LaneResult", "LaneState", "LaneWideResult", "STRUCTURE_TENSOR_ORDERS",
           "Volume", "Workflow", "WorkflowOption", "WorkflowType", "find_workflow_type", "load_workflow",
           "parse_options", "register", "workflow_types"]
