"""How batch worker processes start.

Where fork is safe (Linux and the other Unixes but macOS), they are forked from this process
itself, once it has loaded the project and before it starts any thread of its own: a worker
then starts with the project, the libraries and numba's kernels in place, in milliseconds,
and costs no CPU to start. A fork copies only the thread that calls it, so a child could
inherit a lock that another thread held at that moment: `fork_context` therefore refuses
when any other Python thread is alive (zarr's, idle between reads, are stopped first:
`stop_idle_threads`). (The native thread pools of OpenBLAS, which numpy and scipy start on
import, stop themselves around a fork, by pthread_atfork; numba's kernels here start no
threads.)

Otherwise (macOS, Windows, or a thread is alive: a worker started later to replace one that
died) workers come from multiprocessing's fork server, which imports the libraries and sets
numba up once (`worker_preload`) and forks them from its single thread; each loads the
project itself. Where there is no fork server (Windows), workers are spawned as fresh
interpreters.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import time
from contextlib import contextmanager

PRELOAD = ["pixelserve.headless.worker_preload"]


def fork_supported() -> bool:
    """Whether workers may be forked from this process (see the module docstring)."""
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


def fork_context():
    """The 'fork' context if a worker may be forked from this process now: fork supported and
    no other thread alive. None otherwise: start workers from `worker_context()` instead."""
    if not fork_supported():
        return None
    if threading.current_thread() is not threading.main_thread() or threading.active_count() > 1:
        return None
    return multiprocessing.get_context("fork")


def stop_idle_threads(timeout: float = 0.5) -> None:
    """Stop the threads that a library keeps between reads, so that fork_context can allow a
    fork: zarr 3's event loop thread and its executor's (started by the first read of a
    zarr, N5 or compressed TIFF file). zarr starts them again on its next read."""
    cleanup = getattr(sys.modules.get("zarr.core.sync"), "cleanup_resources", None)
    if cleanup is None:
        return
    cleanup()
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith(("zarr", "asyncio")):
            thread.join(max(0.0, deadline - time.monotonic()))


def worker_context():
    """The multiprocessing context worker processes are started from when this process cannot
    fork them (fork_context): the fork server, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def start_fork_server_early(rest: list[str], threads: int | None, parallel_files: int) -> None:
    """Start the fork server now if this run will likely want workers from it: several input
    files among the command line's unparsed tokens `rest`, and --parallel_files above 1, or
    automatic with more than one thread, where workers cannot be forked from this process
    (macOS). Its start-up then overlaps with loading the project. A wrong guess costs one
    idle process."""
    from ..blocks import default_threads

    if fork_supported():
        return
    automatic = parallel_files == 0 and (threads or default_threads()) > 1
    if not (automatic or parallel_files > 1) or _input_file_count(rest) < 2:
        return
    if worker_context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    with stop_signals_blocked():
        forkserver.ensure_running()


def _input_file_count(rest: list[str]) -> int:
    """Files given as plain arguments, or after the first role flag (--raw_data a b c)."""
    flags = [i for i, token in enumerate(rest) if token.startswith("--")]
    if flags:
        following = rest[flags[0] + 1:]
        end = next((i for i, token in enumerate(following) if token.startswith("--")), len(following))
        return len(following[:end])
    return sum(1 for token in rest if not token.startswith("-"))


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals_blocked():
    """Ctrl-C and SIGTERM wait while a process starts, and the process (the fork server, and
    the workers it forks) inherits them blocked until it can handle them quietly: not in the
    middle of an import, printing a traceback. Here, a signal just waits for the start, so
    that the new worker is on the list of workers to stop when it strikes."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_stop_signals() -> None:
    """In a worker, once it handles them (see stop_signals_blocked)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))
