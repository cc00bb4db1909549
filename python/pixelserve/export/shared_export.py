"""An export that several processes write at once (`pixelserve --headless --distributed`).

One process plans the output and creates it under a temporary name, with chunks that the
blocks cover exactly (ilastik's distributed N5 layout: a chunk is a block,
lazyflow/operators/ioOperators/opFormattedDataExport.py `run_distributed_export`). Then any
process computes and writes any block (`write_block`), each of its chunks whole, so that no
two processes ever write the same file. The planning process records every finished block
(`BlockLog`) and commits the output, renaming it into place, once every block is written: an
output under its final name is complete. What a killed run leaves under the temporary name
(the run's identity and the finished blocks) lets a later run resume it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from pixelserve.errors import UserError

from .chunk_assembly import remove_path
from .formats import writer_class
from .n5_writer import CompressedN5Writer
from .pipeline import OutputPlan, make_folders, move_into_place, plan_output, stream_blocks, temp_name
from .result import ResultSource
from .settings import ExportSettings
from .writer_base import ConcurrentWriter

logger = logging.getLogger(__name__)

#: ilastik's default distributed block (batchProcessingApplet.py `default_block_roi`): 256
#: along x, y and z, one time point, every channel (None: the whole axis).
DEFAULT_BLOCK: Mapping[str, int | None] = {"x": 256, "y": 256, "z": 256, "t": 1, "c": None}

TEMP_TAG = "distributed"  # the temporary output is .<name>.distributed.part: a rerun finds it
RUN_FILE = ".pixelserve-run.json"  # in the temporary output: what the run computes
DONE_FILE = ".pixelserve-done-blocks"  # in the temporary output: one finished block index per line


@dataclass(frozen=True)
class SharedExport:
    """An export planned by one process for several to write (picklable: it is sent to them).
    Blocks are numbered in C order over a grid anchored at the exported region's start."""

    output: OutputPlan
    temp_path: str
    chunks: tuple[int, ...]  # output axes
    block_shape: tuple[int, ...]  # source axes; whole chunks

    @property
    def final_path(self) -> str:
        return self.output.path

    @property
    def grid(self) -> tuple[int, ...]:
        plan = self.output.plan
        return tuple(math.ceil(n / b) for n, b in zip(plan.region_shape, self.block_shape))

    @property
    def block_count(self) -> int:
        return math.prod(self.grid)

    def block(self, index: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(start, stop) of block `index` in source coordinates."""
        plan = self.output.plan
        position = np.unravel_index(index, self.grid)
        start = tuple(int(r + p * b) for r, p, b in zip(plan.region_start, position, self.block_shape))
        stop = tuple(min(s + b, e) for s, b, e in zip(start, self.block_shape, plan.region_stop))
        return start, stop

    def describe_block(self, index: int) -> str:
        """e.g. 'block 17 of 64 (z 0-64, y 128-192, x 0-64)' (axes with more than one value)."""
        start, stop = self.block(index)
        plan = self.output.plan
        ranges = [f"{a} {s}-{e}" for a, s, e, n in zip(plan.source_axes, start, stop, plan.region_shape) if n > 1]
        return f"block {index} of {self.block_count} ({', '.join(ranges)})"

    def open_writer(self) -> ConcurrentWriter:
        """A writer for this process's blocks, bound to the output the planner created."""
        output, plan = self.output, self.output.plan
        return output.writer_cls(self.temp_path, self.final_path, plan.output_shape, plan.output_axes,
                                 plan.export_dtype, output.metadata, chunks=self.chunks, create=False)


def plan_shared_export(source: ResultSource, settings: ExportSettings, placeholders: dict,
                       block_roi: Mapping[str, int | None], *, identity: Mapping,
                       resume: bool) -> tuple[SharedExport, frozenset[int]] | None:
    """Plan the export of `source` in blocks of `block_roi` (axis key -> size, None for the whole
    axis) and create its temporary output; returns it with the blocks already written, or None
    when `resume` finds the output complete. `identity` (JSON values) says what else the run
    computes from (project, inputs): a run resumes only an output of the same identity."""
    writer_cls = writer_class(settings.output_format)
    if not issubclass(writer_cls, ConcurrentWriter):
        # ilastik's distributed export writes N5 whatever the format says
        logger.warning("--distributed writes one output from several processes, which %r cannot take: writing %r "
                       "instead, as ilastik does", settings.output_format, CompressedN5Writer.name)
        settings = replace(settings, output_format=CompressedN5Writer.name)
    output = plan_output(source, settings, placeholders)
    export = _with_blocks(output, block_roi)
    identity = _as_json({"run": identity, "export": _describe(export)})
    temp, final = export.temp_path, export.final_path
    if os.path.lexists(temp):
        recorded = _read_run_file(temp)
        done = BlockLog(temp).read()
        if recorded is None:  # killed while being created: nothing in it counts
            remove_path(temp)
        elif not resume:
            raise UserError(f"{temp} holds an unfinished distributed run of this output ({len(done)} of "
                            f"{export.block_count} blocks written): add --resume to complete it, or delete it to "
                            "start over")
        else:
            _check_same_run(temp, recorded, identity)
            return export, frozenset(done)
    elif resume and _holds_dataset(final, output.metadata.internal_path):
        logger.warning("%s is complete (written by an earlier run): --resume keeps it; run without --resume to "
                       "compute it again", final)
        return None
    _create(export, identity)
    return export, frozenset()


def write_block(source: ResultSource, export: SharedExport, writer: ConcurrentWriter, index: int, threads: int) -> None:
    """Compute block `index` on `threads` threads and store its chunks."""
    region = export.block(index)
    stream_blocks(source, export.output.plan, writer, threads, None, region=region,
                  block_shape=tiles_for_threads(source.axes, source.block_shape, region, threads))


def tiles_for_threads(axes: str, block_shape, region, threads: int, smallest: int = 64) -> tuple[int, ...]:
    """The source's preferred block, halved along its longest spatial side until the region
    holds a tile for each thread (a distributed block is often smaller than that block, which
    would leave all threads but one idle), while tiles stay at least `smallest` along it."""
    start, stop = region
    tile = [min(int(b), int(e) - int(s)) for b, s, e in zip(block_shape, start, stop)]

    def tiles() -> int:
        return math.prod(-(-(int(e) - int(s)) // t) for t, s, e in zip(tile, start, stop))

    while tiles() < threads:
        sides = [i for i, axis in enumerate(axes) if axis in "zyx" and tile[i] >= 2 * smallest]
        if not sides:
            break
        longest = max(sides, key=lambda i: tile[i])
        tile[longest] = -(-tile[longest] // 2)
    return tuple(tile)


def commit_shared_export(export: SharedExport, writer: ConcurrentWriter) -> list[str]:
    """Once every block is written: complete the output (metadata, pyramid), drop the run's
    records and rename it into place; returns the written path."""
    writer.finish()
    # Renamed first: should that fail, the records keep the finished output resumable.
    move_into_place(export.temp_path, export.final_path, TEMP_TAG)
    for name in (RUN_FILE, DONE_FILE):
        remove_path(os.path.join(export.final_path, name))
    return [export.final_path]


class BlockLog:
    """The finished blocks of a temporary output, one index per line, appended by the one
    process that hands blocks out. A line is written only after its block's chunks are
    stored, so a killed run's log undercounts at worst (a block is then computed again)."""

    def __init__(self, temp_path: str):
        self.path = os.path.join(temp_path, DONE_FILE)
        self._file = None

    def read(self) -> set[int]:
        if not os.path.isfile(self.path):
            return set()
        with open(self.path, encoding="ascii") as file:
            lines = file.read().split("\n")
        return {int(line) for line in lines[:-1] if line.isdigit()}  # the last one is unfinished or empty

    def open(self) -> None:
        self._file = open(self.path, "a", encoding="ascii")
        if self._file.tell() > 0 and not _ends_with_newline(self.path):
            self._file.write("\n")  # end the line a killed run left unfinished

    def record(self, index: int) -> None:
        self._file.write(f"{index}\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _with_blocks(output: OutputPlan, block_roi: Mapping[str, int | None]) -> SharedExport:
    """Chunks and blocks: the block is clamped to the output (as ilastik clamps it), the
    format chooses its chunks for it, and the block is widened to whole chunks."""
    plan = output.plan
    sizes = dict(zip(plan.output_axes, plan.output_shape))
    wanted = [min(block_roi.get(a) or n, n) for a, n in sizes.items()]
    chunks = output.writer_cls.shared_chunks(plan.output_shape, plan.output_axes, plan.export_dtype, wanted)
    widened = {a: min(math.ceil(w / c) * c, n) for (a, n), w, c in zip(sizes.items(), wanted, chunks)}
    block_shape = tuple(widened.get(a, 1) for a in plan.source_axes)
    return SharedExport(output, temp_name(output.path, TEMP_TAG), tuple(chunks), block_shape)


def _describe(export: SharedExport) -> dict:
    output, plan = export.output, export.output.plan
    return {
        "format": output.writer_cls.name, "internal_path": output.metadata.internal_path,
        "source_axes": plan.source_axes, "source_shape": plan.source_shape,
        "region": [plan.region_start, plan.region_stop], "output_axes": plan.output_axes,
        "dtype": plan.export_dtype.name, "normalization": plan.normalization,
        "chunks": export.chunks, "block_shape": export.block_shape,
    }


def _as_json(value) -> dict:
    """`value` as it reads back from JSON (tuples become lists), for comparison."""
    return json.loads(json.dumps(value))


def _create(export: SharedExport, identity: dict) -> None:
    output, plan = export.output, export.output.plan
    created = make_folders(os.path.dirname(export.final_path))
    try:
        output.writer_cls(export.temp_path, export.final_path, plan.output_shape, plan.output_axes, plan.export_dtype,
                          output.metadata, chunks=export.chunks, create=True)
        partial = os.path.join(export.temp_path, RUN_FILE + ".partial")
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(identity, file, indent=1)
        os.replace(partial, os.path.join(export.temp_path, RUN_FILE))
    except BaseException:
        remove_path(export.temp_path)
        for folder in created:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        raise


def _read_run_file(temp: str) -> dict | None:
    try:
        with open(os.path.join(temp, RUN_FILE), encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _check_same_run(temp: str, recorded: dict, identity: dict) -> None:
    for part in ("run", "export"):
        old, new = recorded.get(part, {}), identity[part]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                raise UserError(f"--resume: the unfinished output {temp} was started with another {key} "
                                f"({old.get(key)!r}, now {new.get(key)!r}): rerun with the settings and files it was "
                                "started with, or delete it to start over")


def _holds_dataset(path: str, internal_path: str) -> bool:
    inner = internal_path.replace("\\", "/").strip("/")
    return os.path.isdir(os.path.join(path, *inner.split("/")) if inner else path)


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
