"""Decoding of the small values ilastik stores in project files.

ilastik has written the same field as bytes, numpy bytes, object arrays of bytes and plain
str over the years; these helpers turn each into a Python value without ever unpickling.
"""

from __future__ import annotations

import h5py
import numpy as np


def as_text(value) -> str:
    """A stored string (bytes, numpy scalar, 0-d or 1-element array) as str."""
    if isinstance(value, h5py.Dataset):
        value = value[()]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else b""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


def as_text_list(value) -> list[str]:
    if isinstance(value, h5py.Dataset):
        value = value[()]
    return [as_text(v) for v in np.asarray(value).reshape(-1)]


def read_text(group: h5py.Group, name: str, default: str | None = None) -> str | None:
    return as_text(group[name]) if name in group else default


def read_scalar(group: h5py.Group, name: str, default=None):
    if name not in group:
        return default
    value = group[name][()]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else default
    return value.item() if isinstance(value, np.generic) else value


def read_array(group: h5py.Group, name: str, default=None):
    return group[name][()] if name in group else default
