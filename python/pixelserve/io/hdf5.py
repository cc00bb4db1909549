"""HDF5 datasets (.h5/.hdf5/.ilp), read with h5py."""

from __future__ import annotations

import h5py
import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import axes_from_reversed_names, default_axes, parse_axistags
from pixelserve.io.source import ArraySource


def open_hdf5(path: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise UserError(f"Cannot open {path} as HDF5 ({error}); check that it is a complete HDF5 file.") from None


def list_hdf5_datasets(path: str) -> dict[str, int]:
    """All datasets in an HDF5 file as {internal path: ndim}, sorted."""
    found: dict[str, int] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = len(obj.shape) if obj.shape is not None else 0

    with open_hdf5(path) as handle:
        handle.visititems(visit)
    return dict(sorted(found.items()))


class Hdf5Source(ArraySource):
    """One HDF5 dataset. The file is reopened for every read: cheap, and safe across threads."""

    def __init__(self, path: str, internal_path: str):
        self.path = path
        self.internal_path = internal_path
        with open_hdf5(path) as handle:
            dataset = handle[internal_path]
            self.shape = tuple(dataset.shape)
            self.dtype = np.dtype(dataset.dtype)
            attrs = dict(dataset.attrs)
        if self.dtype.kind not in "biuf":
            raise UserError(
                f"Dataset '{internal_path}' in {path} has data type {self.dtype}; pixelserve reads numeric images only."
            )
        self.axes, self.axes_from_file, self.resolution = self._axes_from_attrs(attrs)

    def _axes_from_attrs(self, attrs: dict):
        # ilastik's order: its own 'axistags' attribute, then a neuroglancer-style 'axes' list
        # (fastest axis first), then the guess from the number of dimensions.
        if "axistags" in attrs:
            parsed = parse_axistags(attrs["axistags"])
            if parsed and len(parsed[0]) == len(self.shape):
                return parsed[0], True, parsed[1]
        if "axes" in attrs:
            names = attrs["axes"]
            if isinstance(names, (bytes, str)):
                names = list(names.decode() if isinstance(names, bytes) else names)
            else:
                names = [n.decode() if isinstance(n, bytes) else n for n in np.atleast_1d(names)]
            axes = axes_from_reversed_names(names)
            if axes and len(axes) == len(self.shape):
                return axes, True, {}
        return default_axes(self.shape), False, {}

    def _read(self, region):
        with open_hdf5(self.path) as handle:
            return handle[self.internal_path][region]
