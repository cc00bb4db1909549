"""The progress bar of a headless run: files done of the total, pixels done, time left.

Shown only on a terminal: a bar written into a log file or a CI console is noise, so it is
off when stderr is not a TTY or the CI variable is set.
"""

from __future__ import annotations

import sys

from ..terminal import progress_wanted


class BatchProgress:
    """Progress of a run of several files, each reporting `(done, total)` in its own units.

    A file counts with its pixel count (`lane_pixels`), so the time left comes from the pixel
    rate and big files weigh what they cost. A failed file counts as done: it costs no more.
    A file that failed before the run began can count 0 pixels, so as not to skew the rate.
    """

    def __init__(self, lane_pixels: list[int], *, enabled: bool | None = None):
        self.lane_pixels = [max(0, int(p)) for p in lane_pixels]
        self.fraction = [0.0] * len(self.lane_pixels)
        self.files_done = 0
        self.bar = None
        if progress_wanted() if enabled is None else enabled:
            from tqdm import tqdm

            # No monitor thread: it only tunes tqdm's own update rate, which this bar does not
            # use, and worker processes are forked only while no other thread is alive.
            tqdm.monitor_interval = 0
            self.bar = tqdm(total=max(1, sum(self.lane_pixels)), unit="px", unit_scale=True, leave=False,
                            file=sys.stderr, desc=self._description(), dynamic_ncols=True)

    def __enter__(self) -> "BatchProgress":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def lane(self, index: int, done: int, total: int) -> None:
        """File `index` has done `done` of `total` (any unit: the ratio matters)."""
        self.fraction[index] = min(1.0, done / total) if total > 0 else 0.0
        self._refresh()

    def lane_finished(self, index: int) -> None:
        self.fraction[index] = 1.0
        self.files_done += 1
        if self.bar is not None:
            self.bar.set_description_str(self._description(), refresh=False)
        self._refresh(force=True)

    def pixels_done(self) -> int:
        """The pixels of every file weighted by how far the file is."""
        return int(sum(p * f for p, f in zip(self.lane_pixels, self.fraction)))

    def lane_callback(self, index: int):
        """A `progress(done, total)` callback for the export of file `index`."""
        return lambda done, total: self.lane(index, done, total)

    def print(self, line: str) -> None:
        """Print a line to stdout without tearing the bar."""
        if self.bar is None:
            print(line, flush=True)
        else:
            self.bar.write(line, file=sys.stdout)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _description(self) -> str:
        return f"files {self.files_done}/{len(self.lane_pixels)}"

    def _refresh(self, force: bool = False) -> None:
        if self.bar is None:
            return
        self.bar.n = self.pixels_done()
        if force:
            self.bar.refresh()
        else:
            self.bar.update(0)  # redraws at most every mininterval: blocks may come fast
