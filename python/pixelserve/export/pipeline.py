"""The one export pipeline, in phases: plan the output (`plan_output`: conversions, file
names, checks), open a writer on a temporary name, compute and write blocks on a thread pool
(`stream_blocks`), and commit (`move_into_place`), so that a failed or interrupted export
leaves nothing behind. `export_result` runs them in one process; `shared_export` runs them
with several processes writing one output."""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from pixelserve.blocks import iter_blocks, map_blocks
from pixelserve.errors import UserError

from .chunk_assembly import remove_path
from .conversion import ExportPlan
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
from .result import ResultSource
from .settings import ExportSettings
from .writer_base import ExportMetadata, FormatWriter

logger = logging.getLogger(__name__)


def _plan(axes, shape, dtype, settings, default_axis_order, source_drange=None) -> tuple[ExportSettings, ExportPlan]:
    settings = settings.validated()
    plan = ExportPlan.create(axes, shape, dtype, settings, default_axis_order=default_axis_order, source_drange=source_drange)
    return settings, plan


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
                 default_axis_order: str | None = None) -> tuple[list[str], str]:
    """(the files, the dataset inside them) that export_result would write; computes nothing."""
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings,
                           default_axis_order or source.default_axis_order, source.drange)
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


def make_folders(folder: str) -> list[str]:
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
    default_axis_order: str | None = None,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
    resolution: Mapping[str, float] | None = None,
    axis_units: Mapping[str, str] | None = None,
    before_writing: Callable[[list[str]], None] | None = None,
    pool=None,
    cancel=None,
) -> list[str]:
    """Export `source` as `settings` say; returns the written file paths.

    `placeholders` fills the output name ({dataset_dir}, {nickname}, {result_type}, ...);
    its 'input_paths' entry lists files the export must not overwrite. `resolution` (axis ->
    pixel size) and `axis_units` (axis -> unit) go into the file metadata where the format
    has a place for them (default: the source's); `default_axis_order` overrides the
    source's. `progress(done, total)` counts array elements of the subregion.
    `before_writing(temp_paths)` hears the temporary file names before any exists, so that
    a supervising process can delete them should this one be killed. `pool` and `cancel` are
    pixelserve.blocks.map_blocks's (a shared executor, a stop event).
    """
    target = plan_output(source, settings, placeholders, default_axis_order=default_axis_order,
                         resolution=resolution, axis_units=axis_units)
    writer_cls, plan, path, paths = target.writer_cls, target.plan, target.path, target.paths
    remote = writer_cls.remote
    tag = uuid.uuid4().hex[:8]
    temp_path = path if remote else temp_name(path, tag)
    # what writer_cls.output_paths(temp_path) gives; a remote writer has none to rename
    temp_paths = [] if remote else [temp_name(final, tag) for final in paths]
    if before_writing is not None:
        before_writing(temp_paths)  # before any folder too: it may refuse the paths
    created_folders = []
    for folder in [] if remote else dict.fromkeys(os.path.dirname(final) for final in paths):
        created_folders += make_folders(folder)
    writer = None
    try:
        writer = writer_cls(temp_path, path, plan.output_shape, plan.output_axes, plan.export_dtype, target.metadata)
        stream_blocks(source, plan, writer, threads, _counting_finish(progress, writer, plan), pool=pool,
                      cancel=cancel)
        writer.finish()
        writer = None
        for temp, final in zip(temp_paths, paths):
            move_into_place(temp, final, tag)
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
        internal = target.metadata.internal_path
        logger.info("Exported %s", paths[0] if not internal else f"{paths[0]}/{internal}")
    return paths


@dataclass(frozen=True)
class OutputPlan:
    """What an export writes, decided before anything is computed (picklable)."""

    settings: ExportSettings  # validated
    plan: ExportPlan
    writer_cls: type[FormatWriter]
    path: str  # the formatted output name (a URL for remote writers)
    paths: list[str]  # the files it becomes (one per slice for sequences)
    metadata: ExportMetadata


def plan_output(source: ResultSource, settings: ExportSettings, placeholders: dict, *,
                default_axis_order: str | None = None, resolution: Mapping[str, float] | None = None,
                axis_units: Mapping[str, str] | None = None) -> OutputPlan:
    """The plan phase of export_result (same arguments): conversions, writer, file names and
    metadata, with every check that needs no pixel."""
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings,
                           default_axis_order or source.default_axis_order, source.drange)
    if resolution is None:
        resolution = {axis: size for axis, (size, _) in source.resolution.items()}
        axis_units = {axis: unit for axis, (_, unit) in source.resolution.items() if unit}
    writer_cls = writer_class(settings.output_format)
    check_fits(writer_cls, plan.output_shape, plan.output_axes, plan.export_dtype)
    path, internal, paths = _planned_paths(settings, writer_cls, plan, placeholders)
    remote = writer_cls.remote
    for final in [] if remote else paths:
        refuse_input_as_output(final, internal, placeholders.get("input_paths"))
        if os.path.isdir(final) and not writer_cls.folder:
            raise UserError(f"The output path {final} is a folder: choose a file name with --output_filename_format")
    metadata = _metadata(source, plan, internal, resolution, axis_units)
    return OutputPlan(settings, plan, writer_cls, path, paths, metadata)


def describe_export(source: ResultSource, settings: ExportSettings, *,
                    default_axis_order: str | None = None) -> tuple[tuple[int, ...], np.dtype, str, ExportMetadata]:
    """What export_to_array would return, without computing: (shape, dtype, axes, metadata)."""
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings,
                           default_axis_order or source.default_axis_order, source.drange)
    return tuple(plan.output_shape), np.dtype(plan.export_dtype), plan.output_axes, _metadata(source, plan, "", None, None)


def export_to_array(source: ResultSource, settings: ExportSettings, *, default_axis_order: str | None = None,
                    threads: int = 1,
                    progress: Callable[[int, int], None] | None = None, pool=None,
                    cancel=None) -> tuple[np.ndarray, str, ExportMetadata]:
    """The export of `source` in memory instead of a file (server, Python API): the same plan
    and conversions, block by block. Returns (array, its axes, what a file would record).
    `pool` and `cancel` are pixelserve.blocks.map_blocks's (a shared executor, a stop event)."""
    settings, plan = _plan(source.axes, source.shape, source.dtype, settings,
                           default_axis_order or source.default_axis_order, source.drange)
    result = np.empty(plan.output_shape, plan.export_dtype)

    class Target:
        @staticmethod
        def write(start, block):
            result[tuple(slice(s, s + n) for s, n in zip(start, block.shape))] = block

    stream_blocks(source, plan, Target, threads, progress, pool=pool, cancel=cancel)
    return result, plan.output_axes, _metadata(source, plan, "", None, None)


def _metadata(source, plan: ExportPlan, internal: str, resolution, axis_units) -> ExportMetadata:
    origin = {a: int(plan.region_start[plan.source_axes.index(a)]) for a in plan.output_axes if a in plan.source_axes}
    return ExportMetadata(
        internal_path=internal, drange=plan.drange, display_mode=source.display_mode,
        resolution=dict(resolution or {}), axis_units=dict(axis_units or {}), origin=origin,
        channel_names=_exported_channels(plan, source.channel_names),
        channel_colors=_exported_channels(plan, source.channel_colors),
        label_colors=tuple(tuple(int(v) for v in rgb) for rgb in source.label_colors),
        input_scales=source.input_scales,
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


def temp_name(path: str, tag: str) -> str:
    """Where the output `path` is written until it is complete: hidden, in the target folder
    so that the final rename stays on one file system."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{tag}.part")


def move_into_place(temp: str, final: str, tag: str) -> None:
    """Rename `temp` to `final`. A folder (N5, zarr) cannot be renamed over a non-empty folder,
    so an existing one is first moved aside and deleted only once the new one is in place
    (its other datasets were copied into `temp` by the writer)."""
    if not (os.path.isdir(temp) and os.path.lexists(final)):
        os.replace(temp, final)
        return
    old = temp_name(final, tag + ".old")
    os.replace(final, old)
    try:
        os.replace(temp, final)
    except BaseException:
        os.replace(old, final)
        raise
    remove_path(old)


def _counting_finish(progress, writer, plan: ExportPlan):
    """The blocks' progress callback, with the writer's own work at `finish` (a pyramid's
    smaller levels) added to the total and reported through writer.finish_progress."""
    extra = writer.finishing_elements()
    if progress is None or not extra:
        return progress
    blocks = int(np.prod(plan.region_shape, dtype=np.int64))
    finished = 0

    def finishing(count: int) -> None:
        nonlocal finished
        finished += count
        progress(blocks + finished, blocks + extra)

    writer.finish_progress = finishing
    return lambda done, total: progress(done, total + extra)


def stream_blocks(source, plan: ExportPlan, writer, threads: int, progress, *, region=None, pool=None,
                  cancel=None, block_shape=None) -> None:
    """Compute and convert blocks on `threads` workers, at most 2*threads in flight (bounded
    memory), and write each as it arrives from this thread (h5py is not thread-safe).
    `region` (start, stop in source coordinates) limits this to a part of the plan's region;
    `block_shape` replaces the source's preferred block."""
    start, stop = region or (plan.region_start, plan.region_stop)
    total = int(np.prod([e - s for s, e in zip(start, stop)], dtype=np.int64))
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

    blocks = iter_blocks(start, stop, block_shape or source.block_shape)
    map_blocks(produce, blocks, consume, max(1, int(threads)), pool=pool, cancel=cancel)
