"""What every workflow offers its front doors (CLI, server, Fiji plugin).

A workflow declares its title, its own options and tables, its input roles and export
sources, and what front doors show (class names and colours, the project's stored export
settings); it turns one lane's input volumes into a `LaneResult` whose image the export
pipeline computes block by block. Front doors never compute anything themselves, and ask a
workflow only what this class declares.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..errors import UserError
from .lane import LaneRequest, LaneResult
from .options import WorkflowOption
from .volume import CANONICAL, Volume


@dataclass(frozen=True)
class InputRole:
    """One input a workflow takes per lane, with what the training data looked like."""

    name: str                 # ilastik's role name, e.g. "Raw Data", "Prediction Mask"
    required: bool
    training_axes: str        # axes of the training data ("" when unknown)
    channels: int | None      # channel count prediction data must have (None: any)
    spatial_dims: int | None  # 2 or 3, from the training data (None: any)

    @property
    def flag(self) -> str:
        """The headless flag ilastik derives from the role name (--raw_data)."""
        return "--" + self.name.lower().replace(" ", "_")


class Workflow(ABC):
    """Base class: one subclass per ilastik workflow (registered in registry.py)."""

    #: The name users see, e.g. "Object Classification"; the Fiji plugin's menu entry.
    title: ClassVar[str] = ""
    #: Settings of this workflow beyond the export flags (headless flags, gRPC options, macro keys).
    options: ClassVar[tuple[WorkflowOption, ...]] = ()
    #: Names of the tables a lane can give (LaneResult.tables).
    table_names: ClassVar[tuple[str, ...]] = ()

    workflow_name: str = ""  # as the project stores it

    @property
    @abstractmethod
    def input_roles(self) -> list[InputRole]: ...

    @property
    @abstractmethod
    def export_sources(self) -> list[str]: ...

    @property
    @abstractmethod
    def default_export_source(self) -> str: ...

    @property
    def label_names(self) -> list[str]:
        """The classes, in the order of the probability channels (none for unsupervised results)."""
        return []

    @property
    def label_colors(self) -> list[tuple[int, int, int]]:
        """One display colour per class."""
        return []

    @property
    def export_defaults(self) -> Mapping[str, object]:
        """The project's stored export settings, keyed like ExportSettings' fields; ilastik's
        headless mode uses them where no flag is given."""
        return {}

    @property
    def min_image_size(self) -> int:
        """Smallest image side (pixels) the workflow accepts."""
        return 1

    def memory_bytes(self) -> int:
        """Memory the loaded project holds (the server's warm cache counts it)."""
        return 1 << 20

    def open_lane(self, inputs: dict[str, Volume], request: LaneRequest | None = None, *,
                  parallel_blocks: int = 1) -> LaneResult:
        """One lane's results for `request` (default: the default export source), checking the
        inputs and reading only their headers; image blocks are sized to keep `parallel_blocks`
        threads busy where that pays."""
        request = request or LaneRequest()
        self.check_inputs(inputs)
        if not request.image and not self.table_names:
            raise UserError(f"{self.title} projects give no tables, so --table_only would export nothing. "
                            "Fix: drop --table_only.")
        export_source = self.resolve_export_source(request.export_source)
        return self.make_lane(inputs, replace(request, export_source=export_source), parallel_blocks)

    @abstractmethod
    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        """open_lane's work once the inputs are checked and `request.export_source` is the
        canonical name of one of `export_sources`."""

    def input_volume(self, dataset, axes: str | None, role: str, *, name: str | None = None,
                     region: tuple[tuple[int, int], ...] | None = None, training_axes: bool = True) -> Volume:
        """A pixelserve.io Dataset given for `role` as a Volume. Its axes: `axes` when given,
        else the file's own, else the training data's when they have as many dimensions
        (unless `training_axes` is False: ilastik's --ignore_training_axistags), else
        ilastik's guess from the shape (the same rule for every front door)."""
        if axes is None:
            axes = dataset.axes
            if training_axes and not dataset.axes_from_file:
                training = next((r.training_axes for r in self.input_roles if r.name == role), "")
                if training and len(training) == len(dataset.shape):
                    axes = training
        return Volume.from_dataset(dataset, axes, name=name or dataset.label, region=region)

    def resolve_export_source(self, name: str | None) -> str:
        """The canonical spelling of an export source name (matching is case-insensitive)."""
        if name is None:
            return self.default_export_source
        by_lower = {source.lower(): source for source in self.export_sources}
        key = " ".join(name.split()).lower()
        if key in by_lower:
            return by_lower[key]
        close = difflib.get_close_matches(key, list(by_lower), n=1)
        hint = f" Did you mean '{by_lower[close[0]]}'?" if close else ""
        raise UserError(
            f"Unknown export source '{name}' for {self.workflow_name}.{hint} Valid sources: "
            + ", ".join(f"'{s}'" for s in self.export_sources) + "."
        )

    def check_inputs(self, inputs: dict[str, Volume]) -> None:
        """Refuse inputs that cannot match the training data, with a sentence saying why."""
        for role in self.input_roles:
            volume = inputs.get(role.name)
            if volume is None:
                if role.required:
                    raise UserError(f"{role.name} is required for {self.workflow_name}. "
                                    f"Fix: pass it with {role.flag} or as a positional file.")
                continue
            if role.channels is not None and volume.channels != role.channels:
                raise UserError(
                    f"{volume.name} has {volume.channels} channel(s) (axes '{volume.own_axes}', "
                    f"shape {volume.own_shape}) but the project was trained on {role.channels}-"
                    f"channel {role.name.lower()} (axes '{role.training_axes}'). Fix: pass an "
                    f"image with {role.channels} channel(s), or --input_axes if the channel axis "
                    "was read wrongly."
                )
            dims = 3 if volume.shape[1] > 1 else 2
            if role.spatial_dims is not None and dims != role.spatial_dims:
                raise UserError(
                    f"{volume.name} is {dims}D (axes '{volume.own_axes}', shape {volume.own_shape}) "
                    f"but the project was trained on {role.spatial_dims}D data (axes "
                    f"'{role.training_axes}'). Fix: pass {role.spatial_dims}D data, or "
                    "--input_axes if an axis was read wrongly (e.g. 't' instead of 'z')."
                )
        raw = inputs[self.input_roles[0].name]
        for role in self.input_roles[1:]:
            other = inputs.get(role.name)
            if other is not None and other.shape[:4] != raw.shape[:4]:
                raise UserError(
                    f"{role.name} {other.name} has shape {other.own_shape} (axes "
                    f"'{other.own_axes}') but the raw data has {raw.own_shape} (axes "
                    f"'{raw.own_axes}'). Fix: pass a {role.name.lower()} of the raw data's size."
                )


def result_axes(raw: Volume) -> str:
    """Axes of a pixel-wise result: the raw data's non-channel axes, then c."""
    return "".join(a for a in raw.own_axes if a != "c") + "c"


def default_output_axis_order(raw: Volume) -> str:
    """ilastik's default export axis order: the raw axes with c appended if missing."""
    return raw.own_axes if "c" in raw.own_axes else raw.own_axes + "c"


def canonical_region(axes: str, start, stop, shape5) -> dict[str, tuple[int, int]]:
    """A region given in `axes` as ranges per canonical axis (full range where absent)."""
    region = {a: (0, n) for a, n in zip(CANONICAL, shape5)}
    for axis, begin, end in zip(axes, start, stop):
        region[axis] = (int(begin), int(end))
    return region


def to_result_axes(block5: np.ndarray, axes: str) -> np.ndarray:
    """A canonical (t, z, y, x, c) block as an array in `axes` (dropping absent singletons)."""
    drop = tuple(i for i, a in enumerate(CANONICAL) if a not in axes)
    squeezed = block5.reshape([n for i, n in enumerate(block5.shape) if i not in drop])
    present = [a for a in CANONICAL if a in axes]
    return np.ascontiguousarray(squeezed.transpose([present.index(a) for a in axes]))
