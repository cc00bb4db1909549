"""Export settings, with the checks and defaults of ilastik's headless data-export flags
(`ilastik/applets/dataExport/dataExportApplet.py`)."""

from __future__ import annotations

import json
import numbers
import string
from dataclasses import dataclass, replace

import numpy as np

from pixelserve.errors import UserError

from .conversion import check_axes
from .formats import DEFAULT_FORMAT, writer_class

#: Every dtype an export may be converted to (ilastik's export dialog offers these).
EXPORT_DTYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64")
#: The choices of ilastik's `--export_dtype` flag (no 64-bit integers there).
CLI_EXPORT_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")

DEFAULT_FILENAME_FORMAT = "{dataset_dir}/{nickname}_{result_type}"
DEFAULT_INTERNAL_PATH = "exported_data"


def parse_tuple_list(text: str):
    """Parse ilastik's command-line list syntax, e.g. "[(0,0,0), (10,20,None)]" or "(0.0, 1.0)".

    Like ilastik, "(" and ")" become "[" and "]" and "None" becomes null, then it is read as
    JSON; the result must be a list. Lists come back as tuples (nested ones too).
    """
    as_json = text.replace("(", "[").replace(")", "]").replace("None", "null")
    try:
        parsed = json.loads(as_json)
    except json.JSONDecodeError as e:
        raise UserError(f"Could not read {text!r} as a list ({e.msg} at position {e.pos}): write it like '(0.0, 1.0)' or '[(0,0,0), (10,20,None)]'") from None
    if not isinstance(parsed, list):
        raise UserError(f"Expected a list such as '(0.0, 1.0)' but got {text!r}: put the values in brackets")
    return _as_tuples(parsed)


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def _plain_number(value, what: str):
    """A Python int/float (numpy scalars are converted, so that numpy 2's strict scalar typing
    cannot change the arithmetic), or a UserError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise UserError(f"{what} must hold numbers, but {value!r} is not a number: write it like '(0.0, 1.0)'")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _drange(value, flag: str):
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_tuple_list(value)
    value = tuple(value)
    if len(value) != 2:
        raise UserError(f"{flag} must be two numbers (min, max), but it has {len(value)}: write it like '(0.0, 1.0)'")
    return tuple(_plain_number(v, flag) for v in value)


def _coordinate(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise UserError(f"--cutout_subregion must hold integers or None, but {value!r} is not one: write it like '[(0,0,0), (10,20,None)]'")
    return int(value)


def _cutout(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_tuple_list(value)
    value = tuple(value)
    if len(value) != 2:
        raise UserError("--cutout_subregion must be a (start, stop) pair of tuples: write it like '[(0,0,0), (10,20,None)]'")
    start, stop = (tuple(v) if isinstance(v, (tuple, list)) else None for v in value)
    if start is None or stop is None:
        raise UserError("--cutout_subregion must be a (start, stop) pair of tuples: write it like '[(0,0,0), (10,20,None)]'")
    if len(start) != len(stop):
        raise UserError(f"--cutout_subregion start has {len(start)} values but stop has {len(stop)}: give both one value per axis")
    return tuple(_coordinate(v) for v in start), tuple(_coordinate(v) for v in stop)


def _dtype_name(value):
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            value = np.dtype(value).name
        except TypeError:
            value = str(value)
    if value not in EXPORT_DTYPES:
        raise UserError(f"Unknown --export_dtype {value!r}: choose one of {', '.join(EXPORT_DTYPES)}")
    return value


def check_template(template: str, flag: str) -> None:
    """Raise a UserError if `template` has unbalanced braces (ilastik raises ValueError)."""
    try:
        list(string.Formatter().parse(template))
    except ValueError as e:
        raise UserError(
            f"{flag} {template!r} is not a valid template ({e}): write placeholders like {{nickname}} "
            "and double a literal brace ({{ or }})"
        ) from None


@dataclass
class ExportSettings:
    """The settings of one export; field names follow ilastik's headless flags."""

    output_format: str = DEFAULT_FORMAT
    output_filename_format: str = DEFAULT_FILENAME_FORMAT
    output_internal_path: str = DEFAULT_INTERNAL_PATH
    export_dtype: str | None = None  # None: the source's dtype
    cutout_subregion: tuple[tuple, tuple] | None = None  # (start, stop) in the source's axis order
    pipeline_result_drange: tuple[float, float] | None = None
    export_drange: tuple[float, float] | None = None
    output_axis_order: str | None = None  # None: the caller's default

    def validated(self) -> "ExportSettings":
        """A checked, normalised copy (numpy scalars become Python numbers, axis order is
        lower-cased, "" means unset); raises UserError for anything ilastik would refuse."""
        writer = writer_class(self.output_format)
        if self.export_drange is not None and self.pipeline_result_drange is None:
            raise UserError(
                "--export_drange needs --pipeline_result_drange (the range of the result before "
                "conversion): add e.g. --pipeline_result_drange '(0.0,1.0)'"
            )
        check_template(self.output_filename_format, "--output_filename_format")
        internal_path = self.output_internal_path
        if writer.hierarchical:
            if not internal_path or not internal_path.strip("/"):
                raise UserError(f"{writer.name} needs a dataset name inside the file: give --output_internal_path, e.g. 'exported_data'")
            check_template(internal_path, "--output_internal_path")
        order = self.output_axis_order or None
        return replace(
            self,
            export_dtype=_dtype_name(self.export_dtype),
            cutout_subregion=_cutout(self.cutout_subregion),
            pipeline_result_drange=_drange(self.pipeline_result_drange, "--pipeline_result_drange"),
            export_drange=_drange(self.export_drange, "--export_drange"),
            output_axis_order=check_axes(order, "--output_axis_order") if order else None,
        )
