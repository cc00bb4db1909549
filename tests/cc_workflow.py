"""A workflow that exists in the test suite only, to prove the seams for new workflows: it
registers itself, takes one flag of its own, is lane-wide (connected components need the
whole frame), and gives an image and a table. Nothing outside this module knows it.

Projects of it are HDF5 files with `workflowName` = PROJECT_NAME and ilastik's `Input Data`;
`write_project` makes one. Subprocesses (the CLI, a server) find the module through the
entry point that `plugin_environment` writes, as a third-party package would declare it.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from pixelserve.export.tables import Table
from pixelserve.io.axes import vigra_axistags_json
from pixelserve.workflows import InputRole, LaneRequest, LaneResult, LaneState, LaneWideResult, Volume, Workflow, WorkflowOption, WorkflowType, register
from pixelserve.workflows.base import canonical_region, default_output_axis_order, to_result_axes
from pixelserve.workflows.volume import Box

PROJECT_NAME = "pixelserve Connected Components (tests)"
RAW = "Raw Data"


class ConnectedComponentsWorkflow(Workflow):
    title = "Connected Components"
    options = (
        WorkflowOption("threshold", "pixels above this value are foreground", kind="number", default=0.5),
        WorkflowOption("table_filename", "also write the object table here (.csv or .h5)", kind="path"),
    )
    table_names = ("objects",)

    def __init__(self, workflow_name: str):
        self.workflow_name = workflow_name

    @property
    def input_roles(self) -> list[InputRole]:
        return [InputRole(RAW, True, "", None, None)]

    @property
    def export_sources(self) -> list[str]:
        return ["Object Identities", "Foreground"]

    @property
    def default_export_source(self) -> str:
        return "Object Identities"

    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        state = Components(inputs[RAW], float(request.options["threshold"]))
        image = ComponentImage(state, request.export_source) if request.image else None
        table_file = request.options["table_filename"]

        def tables() -> list[Table]:
            if table_file is None and not request.tables:
                return []
            return [Table("objects", state.table_columns(), file=table_file)]

        return LaneResult(image, state, tables)


class Components(LaneState):
    """Every frame's objects: labels of the thresholded first channel (4/6-connected)."""

    def __init__(self, raw: Volume, threshold: float):
        super().__init__()
        self.raw = raw
        self.threshold = threshold
        self.labels: np.ndarray | None = None

    def compute(self, progress, *, threads, pool, cancel) -> None:
        frames = []
        for t in range(self.raw.time_points):
            progress(t, self.raw.time_points, "objects")
            data = self.raw.read(t, Box.whole(self.raw.spatial_shape))[..., 0]
            frames.append(ndimage.label(data > self.threshold)[0].astype(np.uint32))
        progress(self.raw.time_points, self.raw.time_points, "objects")
        self.labels = np.stack(frames)

    def table_columns(self) -> dict[str, np.ndarray]:
        self.require()
        frames, ids, sizes, ys, xs = [], [], [], [], []
        for t, frame in enumerate(self.labels):
            count = int(frame.max())
            index = np.arange(1, count + 1)
            centres = ndimage.center_of_mass(np.ones_like(frame), frame, index) if count else []
            frames += [t] * count
            ids += index.tolist()
            sizes += np.bincount(frame.ravel(), minlength=count + 1)[1:].tolist()
            ys += [c[-2] for c in centres]
            xs += [c[-1] for c in centres]
        return {"timestep": np.array(frames, np.int64), "object_id": np.array(ids, np.int64),
                "size": np.array(sizes, np.int64), "centre_y": np.array(ys, np.float32),
                "centre_x": np.array(xs, np.float32),
                "kind": np.array(["large" if s >= 20 else "small" for s in sizes], dtype=object)}


class ComponentImage(LaneWideResult):
    def __init__(self, state: Components, source: str):
        super().__init__(state)
        raw = state.raw
        self.source = source
        self.axes = "".join(a for a in raw.own_axes if a != "c") + "c"
        self.shape = tuple(dict(zip("tzyxc", raw.shape[:4] + (1,)))[a] for a in self.axes)
        self.dtype = np.dtype(np.uint32 if source == "Object Identities" else np.uint8)
        self.block_shape = self.shape
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        self.channel_names = (source,)

    def compute(self, start, stop) -> np.ndarray:
        self.state.require()
        region = canonical_region(self.axes, start, stop, self.state.raw.shape[:4] + (1,))
        labels = self.state.labels[tuple(slice(*region[a]) for a in "tzyx")][..., None]
        block = labels if self.source == "Object Identities" else (labels > 0).astype(np.uint8)
        return to_result_axes(block.astype(self.dtype), self.axes)


def load(file: h5py.File, project, settings) -> ConnectedComponentsWorkflow:
    return ConnectedComponentsWorkflow(project.workflow_name)


register(WorkflowType(ConnectedComponentsWorkflow, (PROJECT_NAME,), load))


def write_project(path: Path) -> Path:
    """A project of this workflow: just its name and one training lane."""
    with h5py.File(path, "w") as file:
        file["workflowName"] = PROJECT_NAME.encode()
        file["ilastikVersion"] = b"1.4.1"
        file.create_dataset("Input Data/Role Names", data=[RAW.encode()])
        raw = file.create_group(f"Input Data/infos/lane0000/{RAW}")
        raw["axistags"] = vigra_axistags_json("yxc").encode()
        raw["shape"] = np.array([64, 64, 1])
        raw["filePath"] = b"training.tif"
        raw["nickname"] = b"training"
    return path


def plugin_environment(folder: Path) -> dict:
    """An environment in which pixelserve processes find this workflow through an entry point
    (a minimal installed distribution in `folder`)."""
    info = folder / "cc_workflow_plugin-0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cc-workflow-plugin\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[pixelserve.workflows]\nconnected_components = cc_workflow\n")
    path = os.pathsep.join([str(folder), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path.rstrip(os.pathsep))

