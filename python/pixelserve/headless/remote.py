"""`pixelserve --headless --server HOST:PORT ...`: the same headless run, computed by a running
server where the project is already loaded, so no run pays for loading it.

Everything but the computation stays here, in the same code as a local run: the command line,
the lanes, reading the input files' headers, the export pipeline and its files. The result
source is remote: each block is one Predict call that names the input files (the server reads
them itself, so both must see the same paths) and the block as a cutout. The server computes
any block exactly as the whole image, so the files equal a local run's bit for bit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..client import Client, Dataset, ServerError
from ..errors import UserError
from ..project.ilp import open_h5, read_project_file
from ..workflows import Volume
from ..workflows.base import InputRole, Workflow, default_output_axis_order, result_axes

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
    """A project loaded on a server, as the headless run sees a workflow."""

    def __init__(self, client: Client, project: str, stack_along: str = "z"):
        self.client = client
        self.project_path = os.path.abspath(project)
        try:
            info = client.project_info(self.project_path)
        except ServerError as error:
            raise UserError(f"The server at {client.address} refused the project: {error} "
                            f"({error.code.name})") from None
        self.workflow_name = info.workflow
        self._roles = [InputRole(role.name, role.required, role.training_axes, role.channels or None,
                                 role.spatial_dims or None) for role in info.input_roles]
        self._sources = list(info.export_sources)
        self._default_source = info.default_export_source
        self.label_names = [label.name for label in info.labels]
        with open_h5(self.project_path) as file:  # the stored export settings; no forests are read
            self.project = read_project_file(file, Path(self.project_path))
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

    def result_source(self, inputs: dict[str, Volume], export_source: str | None = None, *,
                      parallel_blocks: int = 1):
        return RemoteResultSource(self, inputs, self.resolve_export_source(export_source))


class RemoteResultSource:
    """A ResultSource whose blocks the server computes."""

    def __init__(self, workflow: RemoteWorkflow, inputs: dict[str, Volume], export_source: str):
        raw = inputs[workflow.input_roles[0].name]
        self.client = workflow.client
        self.project = workflow.project_path
        self.export_source = export_source
        self.datasets = {role: _dataset_ref(volume, workflow.stack_along) for role, volume in inputs.items()}
        self.axes = result_axes(raw)
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        # One pixel tells the result's dtype, channels and meaning before anything is computed.
        probe = self._call(tuple(0 for _ in self.axes), tuple(None if axis == "c" else 1 for axis in self.axes))
        spatial = dict(zip("tzyx", raw.shape[:4]))
        self.shape = tuple(probe.array.shape[-1] if axis == "c" else spatial[axis] for axis in self.axes)
        self.dtype = probe.array.dtype
        self.block_shape = tuple(min(n, _BLOCK.get(axis, n)) for axis, n in zip(self.axes, self.shape))
        self.drange = probe.drange
        self.channel_names = tuple(probe.channel_names)
        self.channel_colors = tuple(probe.channel_colors)
        self.label_colors = tuple(probe.label_colors)

    def compute(self, start, stop) -> np.ndarray:
        return self._call(tuple(start), tuple(stop)).array

    def _call(self, start, stop):
        raw_role = next(iter(self.datasets))
        others = {role: ref for role, ref in self.datasets.items() if role != raw_role}
        try:
            return self.client.predict(self.project, self.datasets[raw_role], inputs=others,
                                       export_source=self.export_source, cutout_subregion=(start, stop))
        except ServerError as error:
            raise UserError(f"The server at {self.client.address} could not compute {self.export_source}: "
                            f"{error}") from None


def _dataset_ref(volume: Volume, stack_along: str) -> Dataset:
    """How the server opens the file behind `volume`: its (expanded, absolute) paths and axes."""
    dataset = getattr(volume, "dataset", None)
    if dataset is None:
        raise UserError("The input is not a file: with --server, give files the server can read")
    members = dataset.expanded_paths or dataset.paths
    path = os.pathsep.join(os.path.abspath(member) for member in members)
    return Dataset(path, axes=volume.own_axes, stack_along=stack_along)
