"""Training progress: a tqdm bar on a terminal, nothing otherwise (logs and CI stay clean)."""

from __future__ import annotations

import sys

from ..terminal import progress_wanted


class Progress:
    """`update(done, total)` advances the bar; `note(text)` says what happens next.

    `enabled` may also be a function report(done, total, phase) (the server's progress
    messages), which then hears every update instead of a bar."""

    def __init__(self, title: str, *, enabled=None):
        self.title = title
        self.bar = None
        self.report = enabled if callable(enabled) else None
        self.phase = title
        self._last = (0, 0)
        if self.report is not None:
            self.report(0, 0, title)
        elif progress_wanted() if enabled is None else enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=0, desc=title, unit="block", leave=False, file=sys.stderr,
                            dynamic_ncols=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> bool:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return False

    def update(self, done: int, total: int) -> None:
        self._last = (done, total)
        if self.report is not None:
            self.report(done, total, self.phase)
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

    def tick(self) -> None:
        """Report again, unchanged: a point between steps that report nothing (e.g. growing
        a forest) where a report function may stop the run."""
        self.update(*self._last)

    def note(self, text: str) -> None:
        if self.report is not None:
            self.phase = f"{self.title}: {text}"
            self.report(0, 0, self.phase)
        if self.bar is not None:
            self.bar.set_description_str(f"{self.title}: {text}")
