"""NumPy .npy (memory-mapped) and .npz (one member per internal path) files."""

from __future__ import annotations

import functools
import os
import zipfile

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import default_axes
from pixelserve.io.source import ArraySource


def _load_npy(path: str) -> np.ndarray:
    try:
        # mmap keeps memory bounded; pickles are never loaded from user files.
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"Cannot read {path} as a NumPy .npy file ({error}); save it with numpy.save.") from None
    if not isinstance(array, np.ndarray):
        raise UserError(f"{path} is not a single NumPy array; save it with numpy.save.")
    return array


class NpySource(ArraySource):
    """A .npy file; axes are always guessed, as in ilastik (npy files carry no axis names)."""

    def __init__(self, path: str):
        self.path = path
        array = _load_npy(path)
        self.shape, self.dtype = tuple(array.shape), array.dtype
        if self.dtype.kind not in "biuf":
            raise UserError(f"{path} holds data type {self.dtype}; pixelserve reads numeric images only.")
        self.axes, self.axes_from_file, self.resolution = default_axes(self.shape), False, {}

    def _read(self, region):
        array = self._handle("npy", lambda: _load_npy(self.path))
        return np.array(array[region])


def list_npz_members(path: str) -> dict[str, int]:
    """Arrays in an .npz file as {name: ndim}, read from the headers only."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]
            found = {}
            for name in names:
                with archive.open(name + ".npy") as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, _ = read_header(member)
                found[name] = len(shape)
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise UserError(f"Cannot read {path} as a NumPy .npz file ({error}); save it with numpy.savez.") from None
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=2)
def _load_npz_member(path: str, mtime_ns: int, name: str) -> np.ndarray:
    # npz members are zip entries and cannot be memory-mapped; keep the last two decoded so
    # that tile-by-tile reads do not unzip the whole member each time.
    with np.load(path, allow_pickle=False) as archive:
        array = archive[name]
    array.setflags(write=False)
    return array


class NpzSource(ArraySource):
    def __init__(self, path: str, member: str):
        self.path, self.internal_path = path, member
        with np.load(path, allow_pickle=False) as archive:
            if member not in archive.files:
                raise KeyError(member)
        array = self._member()
        self.shape, self.dtype = tuple(array.shape), array.dtype
        self.axes, self.axes_from_file, self.resolution = default_axes(self.shape), False, {}

    def _member(self) -> np.ndarray:
        return _load_npz_member(self.path, os.stat(self.path).st_mtime_ns, self.internal_path)

    def _read(self, region):
        return np.array(self._member()[region])
