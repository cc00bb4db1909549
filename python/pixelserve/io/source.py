"""The internal reader interface every format implements, and region helpers."""

from __future__ import annotations

import numpy as np


class DamagedPixels(Exception):
    """A reader found a file's pixel data broken after a good header (Dataset.read says so)."""


class ArraySource:
    """One readable array: a single file, one dataset in a container, or a stack of those.

    Subclasses set shape, dtype, axes (storage order; may be unusual letters until validated),
    axes_from_file and resolution in __init__ from metadata only, and implement _read.
    Cached handles live in self._handles so that pickling (e.g. for worker processes) drops them
    instead of copying a memory map's whole content.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str
    axes_from_file: bool
    resolution: dict[str, tuple[float, str]]
    internal_path: str | None = None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        """Read a normalised region (one slice with int start/stop per dimension)."""
        return self._read(region)

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        raise NotImplementedError

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_handles", None)
        return state

    def _handle(self, key, opener):
        """A lazily opened handle, cached per instance and dropped on pickling."""
        handles = self.__dict__.setdefault("_handles", {})
        if key not in handles:
            handles[key] = opener()
        return handles[key]


def normalize_region(region, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Turn a user region (slices, possibly fewer than ndim, None bounds) into concrete slices.

    Only unit steps are supported because every reader maps regions onto blocks or pages.
    """
    if region is None:
        region = ()
    if isinstance(region, slice):
        region = (region,)
    region = tuple(region)
    if len(region) > len(shape):
        raise ValueError(f"region has {len(region)} entries but the dataset has {len(shape)} dimensions")
    result = []
    for item, size in zip(region + (slice(None),) * (len(shape) - len(region)), shape):
        if not isinstance(item, slice):
            raise TypeError(f"region entries must be slices, got {item!r}")
        start, stop, step = item.indices(size)
        if step != 1:
            raise ValueError(f"region slices must have step 1, got {item!r}")
        result.append(slice(start, max(start, stop)))
    return tuple(result)


def region_shape(region: tuple[slice, ...]) -> tuple[int, ...]:
    return tuple(s.stop - s.start for s in region)
