"""The workers of a batch: this process (in a thread, with the project it has loaded) and
`workers - 1` worker processes, each exporting the lanes it is sent one at a time with its
share of the threads.

The worker processes are forked from this process before its worker thread starts, so they
start with the project loaded (process_start.fork_context). Where that is not possible they
come from a fork server and load the project themselves, which takes a while (a fraction of
a second, 1-2 s where workers are spawned): this process gets going on the first file
meanwhile, and a short batch may be done before any worker is ready.

Each worker talks to the main thread over its
own Pipe. A worker announces an export's temporary files before creating them, and
Connection.send returns only once the message is in the kernel's buffer, so the main thread
knows every temporary file a worker may leave, whatever kills it, and deletes those after
the worker died.

Stopping: a worker process notes SIGTERM and Ctrl-C and stops after its running block
(interrupts.py), through the export pipeline, which deletes its temporary files itself; the
main thread sends SIGTERM, waits, then SIGKILLs what is left and deletes the files announced
by workers that did not finish. The worker thread is stopped through an Event that its
progress callback checks after every block.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
from typing import Protocol

from ..export import ResultKind
from ..workflows import load_workflow
from . import interrupts
from .batch_plan import BatchPlan
from .lanes import HeadlessJob, LaneOutcome, LaneSpec, open_lane, process_lane
from .messages import configure_messages
from .process_start import (
    fork_context,
    fork_supported,
    stop_idle_threads,
    stop_signals_blocked,
    unblock_stop_signals,
    worker_context,
)

logger = logging.getLogger(__name__)

# Seconds between a worker's progress messages: often enough for a smooth bar, rare enough
# to cost nothing next to a block.
PROGRESS_INTERVAL = 0.2
# Seconds a worker process gets to finish its running blocks and delete its files after SIGTERM.
STOP_TIMEOUT = 10.0
# Seconds between the main thread's looks for a stop signal while it waits for the workers.
SIGNAL_CHECK_INTERVAL = 0.2


class BatchEvents(Protocol):
    """Where the pool reports what happens to each lane (by its index)."""

    def progress(self, index: int, done: int, total: int) -> None: ...

    def finished(self, index: int, outcome: LaneOutcome) -> None: ...

    def failed(self, index: int, reason: str, user_error: bool) -> None: ...


def describe_failure(error: BaseException) -> tuple[str, bool]:
    """(the reason a summary shows, whether it is the user's input's fault)."""
    from ..errors import UserError

    if isinstance(error, UserError):
        return str(error), True
    return f"internal error: {type(error).__name__}: {error}", False


# -- the worker side (a process, or a thread of this one) --------------------------------------

class _ParentGone(BaseException):
    """The pipe to the main thread broke. A BaseException, like KeyboardInterrupt, so that it
    passes the per-lane error handling and the export deletes its temporary files."""


def _send(conn: Connection, message: tuple) -> None:
    try:
        conn.send(message)
    except OSError:
        raise _ParentGone from None


def _process_main(conn: Connection, job: HeadlessJob, threads: int, workflow=None,
                  inherited: tuple[Connection, ...] = ()) -> None:
    """A worker process. `workflow`: the project, when forked from the main process with it
    loaded; `inherited`: the main process's ends of this worker's pipe and of the other
    workers' pipes, which a fork copied (closed at once: else a worker would not see EOF
    when the main process dies)."""
    interrupts.note_signals()  # acted on after the running block (_export_one)
    try:
        for other in inherited:
            other.close()
        unblock_stop_signals()
        configure_messages(job.debug)
        _serve(conn, job, threads, workflow=workflow, stop=None)
    except KeyboardInterrupt:  # outside _serve's own handling: nothing to clean up
        pass


def _serve(conn: Connection, job: HeadlessJob, threads: int, *, workflow,
           stop: threading.Event | None) -> None:
    """Export the lanes the main thread sends until it sends None. `workflow`: the project
    loaded already (the worker thread), else loaded here. `stop`: set to interrupt."""
    try:
        if workflow is None:
            try:
                workflow = load_workflow(job.project, structure_tensor_order=job.structure_tensor_order)
            except Exception as error:
                _send(conn, ("init_failed", describe_failure(error)[0]))
                return
        _send(conn, ("ready",))
        while True:
            task = conn.recv()
            if task is None or (stop is not None and stop.is_set()):
                return
            index, lane = task
            _send(conn, _export_one(conn, workflow, job, index, lane, threads, stop))
    except (KeyboardInterrupt, _ParentGone, EOFError, OSError):
        # Asked to stop, or the main thread is gone: an interrupted export has already
        # deleted its temporary files on the way out.
        pass
    finally:
        conn.close()  # the main thread sees EOF: this worker is done


def _export_one(conn: Connection, workflow, job: HeadlessJob, index: int, lane: LaneSpec,
                threads: int, stop: threading.Event | None) -> tuple:
    last_report = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last_report
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt  # a thread gets no signals: this is its Ctrl-C
        interrupts.check()  # a worker process's own signal
        now = time.monotonic()
        if done >= total or now - last_report >= PROGRESS_INTERVAL:
            last_report = now
            _send(conn, ("progress", index, done, total))

    try:
        outcome = process_lane(workflow, job, lane, threads=threads, progress=progress,
                               before_writing=lambda paths: _send(conn, ("writing", index, paths)))
        return ("done", index, outcome)
    except Exception as error:
        if job.debug:
            traceback.print_exc()
        return ("failed", index, *describe_failure(error))


# -- the main thread ---------------------------------------------------------------------------

@dataclass
class _Worker:
    conn: Connection
    process: multiprocessing.process.BaseProcess | None = None
    thread: threading.Thread | None = None
    stop: threading.Event | None = None
    ready: bool = False
    start_error: str | None = None
    lane: int | None = None
    temp_paths: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"worker process {self.process.pid}" if self.process else "the main process"

    def waitables(self) -> list:
        return [self.conn] + ([self.process.sentinel] if self.process else [])


def run_in_workers(workflow, job: HeadlessJob, lanes: list[tuple[int, LaneSpec]],
                   plan: BatchPlan, events: BatchEvents) -> None:
    """Export `lanes` ((index, lane), biggest first) on `plan.workers` workers, reporting to
    `events`. Returns when every lane finished or failed; raises KeyboardInterrupt (after
    stopping every worker and deleting their temporary files) when interrupted."""
    queue = deque(lanes)
    labels = {index: lane.label for index, lane in lanes}
    threads = plan.threads_per_worker
    workers: list[_Worker] = []
    context = None  # the fork server's, once needed
    try:
        may_start = _fork_workers(workflow, job, threads, min(plan.workers, len(queue)) - 1,
                                  queue, workers)
        workers.append(_start_thread(workflow, job, threads))
        if queue:  # at once: a worker process may take a while to start
            _dispatch(workers[-1], queue)
        while queue or any(worker.lane is not None for worker in workers):
            busy = sum(worker.lane is not None for worker in workers)
            while may_start and len(workers) < min(plan.workers, len(queue) + busy):
                context = context or worker_context()
                may_start = _start_process(context, job, threads, workers)
            if not workers:
                raise RuntimeError("every worker stopped with files left to do")
            ready = set(wait([w for worker in workers for w in worker.waitables()], SIGNAL_CHECK_INTERVAL))
            interrupts.check()
            for worker in list(workers):
                if not ready.intersection(worker.waitables()):
                    continue
                _receive(worker, events, labels)
                if worker.conn.closed or (worker.process and worker.process.sentinel in ready):
                    start_error = _bury(worker, events)
                    workers.remove(worker)
                    if start_error:
                        # Starting more would fail alike; the workers running carry on.
                        logger.warning("A worker process could not start (%s): the remaining "
                                       "files run on fewer workers.", start_error)
                        may_start = False
            for worker in workers:
                if worker.ready and worker.lane is None and queue:
                    _dispatch(worker, queue)
    finally:
        _stop_all(workers)


def _fork_workers(workflow, job: HeadlessJob, threads: int, count: int, queue: deque,
                  workers: list[_Worker]) -> bool:
    """Fork `count` worker processes from this process, with the project loaded, if it can
    (process_start.fork_context). False if starting processes failed: start no more."""
    if count <= 0 or not fork_supported():
        return True
    _load_kernels(workflow, job, queue[0][1])
    stop_idle_threads()
    context = fork_context()
    if context is None:
        logger.debug("Not forking workers from this process: other threads are alive (%s)",
                     ", ".join(thread.name for thread in threading.enumerate()))
        return True
    for stream in (sys.stdout, sys.stderr):  # else a child may write out their buffers again
        stream.flush()
    for _ in range(count):
        if not _start_process(context, job, threads, workers, workflow=workflow):
            return False
    return True


def _load_kernels(workflow, job: HeadlessJob, lane: LaneSpec) -> None:
    """Compute one pixel of `lane` here: numba loads the kernels of the project's features
    and classifier on their first call in a process (0.05-0.1 s), once here instead of in
    every forked worker. In this thread: no thread pool is started."""
    try:
        source = open_lane(workflow, job, lane).result.image
        if source is not None and source.kind is ResultKind.BLOCK_LOCAL:
            source.compute((0,) * len(source.shape), (1,) * len(source.shape))
    except Exception:  # the export of that lane reports it
        logger.debug("Computing a pixel of %s before forking failed", lane.label, exc_info=True)


def _start_thread(workflow, job: HeadlessJob, threads: int) -> _Worker:
    main_end, worker_end = Pipe(duplex=True)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(worker_end, job, threads),
                              kwargs={"workflow": workflow, "stop": stop},
                              name="pixelserve-worker", daemon=True)
    thread.start()
    return _Worker(main_end, thread=thread, stop=stop)


def _start_process(context, job: HeadlessJob, threads: int, workers: list[_Worker], *,
                   workflow=None) -> bool:
    """Start a worker process: forked with `workflow` (the 'fork' context), else from
    `context` without. False if it failed (no memory or processes left): the workers
    running carry on."""
    main_end, worker_end = context.Pipe(duplex=True)
    forked = workflow is not None
    process = context.Process(target=_process_main, args=(worker_end, job, threads),
                              kwargs={"workflow": workflow, "inherited": (
                                  main_end, *(w.conn for w in workers))} if forked else {},
                              name="pixelserve-worker", daemon=True)
    try:
        with stop_signals_blocked(), warnings.catch_warnings() if forked else nullcontext():
            if forked:
                # Python 3.12+ warns about forking with any native thread alive; the only
                # ones here are OpenBLAS's, which stop around a fork (process_start.py).
                warnings.simplefilter("ignore", DeprecationWarning)
            process.start()
            workers.append(_Worker(main_end, process=process))
    except OSError as error:
        main_end.close()
        logger.warning("Could not start a worker process (%s): the remaining files run on "
                       "fewer workers.", error)
        return False
    finally:
        worker_end.close()  # else this process never sees EOF when the worker dies
    logger.debug("Started worker process %d with %d thread(s) (%s)", process.pid, threads,
                 context.get_start_method())
    return True


def _dispatch(worker: _Worker, queue: deque) -> None:
    index, lane = queue.popleft()
    try:
        worker.conn.send((index, lane))
    except OSError:  # it died since it said it was ready: the next wait() shows its end
        queue.appendleft((index, lane))
        return
    worker.lane = index


def _receive(worker: _Worker, events: BatchEvents, labels: dict[int, str] | None = None) -> None:
    """Handle every message the worker has sent so far."""
    try:
        while worker.conn.poll():
            message = worker.conn.recv()
            kind = message[0]
            if kind == "ready":
                worker.ready = True
            elif kind == "init_failed":
                worker.start_error = message[1]
            elif kind == "progress":
                events.progress(*message[1:])
            elif kind == "writing":
                worker.temp_paths = list(message[2])
            elif kind == "done":
                worker.lane, worker.temp_paths = None, []
                logger.debug("%s exported %s", worker.name, (labels or {}).get(message[1]))
                events.finished(message[1], message[2])
            elif kind == "failed":
                worker.lane, worker.temp_paths = None, []
                events.failed(*message[1:])
    except (EOFError, OSError):
        worker.conn.close()


def _join(worker: _Worker, timeout: float | None) -> None:
    if worker.thread is not None:
        # A thread cannot be killed; it stops at its next block (or before its next file).
        worker.thread.join()
        return
    worker.process.join(timeout)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()


def _bury(worker: _Worker, events: BatchEvents) -> str | None:
    """A worker that ended: its lane (if any) failed; its temporary files go. Returns why
    it could not start, if it never did."""
    _join(worker, STOP_TIMEOUT)
    _delete(worker.temp_paths)
    worker.conn.close()
    if worker.process is None:
        how = "the worker thread of the main process ended"
    else:
        how = f"the worker process died ({_exit_description(worker.process.exitcode)})"
    if worker.lane is not None:
        events.failed(worker.lane, f"internal error: {how} while "
                      "exporting this file; if the system ran out of memory, lower "
                      "--parallel_files or LAZYFLOW_TOTAL_RAM_MB", False)
    elif not worker.ready:
        return worker.start_error or how
    return None


def _stop_all(workers: list[_Worker]) -> None:
    """Stop every remaining worker and delete the temporary files of those that were
    exporting. A second Ctrl-C or SIGTERM cannot cut this short (they are only noted, see
    interrupts.py): nothing is left behind."""
    for worker in workers:
        if worker.thread is not None:
            worker.stop.set()
        if not worker.conn.closed:
            try:
                worker.conn.send(None)  # an idle worker stops at once
            except OSError:
                pass
        busy_or_starting = worker.lane is not None or not worker.ready
        if worker.process is not None and busy_or_starting and worker.process.is_alive():
            worker.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for worker in workers:
        _join(worker, max(0.0, deadline - time.monotonic()))
        _receive(worker, _IGNORE)  # may announce files created just before the stop
        _delete(worker.temp_paths)
        worker.conn.close()


class _IgnoreEvents:
    def progress(self, index, done, total):
        pass

    def finished(self, index, outcome):
        pass

    def failed(self, index, reason, user_error):
        pass


_IGNORE = _IgnoreEvents()


def _delete(paths: list[str]) -> None:
    """Delete temporary outputs: files, or folders for folder formats (N5, zarr)."""
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            logger.debug("Deleted %s, left by a stopped worker", path)
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.warning("Could not delete the unfinished output %s: %s", path, error)


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
