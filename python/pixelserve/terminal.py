"""Whether to draw progress bars: only on a terminal, never into a log file or a CI console."""

from __future__ import annotations

import os
import sys


def progress_wanted() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")
