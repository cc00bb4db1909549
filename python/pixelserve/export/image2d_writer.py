"""2D image output (one image of at most two non-singleton axes besides c), shared by PNG,
the other Pillow formats and the slices of TIFF sequences.

Like ilastik's 2D export (vigra), singleton axes are squeezed away and the two remaining
axes become rows and columns in t, z, y, x order (so yx data is y rows by x columns whatever
the output axis order); one remaining axis becomes a single row.
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import numpy as np

from .conversion import reorder_axes
from .writer_base import FormatMismatch, FormatWriter, describe_shape, nonchannel_extents

FLOAT_FIX = "add --export_dtype uint8 --pipeline_result_drange '(0.0,1.0)' --export_drange '(0,255)'"


class Image2dWriter(FormatWriter):
    """Holds the (2D) result in memory and saves it in `finish` with `save`."""

    #: dtype -> the channel counts the format holds (an empty tuple: any count);
    #: None: any unsigned/signed/float dtype, any count
    channels: ClassVar[Mapping[np.dtype, tuple[int, ...]] | None] = None

    @classmethod
    def check(cls, shape, axes, dtype):
        dtype = np.dtype(dtype)
        extents = nonchannel_extents(shape, axes)
        if len(extents) > 2:
            raise FormatMismatch(f"{cls.name} holds 2D images but the result is {len(extents)}D ({describe_shape(shape, axes)})")
        if cls.channels is None:
            if dtype.kind not in "uif":
                raise FormatMismatch(f"{cls.name} cannot hold {dtype}", fix="add e.g. --export_dtype uint8")
            return
        if dtype not in cls.channels:
            if dtype.kind == "f" and not any(d.kind == "f" for d in cls.channels):
                raise FormatMismatch(f"{cls.name} cannot hold {dtype}", fix=FLOAT_FIX)
            names = " or ".join(str(d) for d in cls.channels)
            # a dtype that holds every value of the result needs no "if the values fit"
            lossless = [d for d in cls.channels if np.can_cast(dtype, d, "safe")]
            fix = f"add --export_dtype {lossless[0]}" if lossless else f"add --export_dtype {names} if the values fit"
            raise FormatMismatch(f"{cls.name} holds {names} but the result is {dtype}", fix=fix)
        count = dict(zip(axes, shape)).get("c", 1)
        allowed = cls.channels[dtype]
        if allowed and count not in allowed:
            if allowed == tuple(range(1, allowed[-1] + 1)):
                holds = f"1 to {allowed[-1]}" if len(allowed) > 1 else "1"
            else:
                holds = " or ".join(str(n) for n in allowed)
            noun = "channel" if holds == "1" else "channels"
            raise FormatMismatch(f"{cls.name} holds {holds} {noun} of {dtype} but the result has {count}")

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        # a 2D image: holding it whole is what the image libraries need anyway
        self._data = np.zeros(self.shape, self.dtype)

    def write(self, start, block):
        self._data[self._slices(start, block)] = block

    def finish(self):
        self.save(self.image(self._data, self.axes))
        self._data = None

    def abort(self):
        self._data = None

    @staticmethod
    def image(data: np.ndarray, axes: str) -> np.ndarray:
        """`data` as rows x columns (x channels if it has more than one); with fewer than two
        image axes, a single row (as ilastik does)."""
        image_axes = "".join(a for a in "tzyx" if a in nonchannel_extents(data.shape, axes))
        channels = dict(zip(axes, data.shape)).get("c", 1)
        image = reorder_axes(data, axes, image_axes + ("c" if "c" in axes else ""))
        rows = image.shape[0] if len(image_axes) == 2 else 1
        image = np.ascontiguousarray(image).reshape(rows, -1, channels)
        return image[:, :, 0] if channels == 1 else image

    def save(self, image: np.ndarray) -> None:
        """Write the rows x columns (x channels) `image` to `temp_path`."""
        raise NotImplementedError
