"""The one exception type that front doors turn into a clear message.

A `UserError` describes bad input: its message names the cause and the fix, and the CLI
prints it as a single line on stderr with exit code 2 (the server maps it to
INVALID_ARGUMENT). Anything else escaping is a bug in pixelserve.
"""


class UserError(Exception):
    """Bad input from the user; the message says what is wrong and how to fix it."""

    exit_code = 2


class ProjectError(UserError):
    """A project file that pixelserve cannot run (wrong workflow, no classifier, ...)."""
