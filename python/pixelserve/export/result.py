"""What the export pipeline exports: a result that can be computed region by region.

Every workflow's results derive from `ResultSource` and set its attributes; the pipeline,
the writers, the batch planner, the server and the remote run read them and nothing else.
Results come in two kinds: block-local ones compute any block on its own (pixel
classification: the block plus a halo of context), lane-wide ones compute their whole lane
(or time frame) once in `prepare` and then serve blocks from that state (objects, graphs).
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from enum import Enum

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.ome_zarr import Scales

from .conversion import check_axes

#: prepare()'s progress callback: (done, total, phase), e.g. (3, 10, "objects")
PhaseProgress = Callable[[int, int, str], None]


class ResultKind(Enum):
    BLOCK_LOCAL = "block-local"   # any block computes on its own
    LANE_WIDE = "lane-wide"       # computed once for the lane, then read block by block


class ResultSource(ABC):
    """A result with its shape, its meaning for viewers, and `compute(start, stop)`.

    Subclasses set `axes` (a subset of "tzyxc", c last), `shape`, `dtype`, `block_shape`
    (the preferred compute block) and `default_axis_order` (ilastik's export default: the
    raw data's axes with c appended); the rest has defaults:
    - `resolution`: axis -> (pixel size, unit) of the input, for the file metadata;
    - `drange` (value range, e.g. (0.0, 1.0) for probabilities) and `display_mode` (ilastik's
      viewer hint), both in HDF5 metadata;
    - `channel_names`, `channel_colors` (per channel) and `label_colors` (a label image: value
      v drawn in label_colors[v - 1]), which become ImageJ's slice labels, LUTs and ranges;
    - `input_scales`: the scales of an OME-Zarr input (pixelserve.io.ome_zarr.Scales), whose
      names, shapes and offset an OME-Zarr export follows.
    """

    kind: ResultKind = ResultKind.BLOCK_LOCAL
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    block_shape: tuple[int, ...]
    default_axis_order: str
    resolution: Mapping[str, tuple[float, str]] = {}
    drange: tuple[float, float] | None = None
    display_mode: str | None = None
    channel_names: tuple[str, ...] = ()
    channel_colors: tuple[tuple[int, int, int], ...] = ()
    label_colors: tuple[tuple[int, int, int], ...] = ()
    input_scales: Scales | None = None

    def prepare(self, progress: PhaseProgress | None = None, *, threads: int = 1, pool: Executor | None = None,
                cancel: threading.Event | None = None) -> None:
        """Compute what the blocks need from the whole lane (lane-wide results); a no-op for
        block-local ones. `pool` and `cancel` are pixelserve.blocks.map_blocks's."""

    @abstractmethod
    def compute(self, start: tuple[int, ...], stop: tuple[int, ...]) -> np.ndarray:
        """The region [start, stop) in source axes; must be safe to call from several threads."""

    def block_working_bytes(self) -> int:
        """Peak memory one thread holds while computing one block (an estimate)."""
        return 4 * math.prod(self.block_shape) * np.dtype(self.dtype).itemsize

    def lane_bytes(self) -> int:
        """Memory the lane-wide state holds while the lane is exported (an estimate)."""
        return 0


def _default_block_shape(axes: str, shape) -> tuple[int, ...]:
    preferred = {"t": 1, "z": 64, "y": 256, "x": 256}
    return tuple(min(n, preferred.get(a, n)) for a, n in zip(axes, shape))


class InMemoryResult(ResultSource):
    """A result that is already an array (datasets the server writes, tests)."""

    def __init__(self, array, axes: str, *, block_shape=None, drange=None, display_mode=None,
                 channel_names=(), channel_colors=(), label_colors=(), default_axis_order: str | None = None):
        self.array = np.asarray(array)
        self.axes = check_axes(axes, "The array's axes")
        if len(self.axes) != self.array.ndim:
            raise UserError(f"The array has {self.array.ndim} dimensions but the axes {axes!r} name {len(axes)}: "
                            "give one axis key per dimension")
        self.shape = self.array.shape
        self.dtype = self.array.dtype
        self.block_shape = tuple(block_shape) if block_shape else _default_block_shape(self.axes, self.shape)
        self.default_axis_order = default_axis_order or self.axes
        self.drange = drange
        self.display_mode = display_mode
        self.channel_names = tuple(channel_names)
        self.channel_colors = tuple(channel_colors)
        self.label_colors = tuple(label_colors)

    def compute(self, start, stop):
        return self.array[tuple(slice(s, e) for s, e in zip(start, stop))]
