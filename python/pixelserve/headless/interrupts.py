"""Ctrl-C and SIGTERM during a headless run: noted when they arrive, acted on where stopping
is safe.

A Python signal handler runs in the main thread between any two bytecodes. Raising from it
there, as Python's own Ctrl-C handler does, lands anywhere: inside numba's dispatcher, which
then reports "SystemError: CPUDispatcher(...) returned a result with an exception set" (an
internal error), or inside a __del__ or weakref callback, where Python prints "Exception
ignored" and carries on (the run finished with exit code 0). So the handler only notes the
signal, and the run checks for it at safe points: after every block (the export's progress),
between files, while it waits for its workers. `check()` raises Interrupted there, which
unwinds through the export's cleanup like Ctrl-C. A run that ends between two checks checks
once more, so a signal never ends in exit code 0.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

from .process_start import STOP_SIGNALS


class Interrupted(KeyboardInterrupt):
    """A stop signal, acted on; `exit_code` is what a shell reports for it (130, 143)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


_noted: int | None = None


def _note(signum, frame) -> None:
    global _noted
    if _noted is None:  # the first one counts: Ctrl-C, then the SIGTERM of a supervisor
        _noted = signum


def note_signals() -> None:
    """From now on, stop signals are only noted (a worker process, for its whole life)."""
    global _noted
    _noted = None
    for signum in STOP_SIGNALS:
        signal.signal(signum, _note)


@contextmanager
def signals_noted():
    """Stop signals are only noted within; check() acts on them."""
    try:
        previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        note_signals()
    except ValueError:  # not the main thread: only the main thread gets signals
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check() -> None:
    """Raise Interrupted if a stop signal has been noted."""
    if _noted is not None:
        raise Interrupted(_noted)


def checking(progress):
    """A progress(done, total) callback that first checks for a stop signal."""
    def report(done: int, total: int) -> None:
        check()
        progress(done, total)
    return report
