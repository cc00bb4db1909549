"""Output file names as ilastik forms them: placeholders, the format's extension, and the
checks that keep an export from destroying its input.

Facts from ilastik: `lazyflow/utility/format_known_keys.py` (known placeholders are
replaced with str.format's field formatting, so '{x_start:04d}' works; unknown ones are kept
as written), `opFormattedDataExport.py` ({roi} and {<axis>_start}/{<axis>_stop} in the
export source's axis order), `opExportSlot.py` (extension = os.path.splitext then the
format's; axes only in the output order render as 0/1), `ioOperators.py` OpStackWriter
({slice_index} zero padding).
"""

from __future__ import annotations

import logging
import math
import os
import re
import string

from pixelserve.errors import UserError

logger = logging.getLogger(__name__)

#: Placeholder values that describe the export rather than name it.
NON_NAME_KEYS = ("input_paths",)
#: Names ilastik always knows when it exports; left unfilled they would become folder names.
ILASTIK_NAME_KEYS = ("dataset_dir", "nickname", "result_type")


class SliceIndex:
    """The {slice_index} of a sequence file. `index` is the number to write (the position in
    the export plus `offset`, the subregion's start on the step axis, as in ilastik). Written
    plainly it is zero-padded like ilastik, to ceil(log10(offset + count + 1)) digits (so 100
    slices get 3 digits: 000..099); an explicit format such as {slice_index:d} is applied to
    the number as it is."""

    def __init__(self, index: int, offset: int, count: int):
        self.index = index
        self.digits = int(math.ceil(math.log10(offset + count + 1)))

    def __format__(self, spec: str) -> str:
        return format(self.index, spec or f"0{self.digits}")


class _SlicePlaceholder:
    """Stands for {slice_index} (with its format spec) in a formatted name until each file's
    number is known; see fill_slice_index."""

    def __format__(self, spec: str) -> str:
        return f"\0{spec}\0"


SLICE_KEY = "slice_index"
SLICE_PLACEHOLDER = _SlicePlaceholder()


def fill_slice_index(path: str, index: SliceIndex) -> str:
    """`path` (formatted with SLICE_PLACEHOLDER for {slice_index}) with `index` in its place."""
    return re.sub("\0([^\0]*)\0", lambda m: format(index, m.group(1)), path)


def uses_placeholder(template: str, name: str) -> bool:
    return any(field == name for _, field, _, _ in _parse(template))


def _parse(template: str):
    try:
        return list(string.Formatter().parse(template))
    except ValueError as e:
        raise UserError(
            f"The output name {template!r} is not a valid template ({e}): write placeholders like {{nickname}} "
            "and double a literal brace ({{ or }})"
        ) from None


def format_path(template: str, placeholders: dict[str, object]) -> str:
    """Replace the known placeholders in `template`; unknown ones stay as they are written
    (a conversion such as '!r' is dropped, as ilastik does)."""
    pieces = []
    for text, name, spec, _conversion in _parse(template):
        pieces.append(text)
        if name is None:
            continue
        if name in placeholders and name not in NON_NAME_KEYS:
            try:
                pieces.append(format(placeholders[name], spec))
            except (ValueError, TypeError) as e:
                raise UserError(f"Cannot format placeholder {{{name}:{spec}}} with {placeholders[name]!r} ({e}): fix the format after the colon") from None
        elif name or spec:
            pieces.append("{" + name + (":" + spec if spec else "") + "}")
    return "".join(pieces)


def unknown_placeholders(template: str, placeholders: dict[str, object]) -> list[str]:
    return [name for _, name, _, _ in _parse(template) if name and (name not in placeholders or name in NON_NAME_KEYS)]


def region_placeholders(axes: str, start, stop) -> dict[str, object]:
    """{roi} renders like "[(0, 0, 0), (128, 128, 2)]" and {x_start}, {c_stop}... per axis."""
    keys: dict[str, object] = {"roi": [tuple(int(s) for s in start), tuple(int(s) for s in stop)]}
    for axis, s, e in zip(axes, start, stop):
        keys[f"{axis}_start"] = int(s)
        keys[f"{axis}_stop"] = int(e)
    return keys


def output_only_placeholders(source_axes: str, output_axes: str) -> dict[str, object]:
    """Axes that exist only in the output order are singletons: ilastik renders them 0 and 1."""
    keys: dict[str, object] = {}
    for axis in output_axes:
        if axis not in source_axes:
            keys[f"{axis}_start"] = 0
            keys[f"{axis}_stop"] = 1
    return keys


def with_extension(path: str, extension: str) -> str:
    """ilastik's rule: drop whatever os.path.splitext calls the extension, add the format's.

    Note that this also cuts at a dot inside the name ("cells.v2_Probabilities" -> "cells.h5")
    because ilastik does; a warning says so when the cut-off part does not look like one.
    """
    if not extension:
        return path
    base, old = os.path.splitext(path)
    if old and not re.fullmatch(r"\.[A-Za-z0-9]{1,5}", old):
        logger.warning("The output name %r loses %r: like ilastik, everything after its last dot is taken for "
                       "the extension and replaced by '.%s'", path, old, extension)
    return f"{base}.{extension}"


# .zarr too: pixelserve reads dir.zarr/internal/path, and exports into zarr folders
_HIERARCHICAL_EXTENSIONS = (".ilp", ".h5", ".hdf5", ".npz", ".n5", ".zarr")


def split_internal_path(path: str) -> tuple[str, str]:
    """Split "a/b.h5/group/data" at the last hierarchical-file extension followed by a slash
    (as ilastik's input paths are split) into ("a/b.h5", "group/data")."""
    lower = path.lower()
    best = -1
    for ext in _HIERARCHICAL_EXTENSIONS:
        position = lower.rfind(ext + "/")
        if position >= 0:
            best = max(best, position + len(ext))
    if best < 0:
        return path, ""
    return path[:best], path[best:].strip("/")


def _same_file(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def refuse_input_as_output(path: str, internal_path: str | None, input_paths) -> None:
    """Raise a UserError if the export would overwrite one of `input_paths`. Another dataset
    inside an input HDF5 file is allowed (ilastik allows it and the input data survive)."""
    for input_path in input_paths or ():
        input_file, input_internal = split_internal_path(str(input_path))
        if not _same_file(path, input_file):
            continue
        if internal_path and input_internal and input_internal != internal_path.strip("/"):
            continue
        raise UserError(
            f"The export would overwrite its input {input_path}: choose another --output_filename_format "
            "(e.g. one ending in _{result_type})"
        )
