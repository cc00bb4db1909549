"""`pixelserve --headless --server HOST:PORT ...`: the same headless run, computed by a running
server where the project is already loaded, so no run pays for loading it.

Everything but the computation stays here, in the same code as a local run: the command line,
the lanes, reading the input files' headers, the export pipeline and its files. The results
are remote: the server reads the input files itself (so both must see the same paths). A
block-local result is fetched block by block, each block one Predict call with the block as
a cutout; the server computes any block exactly as the whole image, so the files equal a
local run's bit for bit. A lane-wide result, and a lane with tables, is fetched in one call.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import numpy as np

from ..client import Client, Dataset, ServerError
from ..errors import UserError
from ..export import ResultSource
from ..workflows import LaneRequest, LaneResult, LaneState, LaneWideResult, Volume, WorkflowOption
from ..workflows.base import InputRole, Workflow

#: Blocks of this many pixels per call: large enough that halos and calls cost little.
_BLOCK = {"t": 1, "z": 64, "y": 1024, "x": 1024}


def connect(address: str, token_file: str | None) -> Client:
    token = None
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as file:
                token = file.read().strip()
        except OSError as error:
            raise UserError(f"Cannot read --server_token_file {token_file}: {error.strerror}. "
                            "Fix: give the file the server was started with") from None
    return Client(address, token=token)


class RemoteWorkflow(Workflow):
    """A project loaded on a server, as the headless run sees a workflow: everything comes
    from the server's ProjectInfo, nothing from the project file."""

    def __init__(self, client: Client, project: str, stack_along: str = "z"):
        self.client = client
        self.project_path = os.path.abspath(project)
        try:
            info = client.project_info(self.project_path)
        except ServerError as error:
            raise UserError(f"The server at {client.address} refused the project: {error} "
                            f"({error.code.name})") from None
        self.workflow_name = info.workflow
        self.title = info.title
        self.options = tuple(_option(message) for message in info.options)
        self.table_names = tuple(info.tables)
        self._roles = [InputRole(role.name, role.required, role.training_axes, role.channels or None,
                                 role.spatial_dims or None) for role in info.input_roles]
        self._sources = list(info.export_sources)
        self._default_source = info.default_export_source
        self._labels = [(label.name, (label.color.red, label.color.green, label.color.blue)) for label in info.labels]
        self._export_defaults = dict(info.export_defaults)
        self._min_image_size = info.min_image_size or 1
        self.stack_along = stack_along

    @property
    def input_roles(self) -> list[InputRole]:
        return self._roles

    @property
    def export_sources(self) -> list[str]:
        return self._sources

    @property
    def default_export_source(self) -> str:
        return self._default_source

    @property
    def label_names(self) -> list[str]:
        return [name for name, _ in self._labels]

    @property
    def label_colors(self) -> list[tuple[int, int, int]]:
        return [color for _, color in self._labels]

    @property
    def export_defaults(self):
        return self._export_defaults

    @property
    def min_image_size(self) -> int:
        return self._min_image_size

    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        call = RemoteCall(self, inputs, request)
        if request.image and not call.described.lane_wide and not _asks_for_tables(request, self):
            return LaneResult(RemoteBlocks(call))
        state = RemoteLane(call)
        return LaneResult(RemoteLaneImage(state) if request.image else None, state, lambda: state.tables)


def _asks_for_tables(request: LaneRequest, workflow: Workflow) -> bool:
    """Whether the lane may give tables (a workflow with tables, options set): tables need
    the whole lane, hence one call."""
    return bool(workflow.table_names) and any(value not in (None, False) for value in request.options.values())


def _option(message) -> WorkflowOption:
    """A WorkflowOption from its protocol message."""
    option = WorkflowOption(message.name, message.help, message.kind, choices=tuple(message.choices))
    return replace(option, default=option.parse(message.default)) if message.default else option


class RemoteCall:
    """Predict calls for one lane: the server reads the lane's files and computes `request`."""

    def __init__(self, workflow: RemoteWorkflow, inputs: dict[str, Volume], request: LaneRequest):
        self.client = workflow.client
        self.project = workflow.project_path
        self.request = request
        self.datasets = {role: _dataset_ref(volume, workflow.stack_along) for role, volume in inputs.items()}
        self.raw_role = workflow.input_roles[0].name
        self.input_scales = inputs[self.raw_role].scales  # read here: OME-Zarr exports follow them
        self.options = {name: value for name, value in request.options.items() if value is not None}
        try:
            self.described = self.client.describe(self.project, self.datasets[self.raw_role], inputs=self._others(),
                                                  export_source=request.export_source, options=self.options,
                                                  table_only=not request.image)
        except ServerError as error:
            raise UserError(f"The server at {self.client.address} refused the lane: {error}") from None

    def _others(self) -> dict[str, Dataset]:
        return {role: ref for role, ref in self.datasets.items() if role != self.raw_role}

    def predict(self, **settings):
        try:
            return self.client.predict(self.project, self.datasets[self.raw_role], inputs=self._others(),
                                       export_source=self.request.export_source, options=self.options, **settings)
        except ServerError as error:
            raise UserError(f"The server at {self.client.address} could not compute "
                            f"{self.request.export_source}: {error}") from None


def _describe_image(source: ResultSource, call: RemoteCall) -> None:
    """Set a remote image's attributes from the server's description (and the input read here)."""
    described = call.described
    source.axes, source.shape, source.dtype = described.axes, described.shape, described.dtype
    source.default_axis_order = described.default_axis_order
    source.drange = described.drange
    source.channel_names = described.channel_names
    source.channel_colors = described.channel_colors
    source.label_colors = described.label_colors
    source.input_scales = call.input_scales


class RemoteBlocks(ResultSource):
    """A block-local result whose blocks the server computes, one call each."""

    def __init__(self, call: RemoteCall):
        self.call = call
        _describe_image(self, call)
        self.resolution = {}
        self.block_shape = tuple(min(n, _BLOCK.get(axis, n)) for axis, n in zip(self.axes, self.shape))

    def compute(self, start, stop) -> np.ndarray:
        # In the source's own axes and dtype: the local export pipeline converts.
        return self.call.predict(cutout_subregion=(tuple(start), tuple(stop)), output_axis_order=self.axes).array


class RemoteLane(LaneState):
    """A lane computed by the server in one call: the image (in its own axes) and tables."""

    def __init__(self, call: RemoteCall):
        super().__init__()
        self.call = call
        self.image: np.ndarray | None = None
        self.tables = []

    def compute(self, progress, *, threads, pool, cancel: threading.Event | None) -> None:
        request = self.call.request
        result = self.call.predict(output_axis_order=self.call.described.axes if request.image else "",
                                   table_only=not request.image, tables=request.tables,
                                   progress=progress, cancel=cancel)
        self.image = result.array
        self.tables = list(result.tables.values())


class RemoteLaneImage(LaneWideResult):
    def __init__(self, state: RemoteLane):
        super().__init__(state)
        _describe_image(self, state.call)
        self.resolution = {}
        self.block_shape = self.shape

    def compute(self, start, stop) -> np.ndarray:
        self.state.require()
        return self.state.image[tuple(slice(a, b) for a, b in zip(start, stop))]

    def lane_bytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def _dataset_ref(volume: Volume, stack_along: str) -> Dataset:
    """How the server opens the file behind `volume`: its (expanded, absolute) paths and axes;
    an OME-Zarr image by the address of the scale read here (the server's default could
    differ: --input_scale), a file:// address as the folder it names."""
    dataset = volume.dataset
    if dataset is None:
        raise UserError("The input is not a file: with --server, give files the server can read")
    if dataset.scale is not None:
        return Dataset(f"{dataset.paths[0]}/{dataset.internal_path}", axes=volume.own_axes)
    members = dataset.expanded_paths or dataset.paths
    path = os.pathsep.join(os.path.abspath(member) for member in members)
    return Dataset(path, axes=volume.own_axes, stack_along=stack_along)

