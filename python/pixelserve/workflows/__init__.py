"""Workflows: one module per ilastik workflow, each declaring input roles and export sources."""

from __future__ import annotations

from pathlib import Path

from ..errors import ProjectError
from ..features import STRUCTURE_TENSOR_ORDERS
from ..project.ilp import open_h5, read_project_file
from ..project.pixel_classification import count_stages, read_stage, structure_tensor_order_for
from .base import InputRole, Workflow
from .pixel_classification import PixelClassificationWorkflow, is_pixel_workflow
from .volume import Volume

SUPPORTED_WORKFLOWS = ("Pixel Classification", "AutocontextTwoStage")


def load_workflow(path, *, structure_tensor_order: str | None = None) -> Workflow:
    """Read a project file and return its workflow, ready to predict.

    The file is opened read-only and closed before returning: predictions never touch it.
    """
    path = Path(path)
    with open_h5(path) as file:
        project = read_project_file(file, path)
        if not is_pixel_workflow(project.workflow_name):
            raise ProjectError(
                f"{path.name} is a '{project.workflow_name}' project; this version of pixelserve "
                f"runs {' and '.join(repr(w) for w in SUPPORTED_WORKFLOWS)} projects. Fix: pass "
                "a pixel classification or autocontext project."
            )
        if structure_tensor_order is None:
            structure_tensor_order = structure_tensor_order_for(project)
        elif structure_tensor_order not in STRUCTURE_TENSOR_ORDERS:
            raise ProjectError(f"Unknown structure tensor order '{structure_tensor_order}': use "
                               f"one of {', '.join(STRUCTURE_TENSOR_ORDERS)}.")
        _ = project.training_raw  # a project without input data is refused first
        stages = count_stages(file)
        if stages == 0:
            raise ProjectError(f"{path.name} has no feature selection or classifier groups: it "
                               "is not a trained pixel classification project.")
        models = [read_stage(file, k, project) for k in range(1, stages + 1)]
    return PixelClassificationWorkflow(project, models, structure_tensor_order)


__all__ = ["InputRole", "Volume", "Workflow", "load_workflow", "STRUCTURE_TENSOR_ORDERS"]
