"""PNG output through Pillow, for results with at most two non-singleton axes besides c.

Like ilastik's 2D export (vigra), singleton axes are squeezed away and the two remaining
axes become rows and columns in t, z, y, x order (so yx data is y rows by x columns whatever
the output axis order); one remaining axis becomes a single row.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .conversion import reorder_axes
from .writer_base import FormatMismatch, FormatWriter, describe_shape, nonchannel_extents

_MAX_CHANNELS = {np.dtype("uint8"): 4, np.dtype("uint16"): 1}  # what Pillow can write


class PngWriter(FormatWriter):
    name = "png"
    extension = "png"

    @classmethod
    def check(cls, shape, axes, dtype):
        dtype = np.dtype(dtype)
        extents = nonchannel_extents(shape, axes)
        if len(extents) > 2:
            raise FormatMismatch(f"{cls.name} holds 2D images but the result is {len(extents)}D ({describe_shape(shape, axes)})")
        if dtype.kind == "f":
            raise FormatMismatch(
                f"{cls.name} cannot hold {dtype}",
                fix="add --export_dtype uint8 --pipeline_result_drange '(0.0,1.0)' --export_drange '(0,255)'",
            )
        if dtype not in _MAX_CHANNELS:
            raise FormatMismatch(f"{cls.name} holds uint8 or uint16 but the result is {dtype}", fix="add --export_dtype uint8 or uint16 if the values fit")
        channels = dict(zip(axes, shape)).get("c", 1)
        if channels > _MAX_CHANNELS[dtype]:
            raise FormatMismatch(f"{cls.name} holds 1 to {_MAX_CHANNELS[dtype]} channels of {dtype} but the result has {channels}")

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        # a 2D image: holding it whole is what Pillow needs anyway
        self._data = np.zeros(self.shape, self.dtype)

    def write(self, start, block):
        self._data[self._slices(start, block)] = block

    def finish(self):
        image_axes = "".join(a for a in "tzyx" if a in nonchannel_extents(self.shape, self.axes))
        channels = dict(zip(self.axes, self.shape)).get("c", 1)
        image = reorder_axes(self._data, self.axes, image_axes + ("c" if "c" in self.axes else ""))
        # rows x columns x channels; with fewer than two image axes, a single row (as ilastik does)
        rows = image.shape[0] if len(image_axes) == 2 else 1
        image = np.ascontiguousarray(image).reshape(rows, -1, channels)
        Image.fromarray(image[:, :, 0] if channels == 1 else image).save(self.temp_path, format="PNG")
        self._data = None

    def abort(self):
        self._data = None
