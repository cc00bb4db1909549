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
        if self.report is not None:
            self.report(done, total, self.phase)
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

    def note(self, text: str) -> None:
        if self.report is not None:
            self.phase = f"{self.title}: {text}"
            self.report(0, 0, self.phase)
        if self.bar is not None:
            self.bar.set_description_str(f"{self.title}: {text}")
