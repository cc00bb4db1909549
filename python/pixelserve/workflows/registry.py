"""The workflow registry: which module runs a project, found by the `workflowName` it stores.

Each workflow module registers a `WorkflowType` (its title, every name ilastik writes for it,
its own headless options and its loader), the way `export/formats.py` registers writers.
`load_workflow` only dispatches. Front doors never name a workflow: the CLI's workflow flags,
the server's list of workflows and the Fiji plugin's menus all come from here.

Other packages add workflows through the entry-point group `pixelserve.workflows`: each entry
point names a module that calls `register` when imported.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py

from ..errors import ProjectError
from ..project.ilp import ProjectFile, open_h5, read_project_file
from .base import Workflow

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pixelserve.workflows"

#: Workflows ilastik writes that pixelserve knows by name. A project of one of them that no
#: module has registered is refused with one sentence naming it. The names are what ilastik
#: stores: `workflowName` of each workflow class, and the class name itself, which projects
#: created with `--new_project --workflow=<class>` store (ilastik/shell/projectManager.py:155).
#: Sources: ilastik/workflows/*/ and ilastik/experimental/parser/types.py.
ILASTIK_WORKFLOWS: dict[str, tuple[str, ...]] = {
    "Pixel Classification": ("Pixel Classification", "PixelClassificationWorkflow"),
    "Autocontext": ("AutocontextTwoStage", "AutocontextThreeStage", "AutocontextFourStage"),
    "Object Classification": (
        "Object Classification (from prediction image)", "ObjectClassificationWorkflowPrediction",
        "Object Classification (from binary image)", "ObjectClassificationWorkflowBinary",
        "Object Classification (from label image)", "ObjectClassificationWorkflowLabels",
        "Object Classification (from pixel classification)", "ObjectClassificationWorkflowPixel"),
    "Counting": ("Cell Density Counting", "CountingWorkflow"),
    "Multicut": ("Edge Training With Multicut", "EdgeTrainingWithMulticutWorkflow"),
    "Tracking": (
        "Structured Learning Tracking Workflow from binary image", "StructuredTrackingWorkflowFromBinary",
        "Structured Learning Tracking Workflow from prediction image", "StructuredTrackingWorkflowFromPrediction",
        "Automatic Tracking Workflow (Conservation Tracking) from binary image",
        "ConservationTrackingWorkflowFromBinary",
        "Automatic Tracking Workflow (Conservation Tracking) from prediction image",
        "ConservationTrackingWorkflowFromPrediction",
        "Animal Conservation Tracking Workflow from Binary Image", "AnimalConservationTrackingWorkflowFromBinary",
        "Animal Conservation Tracking Workflow from Prediction Image",
        "AnimalConservationTrackingWorkflowFromPrediction"),
    "Carving": ("Carving", "CarvingWorkflow", "Carving From Pixel Predictions"),
    "Multicut (without edge training)": ("Multicut", "MulticutWorkflow"),
    "Manual Tracking": ("Manual Tracking Workflow", "ManualTrackingWorkflow"),
    "Neural Network Classification": ("Neural Network Classification (Local)",
                                      "Neural Network Classification (Remote)", "LocalWorkflow", "RemoteWorkflow"),
    "Trainable Domain Adaptation": ("Trainable Domain Adaptation (Local)", "Trainable Domain Adaptation (Local) (beta)",
                                    "LocalTrainableDomainAdaptationWorkflow",
                                    "LocalTrainableDomainAdaptationWorkflowLegacy"),
    "Watershed Over Distance Transform": ("Watershed Over Distance Transform", "WsdtWorkflow"),
    "Data Conversion": ("Data Conversion", "DataConversionWorkflow"),
}

def _any_file(path: str) -> str:
    return path


@dataclass(frozen=True)
class LoadSettings:
    """How to load a project, beyond its path: headless flags that change loading, and
    `check_stored_file(path) -> path`, which every file the project names (e.g. the training
    images a workflow retrains from) passes before the workflow opens it: the server refuses
    files outside its allowed roots there."""

    structure_tensor_order: str | None = None  # pixel features: override the project's era
    check_stored_file: Callable[[str], str] = _any_file


Loader = Callable[[h5py.File, ProjectFile, LoadSettings], Workflow]


@dataclass(frozen=True)
class WorkflowType:
    """One workflow as the registry knows it: its class (which declares the title, options
    and tables), every workflowName a project of it may store, and its loader, which reads
    the open project file (closed afterwards)."""

    workflow_class: type[Workflow]
    project_names: tuple[str, ...]
    load: Loader

    @property
    def title(self) -> str:
        return self.workflow_class.title

    @property
    def options(self):
        return self.workflow_class.options


_registered: dict[str, WorkflowType] = {}
_lock = threading.Lock()
_plugins_loaded = False


def register(workflow_type: WorkflowType) -> WorkflowType:
    """Make `workflow_type` run projects that store any of its names."""
    with _lock:
        taken = {name: kind.title for kind in _registered.values() for name in kind.project_names
                 if kind.title != workflow_type.title}
        clash = [name for name in workflow_type.project_names if name in taken]
        if clash:
            raise ValueError(f"{clash[0]!r} is already registered by {taken[clash[0]]!r}")
        _registered[workflow_type.title] = workflow_type
    return workflow_type


def _load_plugins() -> None:
    """Import the modules of the `pixelserve.workflows` entry points (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception:  # a broken plugin must not take the built-in workflows down with it
            logger.warning("The workflow plugin %s (%s) could not be loaded", entry.name, entry.value, exc_info=True)


def workflow_types() -> list[WorkflowType]:
    """Every workflow pixelserve runs: ilastik's in the order of ILASTIK_WORKFLOWS, then
    the plugins' in the order they registered."""
    _load_plugins()
    order = list(ILASTIK_WORKFLOWS)
    return sorted(_registered.values(), key=lambda kind: order.index(kind.title) if kind.title in order else len(order))


def find_workflow_type(workflow_name: str) -> WorkflowType | None:
    for kind in workflow_types():
        if workflow_name in kind.project_names:
            return kind
    return None


def load_workflow(path, *, structure_tensor_order: str | None = None,
                  check_stored_file: Callable[[str], str] | None = None) -> Workflow:
    """Read a project file and return its workflow, ready to predict (`check_stored_file`:
    see LoadSettings).

    The file is opened read-only and closed before returning: predictions never touch it.
    """
    path = Path(path)
    with open_h5(path) as file:
        project = read_project_file(file, path)
        kind = find_workflow_type(project.workflow_name)
        if kind is None:
            raise ProjectError(_unsupported(path, project.workflow_name))
        return kind.load(file, project, LoadSettings(structure_tensor_order=structure_tensor_order,
                                                     check_stored_file=check_stored_file or _any_file))


def _unsupported(path: Path, workflow_name: str) -> str:
    runs = ", ".join(kind.title for kind in workflow_types())
    known = next((title for title, names in ILASTIK_WORKFLOWS.items() if workflow_name in names), None)
    if known is not None:
        return (f"{path.name} is an ilastik {known} project ('{workflow_name}'), which this version of "
                f"pixelserve does not run (it runs {runs}). Fix: run it with ilastik.")
    return (f"{path.name} stores the workflow name '{workflow_name}', which neither ilastik nor pixelserve "
            f"knows (pixelserve runs {runs}). Fix: pass a project that ilastik or 'pixelserve train' saved.")
