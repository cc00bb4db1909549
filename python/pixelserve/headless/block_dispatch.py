"""Handing the blocks of a distributed export out to the ranks of an MPI job, one at a time
as they ask (dynamic balancing, as ilastik's lazyflow/distributed/TaskOrchestrator.py), with
rank 0 computing blocks too, in a thread of its own.

The protocol: every other rank keeps PREFETCH requests open with rank 0, so that its next
block is on its way while it computes one. A request (tag ASK) carries the number of the
block the rank has just written, or None at the start. Rank 0 records the block as finished
and answers (tag GIVE) with another block number, or None when none is left; a rank stops
once each of its requests got None. A rank that fails sends its block and reason (tag
FAILED) instead; rank 0 prints which rank failed on which block and aborts the job
(MPI_Abort ends every rank), leaving the output unfinished for --resume.

Waiting polls with short sleeps: MPICH's blocking receive spins on a core, which on a node
with more ranks than cores would take that core from a rank that computes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import NoReturn

from ..errors import UserError
from ..export.shared_export import BlockLog, SharedExport
from . import interrupts

ASK, FAILED, GIVE = 11, 12, 13  # message tags
PREFETCH = 2  # open requests per rank: one block computing, one on its way
# Seconds between polls, growing while nothing arrives: a rank asks for its next block while
# it still computes one, so an answer may take a while without keeping it waiting.
PAUSE_MIN, PAUSE_MAX = 0.0002, 0.02
REPORT_INTERVAL = 10.0  # seconds between progress lines when blocks finish, ...
QUIET_INTERVAL = 60.0  # ... and when none has finished since the last line
ABORT_GRACE = 60.0  # seconds a failed rank waits for rank 0 to end the job before ending it itself

#: (export, rank, block index, reason) -> the line that reports a failed block
FailureText = Callable[[SharedExport, int, int, str], str]


def hand_out_blocks(mpi, export: SharedExport, done: frozenset[int], compute: Callable[[int], None], *,
                    describe_failure: FailureText, debug: bool = False) -> None:
    """Rank 0: compute blocks in a thread while handing the others out on request, until
    every block not in `done` is written; logs progress and, at the end, what handing out
    cost."""
    comm = mpi.COMM_WORLD
    pending = deque(index for index in range(export.block_count) if index not in done)
    log = BlockLog(export.temp_path)
    progress = BlockProgress(export.block_count, len(done), comm.Get_size())
    lock = threading.Lock()

    def take() -> int | None:
        with lock:
            return pending.popleft() if pending else None

    def finished(index: int) -> None:
        with lock:
            log.record(index)
            progress.blocks_done += 1

    own = _OwnBlocks(take, compute, finished, debug)
    log.open()
    started_cpu = time.thread_time()
    try:
        own.start()
        stops_due = PREFETCH * (comm.Get_size() - 1)
        status = mpi.Status()
        pause = PAUSE_MIN
        while stops_due or own.is_alive():
            interrupts.check()   # scancel, a time limit, Ctrl-C: mpiexec passes them to every rank
            if own.failure is not None:
                index, reason, exit_code = own.failure
                abort(comm, describe_failure(export, 0, index, reason), exit_code)
            if comm.Iprobe(source=mpi.ANY_SOURCE, tag=mpi.ANY_TAG, status=status):
                rank, tag = status.Get_source(), status.Get_tag()
                message = comm.recv(source=rank, tag=tag)
                if tag == FAILED:
                    index, reason, exit_code = message
                    abort(comm, describe_failure(export, rank, index, reason), exit_code)
                if message is not None:
                    finished(message)
                index = take()
                comm.send(index, dest=rank, tag=GIVE)
                stops_due -= index is None
                pause = PAUSE_MIN
            else:
                time.sleep(pause)
                pause = min(2 * pause, PAUSE_MAX)
            progress.report()
        own.join()
        if own.failure is not None:
            index, reason, exit_code = own.failure
            abort(comm, describe_failure(export, 0, index, reason), exit_code)
    finally:
        log.close()
    progress.finish(time.thread_time() - started_cpu)


def serve_blocks(mpi, export: SharedExport, compute: Callable[[int], None], *, describe_failure: FailureText,
                 debug: bool = False) -> None:
    """A rank other than 0: compute the blocks rank 0 gives until it has none left."""
    comm = mpi.COMM_WORLD
    for _ in range(PREFETCH):
        comm.send(None, dest=0, tag=ASK)
    open_requests = PREFETCH
    status = mpi.Status()
    while open_requests:
        interrupts.check()
        index = _receive(comm, status, GIVE)
        if index is None:
            open_requests -= 1
            continue
        try:
            compute(index)
        except Exception as error:
            if debug:
                traceback.print_exc()
            reason, exit_code = _reason(error)
            comm.send((index, reason, exit_code), dest=0, tag=FAILED)
            _wait_forabort(comm, describe_failure(export, comm.Get_rank(), index, reason), exit_code)
        comm.send(index, dest=0, tag=ASK)


class BlockProgress:
    """Rank 0's log lines: blocks done of the total and the time left, every REPORT_INTERVAL
    seconds (QUIET_INTERVAL while no block finishes), and a summary at the end."""

    def __init__(self, total: int, done_before: int, ranks: int):
        self.total, self.done_before, self.ranks = total, done_before, ranks
        self.blocks_done = self.reported = done_before
        self.started = self.last_report = time.monotonic()

    def report(self) -> None:
        now = time.monotonic()
        waited = now - self.last_report
        if waited < REPORT_INTERVAL or (self.blocks_done == self.reported and waited < QUIET_INTERVAL):
            return
        self.last_report, self.reported = now, self.blocks_done
        elapsed = now - self.started
        line = f"blocks {self.blocks_done}/{self.total} ({100 * self.blocks_done / self.total:.1f} %), " \
               f"{_duration(elapsed)} elapsed"
        new = self.blocks_done - self.done_before
        if new > 0:
            line += f", about {_duration(elapsed / new * (self.total - self.blocks_done))} left"
        say(line)

    def finish(self, hand_out_cpu: float) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        computed = self.blocks_done - self.done_before
        say(f"blocks {self.blocks_done}/{self.total} done: {computed} computed in {elapsed:.1f} s on {self.ranks} "
             f"rank{'s' if self.ranks > 1 else ''}; handing them out took rank 0 {hand_out_cpu:.3f} s of CPU "
             f"({100 * hand_out_cpu / elapsed:.2f} % of the run)")


class _OwnBlocks(threading.Thread):
    """Rank 0's share of the blocks, computed beside the hand-out loop."""

    def __init__(self, take, compute, finished, debug: bool):
        super().__init__(name="pixelserve rank 0 blocks", daemon=True)
        self.take, self.compute, self.finished, self.debug = take, compute, finished, debug
        self.failure: tuple[int, str, int] | None = None

    def run(self) -> None:
        index = None
        try:
            while (index := self.take()) is not None:
                self.compute(index)
                self.finished(index)
        except Exception as error:
            if self.debug:
                traceback.print_exc()
            self.failure = (index, *_reason(error))


def wait_for_all(comm) -> None:
    """Return once every rank has called this, polling with short sleeps: a collective call
    (bcast, allgather) spins on a core while it waits, which would take it from rank 0
    when it plans, creates or completes the output on a node with more ranks than cores."""
    _poll(comm.Ibarrier().Test)


def _receive(comm, status, tag: int):
    _poll(lambda: comm.Iprobe(source=0, tag=tag, status=status))
    return comm.recv(source=0, tag=tag)


def _poll(arrived: Callable[[], bool]) -> None:
    """Wait until `arrived()`, with sleeps that grow while nothing does; a stop signal ends it."""
    pause = PAUSE_MIN
    while not arrived():
        interrupts.check()
        time.sleep(pause)
        pause = min(2 * pause, PAUSE_MAX)


def _reason(error: Exception) -> tuple[str, int]:
    """(the reason a failure report gives, the exit code)."""
    if isinstance(error, UserError):
        return str(error).rstrip("."), error.exit_code
    return f"internal error: {type(error).__name__}: {error}", 1


def abort(comm, line: str, exit_code: int) -> NoReturn:
    """Report `line` and end every rank of the job with `exit_code`."""
    if line:
        print(f"pixelserve: error: {line}", file=sys.stderr, flush=True)
    comm.Abort(exit_code)
    os._exit(exit_code)  # MPI_Abort may return before the job manager has ended this process


def _wait_forabort(comm, line: str, exit_code: int) -> None:
    """Rank 0 reports the failure and ends the job; should it not (it is stuck), do it here."""
    time.sleep(ABORT_GRACE)
    abort(comm, line, exit_code)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def say(line: str) -> None:
    """A line of the run's log on stderr."""
    print(f"pixelserve: {line}", file=sys.stderr, flush=True)
