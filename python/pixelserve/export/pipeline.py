"""The one export pipeline: plan, compute blockwise on a thread pool, convert, write, and
rename into place, so that a failed or interrupted export leaves nothing behind."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from pixelserve.blocks import iter_blocks, map_blocks
from pixelserve.errors import UserError

from .chunk_assembly import remove_path
from .conversion import ExportPlan, check_axes
from .formats import check_fits, writer_class
from .paths import (
    ILASTIK_NAME_KEYS,
    SLICE_KEY,
    SLICE_PLACEHOLDER,
    format_path,
    output_only_placeholders,
    refuse_input_as_output,
    region_placeholders,
    unknown_placeholders,
    uses_placeholder,
    with_extension,
)
from .settings import ExportSettings
from .writer_base import ExportMetadata

logger = logging.getLogger(__name__)


@runtime_checkable
class ResultSource(Protocol):
    """A result that can be computed region by region.

    Optional attributes, read with getattr: `drange` (value range, e.g. (0.0, 1.0) for
    probabilities) and `display_mode` (ilastik viewer hint), both in HDF5 metadata; and
    `channel_names`, `channel_colors` (per channel) and `label_colors` (the result is a label
    image, value v drawn in label_colors[v - 1]), which the TIFF writer turns into ImageJ's
    slice labels, LUTs and display ranges.
    """

    axes: str  # subset of "tzyxc", c last, e.g. "yxc", "zyxc", "tyxc"
    shape: tuple[int, ...]
    dtype: np.dtype
    block_shape: tuple[int, ...]  # preferred compute block

    def compute(self, start: tuple[int, ...], stop: tuple[int, ...]) -> np.ndarray:
        """The region [start, stop) in source axes; must be safe to call from several threads."""
        ...


def _default_block_shape(axes: str, shape) -> tuple[int, ...]:
    preferred = {"t": 1, "z": 64, "y": 256, "x": 256}
    return tuple(min(n, preferred.get(a, n)) for a, n in zip(axes, shape))


class ArraySource:
    """A ResultSource over an in-memory array (Python API, server, tests)."""

    def __init__(self, array, axes: str, *, block_shape=None, drange=None, display_mode=None,
                 channel_names=(), channel_colors=(), label_colors=()):
        self.array = np.asarray(array)
        self.axes = check_axes(axes, "The array's axes")
        if len(self.axes) != self.array.ndim:
            raise UserError(f"The array has {self.array.ndim} dimensions but the axes {axes!r} name {len(axes)}: give one axis key per dimension")
        self.shape = self.array.shape
        self.dtype = self.array.dtype
        self.block_shape = tuple(block_shape) if block_shape else _default_block_shape(self.axes, self.shape)
        self.drange = drange
        self.display_mode = display_mode
        self.channel_names = tuple(channel_names)
        self.channel_colors = tuple(channel_colors)
        self.label_colors = tuple(label_colors)

    def compute(self, start, stop):
        return self.array[tuple(slice(s, e) for s, e in zip(start, stop))]


def _plan(axes, shape, dtype, settings, default_axis_order, source_drange=None) -> tuple[ExportSettings, ExportPlan]:
    settings = settings.validated()
    plan = ExportPlan.create(axes, shape, dtype, settings, default_axis_order=default_axis_order, source_drange=source_drange)
    return settings, plan


def apply_export(array, axes: str, settings: ExportSettings, *, default_axis_order: str) -> tuple[np.ndarray, str]:
    """The export's conversion chain in memory (subregion, data range and dtype, axis order).
    Returns a new C-contiguous array and its axes."""
    result, output_axes, _ = export_to_array(ArraySource(array, axes), settings, default_axis_order=default_axis_order)
    return result, output_axes


def _output_paths(settings, writer, plan, placeholders) -> tuple[str, str]:
    """(external file path, internal dataset path) of the export."""
    names = {**placeholders, **region_placeholders(plan.source_axes, plan.region_start, plan.region_stop)}
    internal = format_path(settings.output_internal_path, names) if writer.hierarchical else ""
    names.update({k: v for k, v in output_only_placeholders(plan.source_axes, plan.output_axes).items() if k not in names})
    template = settings.output_filename_format
    if writer.sequence:
        if not uses_placeholder(template, SLICE_KEY):
            raise UserError(f"{writer.name!r} writes one file per slice, so --output_filename_format must contain "
                            f"{{{SLICE_KEY}}}: add it, e.g. '{{dataset_dir}}/{{nickname}}_{{{SLICE_KEY}}}'")
        names[SLICE_KEY] = SLICE_PLACEHOLDER
    elif uses_placeholder(template, SLICE_KEY):
        raise UserError(f"{{{SLICE_KEY}}} numbers the files of a sequence but {writer.name!r} writes one file: "
                        f"remove it from --output_filename_format or choose a '... sequence' --output_format")
    for name in unknown_placeholders(template, names):
        if name in ILASTIK_NAME_KEYS:
            raise UserError(f"The output name {template!r} uses {{{name}}} but this export has no value for it: "
                            "give --output_filename_format a file name without it, e.g. '/path/to/result'")
        logger.warning("The output name %r has no value for {%s}: it stays in the name as written", template, name)
    if writer.remote:  # a URL: no home folder, absolute path or extension
        return format_path(template, names), internal
    path = os.path.expanduser(format_path(template, names))
    path = os.path.abspath(with_extension(path, writer.extension))
    return path, internal


def output_paths(source: ResultSource, settings: ExportSettings, placeholders: dict, *,
                 default_axis_order: str) -> tuple[list[str], str]:
    """(the files, the dataset inside them) that export_result would write; computes nothing."""
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings, default_axis_order,
                           getattr(source, "drange", None))
    _, internal, paths = _planned_paths(settings, writer_class(settings.output_format), plan, placeholders)
    return paths, internal


def _planned_paths(settings, writer_cls, plan, placeholders) -> tuple[str, str, list[str]]:
    """(the output path, the internal dataset path, every file written: one per slice for a
    sequence format)."""
    path, internal = _output_paths(settings, writer_cls, plan, placeholders)
    if writer_cls.remote:
        return path, internal, [path]
    origin = {a: int(plan.region_start[plan.source_axes.index(a)]) for a in plan.output_axes if a in plan.source_axes}
    return path, internal, writer_cls.output_paths(path, plan.output_shape, plan.output_axes, origin)


def _make_folders(folder: str) -> list[str]:
    """Create `folder` and missing parents; return the ones created here, deepest first.

    Another process may create the same folders meanwhile (the workers of a batch start
    their first files at once): a folder it made first is not ours to delete."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise UserError(f"Cannot create the output folder {path}: a file of that name is in the way. Fix: "
                                "choose another --output_filename_format, or move that file") from None
        except OSError as error:
            raise UserError(f"Cannot create the output folder {path}: {error.strerror}. Fix: choose a folder you "
                            "may write to with --output_filename_format") from None
        else:
            created.insert(0, path)
    return created


def export_result(
    source: ResultSource,
    settings: ExportSettings,
    placeholders: dict,
    *,
    default_axis_order: str,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
    resolution: Mapping[str, float] | None = None,
    axis_units: Mapping[str, str] | None = None,
    before_writing: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Export `source` as `settings` say; returns the written file paths.

    `placeholders` fills the output name ({dataset_dir}, {nickname}, {result_type}, ...);
    its 'input_paths' entry lists files the export must not overwrite. `resolution` (axis ->
    pixel size) and `axis_units` (axis -> unit) go into the file metadata where the format
    has a place for them. `progress(done, total)` counts array elements of the subregion.
    `before_writing(temp_paths)` hears the temporary file names before any exists, so that
    a supervising process can delete them should this one be killed.
    """
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings, default_axis_order,
                           getattr(source, "drange", None))
    writer_cls = writer_class(settings.output_format)
    check_fits(writer_cls, plan.output_shape, plan.output_axes, plan.export_dtype)
    path, internal, paths = _planned_paths(settings, writer_cls, plan, placeholders)
    remote = writer_cls.remote
    for final in [] if remote else paths:
        refuse_input_as_output(final, internal, placeholders.get("input_paths"))
        if os.path.isdir(final) and not writer_cls.folder:
            raise UserError(f"The output path {final} is a folder: choose a file name with --output_filename_format")
    metadata = _metadata(source, plan, internal, resolution, axis_units)

    created_folders = []
    for folder in [] if remote else dict.fromkeys(os.path.dirname(final) for final in paths):
        created_folders += _make_folders(folder)
    # Hidden, in the target folder so that the final rename stays on one file system.
    tag = uuid.uuid4().hex[:8]
    temp_path = path if remote else _temp_name(path, tag)
    # what writer_cls.output_paths(temp_path) gives; a remote writer has none to rename
    temp_paths = [] if remote else [_temp_name(final, tag) for final in paths]
    writer = None
    try:
        if before_writing is not None:
            before_writing(temp_paths)
        writer = writer_cls(temp_path, path, plan.output_shape, plan.output_axes, plan.export_dtype, metadata)
        _stream_blocks(source, plan, writer, threads, progress)
        writer.finish()
        writer = None
        for temp, final in zip(temp_paths, paths):
            _move_into_place(temp, final, tag)
    except BaseException:  # KeyboardInterrupt too: never leave a partial file
        if writer is not None:
            try:
                writer.abort()
            except Exception:  # the original error matters more
                logger.debug("Closing the unfinished output failed", exc_info=True)
        for temp in temp_paths:
            remove_path(temp)
        for folder in sorted(created_folders, key=len, reverse=True):
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        raise
    if len(paths) > 1:
        logger.info("Exported %d files, %s to %s", len(paths), paths[0], paths[-1])
    else:
        logger.info("Exported %s", paths[0] if not internal else f"{paths[0]}/{internal}")
    return paths


def export_to_array(source: ResultSource, settings: ExportSettings, *, default_axis_order: str, threads: int = 1,
                    progress: Callable[[int, int], None] | None = None, pool=None,
                    cancel=None) -> tuple[np.ndarray, str, ExportMetadata]:
    """The export of `source` in memory instead of a file (server, Python API): the same plan
    and conversions, block by block. Returns (array, its axes, what a file would record).
    `pool` and `cancel` are pixelserve.blocks.map_blocks's (a shared executor, a stop event)."""
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings, default_axis_order,
                           getattr(source, "drange", None))
    result = np.empty(plan.output_shape, plan.export_dtype)

    class Target:
        @staticmethod
        def write(start, block):
            result[tuple(slice(s, s + n) for s, n in zip(start, block.shape))] = block

    _stream_blocks(source, plan, Target, threads, progress, pool=pool, cancel=cancel)
    return result, plan.output_axes, _metadata(source, plan, "", None, None)


def _metadata(source, plan: ExportPlan, internal: str, resolution, axis_units) -> ExportMetadata:
    origin = {a: int(plan.region_start[plan.source_axes.index(a)]) for a in plan.output_axes if a in plan.source_axes}
    return ExportMetadata(
        internal_path=internal, drange=plan.drange, display_mode=getattr(source, "display_mode", None),
        resolution=dict(resolution or {}), axis_units=dict(axis_units or {}), origin=origin,
        channel_names=_exported_channels(plan, getattr(source, "channel_names", ())),
        channel_colors=_exported_channels(plan, getattr(source, "channel_colors", ())),
        label_colors=tuple(tuple(int(v) for v in rgb) for rgb in getattr(source, "label_colors", ())),
    )


def _exported_channels(plan: ExportPlan, per_channel) -> tuple:
    """The entries of `per_channel` (one per source channel) that the subregion keeps; ()
    when the source gives none, or not one per channel."""
    per_channel = tuple(tuple(int(v) for v in entry) if not isinstance(entry, str) else entry
                        for entry in per_channel)
    channels = dict(zip(plan.source_axes, plan.source_shape)).get("c", 1)
    if len(per_channel) != channels:
        return ()
    if "c" not in plan.source_axes:
        return per_channel
    index = plan.source_axes.index("c")
    return per_channel[plan.region_start[index]:plan.region_stop[index]]


def _temp_name(path: str, tag: str) -> str:
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{tag}.part")


def _move_into_place(temp: str, final: str, tag: str) -> None:
    """Rename `temp` to `final`. A folder (N5, zarr) cannot be renamed over a non-empty folder,
    so an existing one is first moved aside and deleted only once the new one is in place
    (its other datasets were copied into `temp` by the writer)."""
    if not (os.path.isdir(temp) and os.path.lexists(final)):
        os.replace(temp, final)
        return
    old = _temp_name(final, tag + ".old")
    os.replace(final, old)
    try:
        os.replace(temp, final)
    except BaseException:
        os.replace(old, final)
        raise
    remove_path(old)


def _stream_blocks(source, plan: ExportPlan, writer, threads: int, progress, *, pool=None, cancel=None) -> None:
    """Compute and convert blocks on `threads` workers, at most 2*threads in flight (bounded
    memory), and write each as it arrives from this thread (h5py is not thread-safe)."""
    total = int(np.prod(plan.region_shape, dtype=np.int64))
    done = 0
    if progress:
        progress(0, total)

    def produce(start, stop):
        data = np.asarray(source.compute(start, stop))
        expected = tuple(e - s for s, e in zip(start, stop))
        if data.shape != expected:
            raise RuntimeError(f"The result source returned shape {data.shape} for the region {start}-{stop}, expected {expected}")
        return plan.reorder(plan.convert(data))

    def consume(start, stop, converted):
        nonlocal done
        writer.write(plan.output_start(start), converted)
        done += converted.size
        if progress:
            progress(done, total)

    blocks = iter_blocks(plan.region_start, plan.region_stop, source.block_shape)
    map_blocks(produce, blocks, consume, max(1, int(threads)), pool=pool, cancel=cancel)
