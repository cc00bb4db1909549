"""How batch worker processes start: forked by multiprocessing's fork server, which imports
the libraries and sets numba up once (`worker_preload`), so that a worker is ready in a
fraction of a second instead of the 1-2 s a fresh interpreter takes.

The server is started as soon as the command line shows several input files, so that its
start-up runs on another core while this process loads the project. The server has a single
thread when it forks (unlike this process: block pools, the worker thread), so a worker never
inherits a lock that another thread held at the fork. Where there is no fork server
(Windows), workers are spawned as fresh interpreters.
"""

from __future__ import annotations

import multiprocessing
import signal
from contextlib import contextmanager

PRELOAD = ["pixelserve.headless.worker_preload"]


def worker_context():
    """The multiprocessing context worker processes are started from."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def start_fork_server_early(rest: list[str], threads: int | None, parallel_files: int) -> None:
    """Start the fork server now if this run will likely want workers: several input files
    among the command line's unparsed tokens `rest`, and --parallel_files above 1, or
    automatic with more than one thread. A wrong guess costs one idle process."""
    from ..blocks import default_threads

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
