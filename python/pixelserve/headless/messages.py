"""How the command line talks on stderr: `pixelserve: error: ...` (cli.py), and likewise
`pixelserve: warning: ...` for log records and Python warnings, one line each, without
Python's file name, line number and source line."""

from __future__ import annotations

import logging
import warnings


class _Lines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"pixelserve: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    logging.getLogger("pixelserve").warning("%s", message)


def configure_messages(debug: bool) -> None:
    """Log records (debug ones with --debug) and warnings as `pixelserve: <level>: ...` lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(_Lines())
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])
    warnings.showwarning = _show_warning
