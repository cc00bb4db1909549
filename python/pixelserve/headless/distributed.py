"""`pixelserve --headless --distributed`: one run spread over the ranks of an MPI job
(`mpiexec -n N pixelserve ...` or `srun pixelserve ...`), as ilastik's distributed mode
(ilastik/applets/batchProcessing/batchProcessingApplet.py, lazyflow/distributed/TaskOrchestrator.py).

Every rank parses the command line and loads the project. Per lane, rank 0 plans the output
and creates it (export/shared_export.py); then rank 0 hands block numbers out on request
(block_dispatch.py) while computing blocks too, the other ranks compute and write the blocks
they get, and rank 0 commits the output once every block is written. Steps that every rank
takes run `together`: if one rank fails, all stop, and rank 0 alone reports it.

Unlike ilastik, rank 0 computes blocks as well (with 2 ranks, ilastik computes on one); any
number of ranks works, 1 too; the output keeps the chosen folder format (N5, zarr,
OME-Zarr); a killed run leaves its output under a temporary name, which `--resume` completes.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ..blocks import default_threads
from ..errors import UserError
from ..export import ResultKind
from ..export.shared_export import DEFAULT_BLOCK, SharedExport, commit_shared_export, plan_shared_export, write_block
from ..io.chunk_stores import is_http_url
from . import interrupts
from .block_dispatch import abort, hand_out_blocks, say, serve_blocks, wait_for_all
from .lanes import HeadlessJob, LaneSpec, open_lane

logger = logging.getLogger(__name__)

STOP_GRACE = 2.0  # seconds the other ranks leave rank 0 to report a stop signal and end the job

INSTALL_MPI = ("--distributed needs MPI for Python, which could not be loaded ({error}): install it with "
               "'pip install pixelserve[mpi]' where MPI is installed (a cluster), or 'pip install mpi4py mpich' "
               "on one machine, and start pixelserve under 'mpiexec -n N' or 'srun'")


def import_mpi():
    """mpi4py's MPI module (importing it starts MPI), or a UserError saying what to install."""
    try:
        from mpi4py import MPI  # optional: only distributed runs need it
    except (ImportError, RuntimeError) as error:  # RuntimeError: mpi4py found no MPI library
        raise UserError(INSTALL_MPI.format(error=error)) from None
    return MPI


def parse_block_roi(text: str | None) -> dict[str, int | None]:
    """ilastik's --distributed_block_roi: an int (the size along x, y and z) or a dict over
    'xyztc' of sizes (None: the whole axis); what it leaves out keeps ilastik's default."""
    if text is None:
        return dict(DEFAULT_BLOCK)
    example = "e.g. 128, or '{\"x\": 512, \"y\": 512, \"z\": 64}'"
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        try:
            value = json.loads(text)  # JSON's null
        except ValueError:
            raise UserError(f"--distributed_block_roi {text!r} is neither a number nor a dict of sizes: write it "
                            f"{example}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = dict.fromkeys("xyz", value)
    if not isinstance(value, dict):
        raise UserError(f"--distributed_block_roi {text!r} is neither a number nor a dict of sizes: write it {example}")
    bad_keys = [k for k in value if not (isinstance(k, str) and len(k) == 1 and k in "xyztc")]
    if bad_keys:
        raise UserError(f"--distributed_block_roi names {', '.join(map(repr, bad_keys))}: use only the axis keys "
                        f"x, y, z, t and c, {example}")
    for axis, size in value.items():
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise UserError(f"--distributed_block_roi gives {axis} the size {size!r}: give a positive whole number, "
                            "or None for the whole axis")
    return {**DEFAULT_BLOCK, **value}


class _Stopped(Exception):
    """Another rank failed and rank 0 reports it: this rank exits quietly with `exit_code`."""

    def __init__(self, exit_code: int):
        super().__init__(exit_code)
        self.exit_code = exit_code


class RankFailed(RuntimeError):
    """A rank other than 0 failed for a reason that is not bad input (rank 0 reports it)."""


class Ranks:
    """The ranks of the job, and the steps that they take together."""

    def __init__(self, mpi):
        self.mpi = mpi
        self.comm = mpi.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def together(self, action: Callable):
        """Run `action` on every rank. If it fails anywhere, every rank stops: rank 0 raises
        its own error or one naming the failed rank, the others raise _Stopped."""
        value, failure, own = None, None, None
        try:
            value = action()
        except Exception as error:
            failure, own = _describe(error), error
        wait_for_all(self.comm)
        self._stop_on(self.comm.allgather(failure), own)
        return value

    def from_root(self, action: Callable):
        """Run `action` on rank 0 and give every rank its result (or stop every rank)."""
        value, failure, own = None, None, None
        if self.rank == 0:
            try:
                value = action()
            except Exception as error:
                failure, own = _describe(error), error
        wait_for_all(self.comm)
        value, failure = self.comm.bcast((value, failure), root=0)
        self._stop_on([failure], own)
        return value

    def _stop_on(self, failures: list, own: Exception | None) -> None:
        """`failures`: one per rank (None: it succeeded); `own`: this rank's error."""
        failed = [(rank, failure) for rank, failure in enumerate(failures) if failure is not None]
        if not failed:
            return
        if self.rank != 0:
            raise _Stopped(failed[0][1][2])
        if own is not None:
            raise own  # rank 0's own error: the CLI reports it as for a single process
        rank, (message, user_error, _) = failed[0]
        raise (UserError if user_error else RankFailed)(f"rank {rank}: {message}")


def _describe(error: Exception) -> tuple[str, bool, int]:
    """(message, whether it is bad input, exit code) of an error, to send to rank 0."""
    if isinstance(error, UserError):
        return str(error), True, error.exit_code
    return f"{type(error).__name__}: {error}", False, 1


@dataclass(frozen=True)
class DistributedRun:
    """What every rank of a distributed run shares, besides the project."""

    job: HeadlessJob
    lanes: list[LaneSpec]
    block_roi: Mapping[str, int | None]
    resume: bool
    threads: int  # per rank


def run_distributed(prepare: Callable[[], tuple], options) -> int:
    """Run the headless call of `options` on every rank; returns this rank's exit code.
    `prepare()` parses the command line and loads the project on each rank: it returns
    (workflow, job, lanes, --threads or None)."""
    if options.server:
        raise UserError("--distributed and --server cannot be combined: the server computes every lane itself. "
                        "Fix: drop one of them")
    mpi = import_mpi()
    ranks = Ranks(mpi)
    if ranks.rank != 0 and not options.debug:
        # every rank opens the same files: their warnings would repeat once per rank
        logging.getLogger().setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
    try:
        workflow, job, lanes, threads = ranks.together(prepare)
        run = DistributedRun(job, lanes, parse_block_roi(options.distributed_block_roi), options.resume,
                             threads or _threads_per_rank(mpi))
        if ranks.rank == 0:
            say(f"running on {ranks.size} rank{'s' if ranks.size > 1 else ''} with {run.threads} "
                 f"thread{'s' if run.threads > 1 else ''} each")
            if workflow.table_names:
                logger.warning("--distributed writes images only: the tables (%s) are not written; run without "
                               "--distributed for them", ", ".join(workflow.table_names))
        for lane in lanes:
            _run_lane(ranks, workflow, run, lane)
    except _Stopped as stopped:
        return stopped.exit_code
    except interrupts.Interrupted as stop:  # a stop signal, which mpiexec and srun pass to every rank
        if ranks.rank:
            time.sleep(STOP_GRACE)   # rank 0 got it too, and reports it; else this rank does
        abort(ranks.comm, f"{'rank ' + str(ranks.rank) + ' ' if ranks.rank else ''}stopped by {stop}; an unfinished "
              "output stays under its temporary name (.NAME.distributed.part): rerun the same command with --resume "
              "to complete it", stop.exit_code)
    return 0


def _run_lane(ranks: Ranks, workflow, run: DistributedRun, lane: LaneSpec) -> None:
    opened = ranks.together(lambda: _open_block_local(workflow, run, lane))
    source = opened.result.image
    planned = ranks.from_root(lambda: plan_shared_export(
        source, run.job.settings, opened.placeholders, run.block_roi, resume=run.resume,
        identity=_identity(run.job, opened.placeholders["input_paths"])))
    if planned is None:
        return
    export, done = planned
    writer = ranks.together(export.open_writer)

    def compute(index: int) -> None:
        write_block(source, export, writer, index, run.threads)

    try:
        if ranks.rank == 0:
            if done:
                say(f"resuming {export.final_path}: {len(done)} of {export.block_count} blocks were written before")
            hand_out_blocks(ranks.mpi, export, done, compute, describe_failure=_failure_text, debug=run.job.debug)
        else:
            serve_blocks(ranks.mpi, export, compute, describe_failure=_failure_text, debug=run.job.debug)
    except Exception as error:  # a bug outside a block's computation: the other ranks would wait for this one
        abort(ranks.comm, f"rank {ranks.rank}: internal error: {type(error).__name__}: {error}", 1)
    for path in ranks.from_root(lambda: commit_shared_export(export, writer)):
        if ranks.rank == 0:
            print(f"Wrote {path}", flush=True)


def _open_block_local(workflow, run: DistributedRun, lane: LaneSpec):
    if run.job.table_only:
        raise UserError("--distributed exports images and --table_only asks for tables only. Fix: drop one of them")
    opened = open_lane(workflow, replace(run.job, block_local=True), lane, threads=run.threads)
    if opened.result.kind is not ResultKind.BLOCK_LOCAL:
        raise UserError(
            f"{workflow.title} computes this result over the whole image (objects, regions or tracks that cross "
            "block edges, or a table of the whole image), while --distributed computes every block on its own, "
            "as ilastik's distributed mode does, which would cut them at the block edges. Fix: run without "
            "--distributed (pixelserve uses every core of this machine), leave out the table's file option if "
            "it has one, or split the data into separate files and run each one apart")
    return opened


def _identity(job: HeadlessJob, input_paths: list[str]) -> dict:
    """What the run computes from, besides the export itself: a resumed run must match it."""
    def stamp(path: str) -> list:
        if is_http_url(path):   # a web address has no file to stamp
            return [path]
        status = os.stat(path)
        return [os.path.abspath(path), status.st_size, status.st_mtime_ns]

    return {
        "project": stamp(job.project), "inputs": [stamp(p) for p in input_paths],
        "export_source": job.export_source, "options": [list(o) for o in job.options],
        "structure_tensor_order": job.structure_tensor_order,
    }


def _failure_text(export: SharedExport, rank: int, index: int, message: str) -> str:
    return (f"rank {rank} failed on {export.describe_block(index)}: {message}. The unfinished output stays at "
            f"{export.temp_path}: fix the cause and rerun the same command with --resume to complete it")


def _threads_per_rank(mpi) -> int:
    """The cores of this node (or LAZYFLOW_THREADS) shared among the ranks on it."""
    local = mpi.COMM_WORLD.Split_type(mpi.COMM_TYPE_SHARED)
    try:
        return max(1, default_threads() // local.Get_size())
    finally:
        local.Free()
