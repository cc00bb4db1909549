"""A canonical (t, z, y, x, c) view of an input image, read region by region.

Workflows compute in one axis order; the view maps it to whatever order and subset of axes
the file or array has, inserting singleton axes, so nothing is copied whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError

CANONICAL = "tzyxc"
SPATIAL = "zyx"


class Volume:
    """Reads boxes of an image in canonical axis order.

    `reader(region)` returns the region (a tuple of slices in the image's own axes).
    """

    def __init__(self, reader, shape, dtype, axes: str, *, name: str = "image",
                 resolution: dict | None = None):
        axes = axes.lower()
        shape = tuple(shape)
        if len(axes) == len(shape) + 1 and "c" in axes:
            # ilastik reads every 2D image as yxc, so scripts say --input_axes yxc for a
            # grayscale png: accept it by giving the data its singleton channel axis.
            at = axes.index("c")
            shape = shape[:at] + (1,) + shape[at:]
            plain_reader = reader
            reader = lambda region: np.expand_dims(  # noqa: E731
                np.asarray(plain_reader(region[:at] + region[at + 1:])), at)
        if len(axes) != len(shape):
            raise UserError(
                f"{name} has {len(shape)} dimensions {tuple(shape)} but axes '{axes}' name "
                f"{len(axes)}. Fix: give --input_axes with one letter per dimension (e.g. "
                f"'{'zyxc'[-len(shape):] if len(shape) <= 4 else 'tzyxc'}')."
            )
        unknown = set(axes) - set(CANONICAL)
        if unknown or len(set(axes)) != len(axes):
            raise UserError(
                f"Axes '{axes}' for {name} are not valid: use each of the letters t, z, y, x, c "
                "at most once."
            )
        self._reader = reader
        self.dataset = None  # the pixelserve.io Dataset read, if any (see from_dataset)
        self.scales = None  # an OME-Zarr input's scales (pixelserve.io.ome_zarr.Scales), for OME-Zarr exports
        self.own_axes = axes
        self.own_shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.resolution = resolution or {}
        self.shape = tuple(
            self.own_shape[axes.index(a)] if a in axes else 1 for a in CANONICAL
        )

    @classmethod
    def from_array(cls, array: np.ndarray, axes: str, *, name: str = "image") -> "Volume":
        array = np.asarray(array)
        return cls(lambda region: array[region], array.shape, array.dtype, axes, name=name)

    @classmethod
    def from_dataset(cls, dataset, axes: str | None = None, *, name: str | None = None,
                     region: tuple[tuple[int, int], ...] | None = None) -> "Volume":
        """A pixelserve.io Dataset, read as `axes` (default: the dataset's own); `region`
        ((start, stop) per dimension of the file) limits it to a box."""
        axes = axes or dataset.axes
        # Pixel sizes belong to the file's own axes; reinterpreted axes drop them, as in ilastik.
        resolution = dataset.resolution if axes == dataset.axes else {}
        reader, shape = dataset.read, dataset.shape
        if region is not None:
            offsets = tuple(start for start, _ in region)
            shape = tuple(stop - start for start, stop in region)
            reader = lambda box: dataset.read(tuple(  # noqa: E731
                slice(o + (s.start or 0), o + (n if s.stop is None else s.stop)) for o, s, n in zip(offsets, box, shape)))
        volume = cls(reader, shape, dataset.dtype, axes, name=name or dataset.nickname, resolution=resolution)
        volume.dataset = dataset if region is None else None  # where it came from (a server reads it again)
        volume.scales = dataset.scales if axes == dataset.axes else None  # shapes in the file's own axes
        return volume

    @property
    def channels(self) -> int:
        return self.shape[4]

    @property
    def time_points(self) -> int:
        return self.shape[0]

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return self.shape[1:4]

    def read(self, t: int, box: "Box") -> np.ndarray:
        """The (z, y, x, c) region `box` of time point t."""
        bounds = {"t": (t, t + 1), "z": box.z, "y": box.y, "x": box.x, "c": (0, self.channels)}
        region = tuple(slice(*bounds[a]) for a in self.own_axes)
        data = np.asarray(self._reader(region))
        present = [a for a in CANONICAL if a in self.own_axes]
        order = [self.own_axes.index(a) for a in present]
        data = data.transpose(order)
        for position, axis in enumerate(CANONICAL):
            if axis not in self.own_axes:
                data = np.expand_dims(data, position)
        return data[0]


@dataclass(frozen=True)
class Box:
    """A half-open spatial box (z, y, x), each a (start, stop) pair."""

    z: tuple[int, int]
    y: tuple[int, int]
    x: tuple[int, int]

    @classmethod
    def whole(cls, spatial_shape) -> "Box":
        return cls(*((0, int(n)) for n in spatial_shape))

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        return (self.z, self.y, self.x)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(stop - start for start, stop in self.ranges)

    def grown(self, halo: tuple[int, int, int], limit) -> "Box":
        """This box widened by `halo` on each side, clipped to [0, limit)."""
        return Box(*(
            (max(0, start - h), min(int(n), stop + h))
            for (start, stop), h, n in zip(self.ranges, halo, limit)
        ))

    def relative_to(self, outer: "Box") -> tuple[slice, slice, slice]:
        return tuple(
            slice(start - outer_start, stop - outer_start)
            for (start, stop), (outer_start, _) in zip(self.ranges, outer.ranges)
        )
