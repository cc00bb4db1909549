"""`pixelserve`: the command line. `--headless` runs a project like ilastik's headless mode;
subcommands hold what ilastik has no flag for."""

from __future__ import annotations

import os
import sys
import traceback

from .. import __version__
from ..errors import UserError
from . import interrupts
from .args import base_parser, normalize_flags, parse_global, refuse_unsupported_flags
from .messages import configure_messages

# What a shell reports for a process ended by SIGPIPE, as `yes | head` is.
EXIT_BROKEN_PIPE = 141

SUBCOMMANDS = {
    "train": "pixelserve.training.cli",
    "serve": "pixelserve.server.cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = normalize_flags(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in argv
    configure_messages(debug)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            module = __import__(SUBCOMMANDS[argv[0]], fromlist=["main"])
            code = module.main(argv[1:])
        else:
            code = _headless(argv)
        sys.stdout.flush()  # here, so that a closed pipe is noticed below
        return code
    except BrokenPipeError:  # e.g. `pixelserve --help | head -3`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_BROKEN_PIPE
    except UserError as error:
        if debug:
            traceback.print_exc()
        print(f"pixelserve: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM during a headless run
        print("pixelserve: interrupted; no partial output was kept.", file=sys.stderr)
        return getattr(interrupt, "exit_code", 130)
    except Exception as error:  # a bug in pixelserve, not bad input
        if debug:
            traceback.print_exc()
        print(f"pixelserve: internal error: {type(error).__name__}: {error}. Rerun with --debug "
              "for the stack trace and please report it.", file=sys.stderr)
        return 1


def _headless(argv: list[str]) -> int:
    if not argv or argv in (["-h"], ["--help"]):
        base_parser().print_help()
        print("\nsubcommands:\n  pixelserve train ...   create a project from an image and a "
              "label image (pixelserve train --help)\n  pixelserve serve ...   run the prediction server "
              "(pixelserve serve --help)")
        return 0 if argv else 2
    options, rest = parse_global(argv)
    if options.version:
        print(f"pixelserve {__version__}")
        return 0
    if "-h" in argv or "--help" in argv:
        from .run import print_project_help
        return print_project_help(argv, options)
    refuse_unsupported_flags(rest)
    if not options.headless:
        raise UserError("pixelserve has no GUI. Fix: add --headless (as with ilastik's "
                        "run_ilastik.sh --headless), or use a subcommand such as 'pixelserve train'.")
    if not options.project:
        raise UserError("No project given. Fix: add --project=MyProject.ilp.")
    with interrupts.signals_noted():
        if not options.server:  # a server computes everything itself: no worker processes here
            # Where workers come from a fork server (macOS), start it before the project is
            # loaded, so that its start-up overlaps with that.
            from .process_start import start_fork_server_early
            start_fork_server_early(rest, options.threads, options.parallel_files)
        from .run import run_headless
        code = run_headless(argv, options)
        interrupts.check()  # a signal after the last safe point still ends the run as one
        return code


if __name__ == "__main__":
    sys.exit(main())
