"""What every output format implements. Adding a format is one subclass of `FormatWriter`
plus one entry in `formats.WRITERS`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Mapping

import numpy as np

from pixelserve.io.ome_zarr import Scales


@dataclass(frozen=True)
class ExportMetadata:
    """What a writer may record besides the pixels."""

    internal_path: str = ""  # dataset path inside hierarchical files
    drange: tuple | None = None  # data range of the exported values, when known
    display_mode: str | None = None  # ilastik's viewer hint, e.g. "grayscale"
    resolution: Mapping[str, float] = field(default_factory=dict)  # axis key -> pixel size
    axis_units: Mapping[str, str] = field(default_factory=dict)  # axis key -> unit, e.g. "um"
    origin: Mapping[str, int] = field(default_factory=dict)  # output axis -> subregion start in the source
    channel_names: tuple[str, ...] = ()  # one per exported channel, e.g. the class of each probability
    channel_colors: tuple[tuple[int, int, int], ...] = ()  # RGB per exported channel, for display
    label_colors: tuple[tuple[int, int, int], ...] = ()  # label image: value v is shown as label_colors[v - 1]
    input_scales: Scales | None = None  # an OME-Zarr input's scales, which OME-Zarr output follows


class FormatMismatch(Exception):
    """The result does not fit a format. `problem` says why; `fix` says what to add to the
    command line, or is None when the fix is to choose another format (the registry then
    names the formats that would fit)."""

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def describe_shape(shape, axes) -> str:
    """e.g. 'z=64, y=128, x=128' (singleton axes left out, they carry no data)."""
    parts = [f"{a}={n}" for a, n in zip(axes, shape) if n > 1]
    return ", ".join(parts) or "a single value"


def nonchannel_extents(shape, axes) -> dict[str, int]:
    """The non-singleton axes other than c, which decide a result's dimensionality."""
    return {a: n for a, n in zip(axes, shape) if a != "c" and n > 1}


class FormatWriter(ABC):
    """Writes one result, block by block, into a file at `temp_path`.

    The pipeline calls `check` before computing anything, then creates the writer, calls
    `write` for every block (always from the same thread, in any order), then `finish`; on any
    failure it calls `abort` instead and deletes `temp_path`. It renames `temp_path` to
    `final_path` itself, so a writer never touches `final_path` except to read it. A sequence
    writer writes the files `output_paths(temp_path, ...)`, renamed to `output_paths(final_path, ...)`.
    A folder writer creates the folder `temp_path` (starting from a copy of an existing
    container at `final_path` if it keeps other datasets); the pipeline then swaps it in.
    """

    name: ClassVar[str]  # the --output_format value; format names live here and only here
    extension: ClassVar[str]  # without the dot
    hierarchical: ClassVar[bool] = False  # True: the file holds datasets at internal paths
    sequence: ClassVar[bool] = False  # True: one file per slice, named with {slice_index}
    folder: ClassVar[bool] = False  # True: the output is a folder (N5, zarr), renamed into place whole
    # True: the output name is a URL the writer sends to (temp_path == final_path == the URL);
    # the pipeline makes no folders, temporary file or rename, and the writer itself decides
    # what a failed export leaves behind (see its docstring).
    remote: ClassVar[bool] = False
    #: Set by the pipeline when it shows progress: `finish` calls it with each count of
    #: elements it computed (see finishing_elements).
    finish_progress: Callable[[int], None] | None = None

    @classmethod
    def check(cls, shape: tuple[int, ...], axes: str, dtype: np.dtype) -> None:
        """Raise FormatMismatch if the format cannot hold such a result."""

    @classmethod
    def output_paths(cls, path: str, shape, axes: str, origin: Mapping[str, int]) -> list[str]:
        """The files written for the (formatted) output name `path`, in writing order."""
        return [path]

    def __init__(self, temp_path: str, final_path: str, shape, axes: str, dtype, metadata: ExportMetadata):
        self.temp_path = temp_path
        self.final_path = final_path
        self.shape = tuple(shape)
        self.axes = axes
        self.dtype = np.dtype(dtype)
        self.metadata = metadata

    @abstractmethod
    def write(self, start: tuple[int, ...], block: np.ndarray) -> None:
        """Store `block` (output axes) at offset `start` of the output."""

    def finishing_elements(self) -> int:
        """Elements `finish` computes itself (a pyramid's smaller levels), which the progress
        counts after the blocks; `finish` reports them to `finish_progress` as it goes."""
        return 0

    def finish(self) -> None:
        """Complete and close the file."""

    def abort(self) -> None:
        """Release the file after a failure (the pipeline deletes it)."""

    @staticmethod
    def _slices(start, block) -> tuple[slice, ...]:
        return tuple(slice(s, s + n) for s, n in zip(start, block.shape))


class ConcurrentWriter(FormatWriter):
    """A folder format that keeps each chunk in a file of its own, so that several processes
    can write one output at once (distributed runs, see shared_export.py).

    `chunks` replaces the format's own chunk shape (output axes). One process creates the
    output (a subclass's `create=True`, the default); the others bind to it with
    `create=False`, which writes no metadata. Each process then writes whole chunks only, never one that another
    writes, and `finish` runs once, in one process, after every chunk is written.
    """

    folder = True

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata, *, chunks=None):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        self.chunks = tuple(int(n) for n in chunks) if chunks is not None else None

    @classmethod
    def shared_chunks(cls, shape, axes: str, dtype, block_shape) -> tuple[int, ...]:
        """The chunk shape (output axes) of an output written by several processes in blocks
        of `block_shape`, which are widened to whole chunks. By default a chunk is a block,
        as ilastik's distributed N5 export lays it out."""
        return tuple(int(b) for b in block_shape)
