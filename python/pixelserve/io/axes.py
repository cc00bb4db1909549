"""Axis letters: ilastik's default guesses, explicit-axes validation, vigra axistags parsing."""

from __future__ import annotations

import json

from pixelserve.errors import UserError

AXES = "tzyxc"

# ilastik guesses axes from the number of dimensions alone when a file does not say.
_DEFAULT_AXES_BY_NDIM = {2: "yx", 3: "zyx", 4: "zyxc", 5: "tzyxc"}


def guess_axes(shape: tuple[int, ...]) -> str:
    """ilastik's default axes for a shape: 2D yx; 3D zyx (yxc if last dim <= 4); 4D zyxc; 5D tzyxc."""
    ndim = len(shape)
    # A small last dimension of a 3D array is far more likely colour channels than z slices.
    if ndim == 3 and shape[2] <= 4:
        return "yxc"
    try:
        return _DEFAULT_AXES_BY_NDIM[ndim]
    except KeyError:
        raise UserError(
            f"Cannot guess the axes of a {ndim}-dimensional image of shape {tuple(shape)}: "
            "pixelserve reads 2D to 5D images; give the axes explicitly (e.g. --input_axes zyxc)."
        ) from None


def default_axes(shape: tuple[int, ...]) -> str:
    """guess_axes for 2D-5D shapes; '?' placeholders otherwise, left for the dimension check to reject."""
    return guess_axes(shape) if 2 <= len(shape) <= 5 else "?" * len(shape)


def check_explicit_axes(axes: str, shape: tuple[int, ...], source: str) -> str:
    """Validate user-given axes (ilastik's --input_axes) against a dataset shape; return them lower-cased."""
    keys = axes.strip().lower()
    hint = f"e.g. {guess_axes(shape)!r}" if 2 <= len(shape) <= 5 else "one letter per dimension"
    if not keys or set(keys) - set(AXES):
        raise UserError(f"Invalid axes {axes!r} for {source}: use only the letters t, z, y, x, c ({hint}).")
    if len(set(keys)) != len(keys):
        raise UserError(f"Invalid axes {axes!r} for {source}: each letter may appear only once ({hint}).")
    if not {"x", "y"} <= set(keys):
        raise UserError(f"Invalid axes {axes!r} for {source}: the axes must include y and x ({hint}).")
    if len(keys) != len(shape):
        raise UserError(
            f"Axes {axes!r} do not fit {source}: it has {len(shape)} dimensions (shape {tuple(shape)}) "
            f"but {len(keys)} axes were given; give one letter per dimension ({hint})."
        )
    return keys


def is_valid_file_axes(axes: str) -> bool:
    """True when a file's own axes use only tzyxc letters, each once."""
    return bool(axes) and not set(axes) - set(AXES) and len(set(axes)) == len(axes)


def parse_axistags(text: str | bytes) -> tuple[str, dict[str, tuple[float, str]]] | None:
    """Parse vigra's axistags JSON ({"axes": [{"key", "typeFlags", "resolution", "description"}]}).

    Returns (axes, resolution) or None when the tags are unusable, in which case callers fall
    back to other hints like ilastik does (it also ignores tags containing the unknown key '?').
    Resolution 0 means "unknown" in vigra, so such axes are left out.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        tags = json.loads(text)["axes"]
        keys = "".join(str(tag["key"]) for tag in tags)
    except (ValueError, KeyError, TypeError):
        return None
    if not is_valid_file_axes(keys):
        return None
    resolution: dict[str, tuple[float, str]] = {}
    for tag in tags:
        try:
            value = float(tag.get("resolution", 0) or 0)
        except (TypeError, ValueError):
            value = 0.0
        if tag["key"] != "c" and value > 0:
            resolution[tag["key"]] = (value, "")
    return keys, resolution


def axes_from_reversed_names(names) -> str | None:
    """Axes from an N5/neuroglancer-style 'axes' attribute, which lists them fastest-first (x, y, z).

    ilastik reverses and lower-cases that list to get the C-order axes.
    """
    try:
        keys = "".join(str(name) for name in reversed(list(names))).lower()
    except TypeError:
        return None
    return keys if is_valid_file_axes(keys) else None


def axes_from_names(names) -> str | None:
    """Axes from a C-order list of single-letter names (OME-Zarr, xarray, zarr v3 dimension_names)."""
    try:
        parts = [str(name).lower() for name in names]
    except TypeError:
        return None
    if any(len(part) != 1 for part in parts):
        return None
    keys = "".join(parts)
    return keys if is_valid_file_axes(keys) else None


# vigra AxisInfo type flags: channel 1, space 2, time 8
_TYPE_FLAGS = {"c": 1, "t": 8, "z": 2, "y": 2, "x": 2}


def vigra_axistags_json(axes: str, resolution=None) -> str:
    """The JSON text vigra's AxisTags.toJSON() produces, byte for byte (ilastik and its readers
    parse it; some compare it as text). Resolution is printed like C++ setprecision(17)."""
    resolution = resolution or {}
    entries = [
        "\n    {\n"
        f'      "key": "{a}",\n'
        f'      "typeFlags": {_TYPE_FLAGS[a]},\n'
        f'      "resolution": {float(resolution.get(a, 0.0)):.17g},\n'
        '      "description": ""\n'
        "    }"
        for a in axes
    ]
    return '{\n  "axes": [' + ",".join(entries) + "\n  ]\n}"
