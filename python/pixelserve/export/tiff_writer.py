"""TIFF output through tifffile: an ImageJ hyperstack (axes TZCYX, or TZYXS for 8-bit RGB)
when ImageJ can hold the dtype, otherwise a plain TIFF with tifffile's shape metadata.

The file is created at full size and memory-mapped (tifffile.memmap), so blocks are written
in place as they arrive and the result never has to fit in memory. It is uncompressed, as
both ImageJ's contiguous hyperstacks and memory-mapping require.
"""

from __future__ import annotations

import numpy as np
import tifffile

from .conversion import reorder_axes
from .writer_base import FormatMismatch, FormatWriter

IMAGEJ_DTYPES = (np.dtype("uint8"), np.dtype("uint16"), np.dtype("float32"))
# ImageJ hyperstacks cannot be BigTIFF; past this size write a plain BigTIFF instead.
_IMAGEJ_MAX_BYTES = 2**32 - 2**25


class TifWriter(FormatWriter):
    name = "tif"
    extension = "tif"

    @classmethod
    def check(cls, shape, axes, dtype):
        if np.dtype(dtype).kind not in "uif":
            raise FormatMismatch(f"{cls.name} cannot hold {np.dtype(dtype)}", fix="add e.g. --export_dtype uint8")

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        sizes = dict(zip(axes, self.shape))
        nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        imagej = self.dtype in IMAGEJ_DTYPES and nbytes < _IMAGEJ_MAX_BYTES
        # ImageJ's RGB type is 8-bit with exactly three samples; all else are channel planes.
        rgb = imagej and self.dtype == np.uint8 and sizes.get("c", 1) == 3
        layout = "tzyxc" if rgb else "tzcyx"
        file_shape = tuple(sizes.get(a, 1) for a in layout)

        resolution = metadata.resolution
        # photometric always explicit: tifffile would otherwise take a last axis of 3 or 4 for RGB(A)
        options = {"metadata": {"axes": "TZYXS" if rgb else "TZCYX"}, "photometric": "rgb" if rgb else "minisblack"}
        if resolution.get("x") and resolution.get("y"):
            options["resolution"] = (1.0 / resolution["x"], 1.0 / resolution["y"])
        if imagej:
            options["imagej"] = True
            if resolution.get("z"):
                options["metadata"]["spacing"] = float(resolution["z"])
            if resolution.get("t"):
                options["metadata"]["finterval"] = float(resolution["t"])
            unit = metadata.axis_units.get("x") or metadata.axis_units.get("y")
            if unit:
                options["metadata"]["unit"] = unit
        else:
            options["bigtiff"] = nbytes >= _IMAGEJ_MAX_BYTES
        self._memmap = tifffile.memmap(temp_path, shape=file_shape, dtype=self.dtype, **options)
        self._view = reorder_axes(self._memmap.reshape(file_shape), layout, axes)

    def write(self, start, block):
        self._view[self._slices(start, block)] = block

    def finish(self):
        self._memmap.flush()
        self._release()

    def abort(self):
        self._release()

    def _release(self):
        # numpy memmaps close their file when the last reference goes
        self._view = self._memmap = None


class TiffWriter(TifWriter):
    name = "tiff"
    extension = "tiff"


class MultipageTiffWriter(TiffWriter):
    """ilastik's 'multipage tiff': one file, one page per 2D plane (the same ImageJ layout)."""

    name = "multipage tiff"
