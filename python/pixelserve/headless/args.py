"""ilastik's headless command line, parsed strictly.

Differences from ilastik, all on the side of telling the user more:
- `--output-format` and `--output_format` are the same flag (any dash/underscore mix);
- an unknown flag is an error naming the closest valid one, never taken as an input file;
- a multi-word value may be given unquoted (`--export_source Simple Segmentation`).

Parsing runs in two steps because role flags (`--raw_data`, `--prediction_mask`, ...) and
export source names come from the project, which the first step finds.
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass, field

from ..errors import UserError
from ..features import STRUCTURE_TENSOR_ORDERS
from ..workflows import WorkflowOption

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UserError instead of printing usage and exiting."""

    def error(self, message):
        raise UserError(f"{message}. Run 'pixelserve --help' for the list of flags.")


def _bool_value(text: str | None) -> bool:
    if text is None:
        return True
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise UserError(f"'{text}' is not a yes/no value. Fix: use true or false.")


def base_parser(add_help: bool = True) -> _Parser:
    parser = _Parser(
        prog="pixelserve",
        description="Run a trained ilastik project without ilastik, with ilastik's headless flags.",
        add_help=add_help, allow_abbrev=False,
    )
    general = parser.add_argument_group("general")
    general.add_argument("--headless", action="store_true",
                         help="Run without a GUI (pixelserve always does; accepted for ilastik's scripts).")
    general.add_argument("--project", help="The .ilp project file to run.")
    general.add_argument("--readonly", action="store_true", default=True,
                         help="Never modify the project (always so in pixelserve; "
                              "--readonly=true/false is accepted too).")
    general.add_argument("--debug", action="store_true", help="Show stack traces for errors.")
    general.add_argument("--threads", type=int, default=None,
                         help="Threads for block computation (default: all cores, or LAZYFLOW_THREADS).")
    # pixelserve only: ilastik runs the files of one call one after another.
    general.add_argument("--parallel_files", type=int, default=0, metavar="N",
                         help="Files processed at once, each in its own worker process, sharing "
                              "the threads (default 0: as many as the threads and the memory "
                              "allow, see LAZYFLOW_TOTAL_RAM_MB; 1: one after another). "
                              "See docs/batch.md.")
    general.add_argument("--structure_tensor_order", choices=STRUCTURE_TENSOR_ORDERS,
                         help="Override the structure-tensor scale order (default: from the "
                              "project's ilastik version: vigra before 1.3.3).")
    general.add_argument("--server", metavar="HOST:PORT",
                         help="Compute on a running pixelserve server (pixelserve serve) where the project "
                              "stays loaded; it must read the same files. pixelserve only.")
    general.add_argument("--server_token_file", metavar="FILE",
                         help="The token file of a server started with --token-file. pixelserve only.")
    general.add_argument("--version", action="store_true", help="Print the version and exit.")
    inputs = parser.add_argument_group("input data")
    inputs.add_argument("--input_axes", help="Axes of the input, e.g. yxc; comma-separated per role.")
    inputs.add_argument("--ignore_training_axistags", action="store_true",
                        help="Take each input's axes from the file (or ilastik's guess from its shape), never "
                             "from the project's training data (see docs/headless.md for how this differs "
                             "from ilastik).")
    # pixelserve only: ilastik's headless mode has no way to choose a scale.
    inputs.add_argument("--input_scale", metavar="SCALE",
                        help="Which scale of OME-Zarr inputs to read: its path (e.g. s0) or index (0: highest "
                             "resolution, -1: lowest); comma-separated per role. Default: the scale the address "
                             "names, else the lowest resolution (as ilastik). pixelserve only.")
    inputs.add_argument("--stack_along", default="z", help="Axis along which globbed files stack (default z).")
    inputs.add_argument("--preconvert_stacks", action="store_true", help="Accepted and ignored.")
    export = parser.add_argument_group("export")
    export.add_argument("--export_source", help="What to export, e.g. Probabilities, 'Simple Segmentation'.")
    export.add_argument("--output_format", help="hdf5, 'compressed hdf5', tif, tiff, png, numpy, ...")
    export.add_argument("--output_filename_format",
                        help="Output path template, e.g. '{dataset_dir}/{nickname}_{result_type}'.")
    export.add_argument("--output_internal_path", help="Dataset path inside HDF5 output.")
    export.add_argument("--export_dtype", help="uint8, uint16, float32, ...")
    export.add_argument("--cutout_subregion", help="[(start...), (stop...)] in the source's axes, c last.")
    export.add_argument("--pipeline_result_drange", help="(min, max) of the result, for --export_drange.")
    export.add_argument("--export_drange", help="(min, max) to map the result range onto.")
    export.add_argument("--output_axis_order", help="Axis order of the written result, e.g. tzyxc.")
    export.add_argument("--table_only", action="store_true",
                        help="Export only the tables (e.g. --table_filename), no image.")
    return parser


def add_workflow_options(parser: argparse.ArgumentParser, title: str, options: tuple[WorkflowOption, ...]) -> None:
    """A workflow's own flags (e.g. --table_filename), as ilastik's workflows add theirs."""
    if not options:
        return
    group = parser.add_argument_group(f"{title} options")
    for option in options:
        extra = {"nargs": "?", "const": "true"} if option.kind == "yes/no" else {"metavar": option.kind.upper()}
        default = "" if option.default is None else f" (default: {option.default})"
        group.add_argument(option.flag, dest="option:" + option.name, default=None, help=option.help + default,
                           **extra)


def given_options(options: argparse.Namespace) -> dict[str, str]:
    """The workflow options given on the command line, by name."""
    return {key.removeprefix("option:"): value for key, value in vars(options).items()
            if key.startswith("option:") and value is not None}


@dataclass
class HeadlessArgs:
    options: argparse.Namespace
    role_files: dict[str, list[str]] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)

    @property
    def debug(self) -> bool:
        return bool(getattr(self.options, "debug", False))


def normalize_flags(argv: list[str]) -> list[str]:
    """`--output-format=x` -> `--output_format=x`: dashes and underscores are the same.

    `--readonly` takes no value (ilastik4ij passes it bare, followed by other flags or
    files), but `--readonly=1` style is accepted and checked too."""
    normalized = []
    for token in argv:
        if token.startswith("--") and len(token) > 2:
            name, sep, value = token[2:].partition("=")
            name = name.replace("-", "_")
            if name == "readonly" and sep:
                _bool_value(value)
                sep = value = ""
            token = "--" + name + sep + value
        normalized.append(token)
    return normalized


def join_multiword_values(argv: list[str], flag: str, choices: list[str]) -> list[str]:
    """Join `--flag Simple Segmentation` into one value when the words continue a valid choice."""
    lowered = [c.lower() for c in choices]
    result: list[str] = []
    i = 0
    while i < len(argv):
        result.append(argv[i])
        if argv[i] == flag and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
            while i < len(argv) and not argv[i].startswith("-"):
                longer = f"{value} {argv[i]}".lower()
                if not any(c == longer or c.startswith(longer + " ") for c in lowered):
                    break
                value, i = f"{value} {argv[i]}", i + 1
            result.append(value)
            continue
        i += 1
    return result


def parse_headless(argv: list[str], role_flags: dict[str, str], *, export_sources: list[str],
                   output_formats: list[str], title: str = "", options: tuple[WorkflowOption, ...] = ()) -> HeadlessArgs:
    """Full parse, once the project's roles, export sources and workflow options are known.

    role_flags maps a flag (`--raw_data`) to its role name (`Raw Data`).
    """
    argv = join_multiword_values(argv, "--export_source", export_sources)
    argv = join_multiword_values(argv, "--output_format", output_formats)
    parser = base_parser()
    add_workflow_options(parser, title, options)
    roles = parser.add_argument_group("input roles")
    for flag, role in role_flags.items():
        roles.add_argument(flag, nargs="+", default=None, dest="role:" + role,
                           metavar="FILE", help=f"{role} file(s), one lane each.")
    options, rest = parser.parse_known_args(argv)
    _refuse_unknown_flags(rest, parser)
    role_files = {role: getattr(options, "role:" + role) for role in role_flags.values()
                  if getattr(options, "role:" + role) is not None}
    positional = [token for token in rest if token]
    if role_files and positional:
        raise UserError(
            f"Input files were given both with role flags ({', '.join(role_flags)}) and as plain "
            f"arguments ({positional[0]}). Fix: give every file after its role flag, e.g. "
            f"--raw_data {positional[0]}."
        )
    return HeadlessArgs(options=options, role_files=role_files, positional=positional)


def parse_global(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """First step: just the flags needed to find the project (nothing is refused yet), and
    the tokens left for the second step (role flags, input files, unknown flags)."""
    return base_parser(add_help=False).parse_known_args(argv)


# ilastik flags that pixelserve knows but does not take (yet), with what to do instead.
NOT_SUPPORTED = {
    "--distributed": "distributed (MPI) runs are not supported yet; without --distributed "
                     "pixelserve already uses every core of this machine",
    "--distributed_block_roi": "distributed (MPI) runs are not supported yet; drop the flag",
    "--retrain": "pixelserve never changes a project; create a new one with 'pixelserve train'",
    "--new_project": "pixelserve never creates projects from the headless command (a new, empty "
                     "project has no classifier to run). Fix: create a trained one with 'pixelserve train "
                     "--raw_data IMAGE --labels LABELS --output P.ilp' (docs/training.md) or in ilastik",
    "--workflow": "pixelserve never creates projects from the headless command (a new, empty "
                  "project has no classifier to run). Fix: create a trained one with 'pixelserve train "
                  "--raw_data IMAGE --labels LABELS --output P.ilp' (docs/training.md) or in ilastik",
}


def refuse_unsupported_flags(tokens: list[str]) -> None:
    """Stop at the first ilastik flag pixelserve knows but does not take, before anything
    else is checked (--new_project comes without --project, which would hide the reason)."""
    for token in tokens:
        name = token.split("=", 1)[0]
        if name in NOT_SUPPORTED:
            raise UserError(f"{name} is an ilastik flag that pixelserve does not take: {NOT_SUPPORTED[name]}.")


def _refuse_unknown_flags(rest: list[str], parser: argparse.ArgumentParser) -> None:
    known = [option for action in parser._actions for option in action.option_strings]
    for token in rest:
        if token.startswith("-") and len(token) > 1 and not _is_number(token):
            refuse_unsupported_flags([token])
            name = token.split("=", 1)[0]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UserError(f"Unknown flag {name}.{hint} Run 'pixelserve --help' for every flag.")


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False
