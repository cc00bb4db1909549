"""TIFF output through tifffile: an ImageJ hyperstack (axes TZCYX, or TZYXS for 8-bit RGB)
when ImageJ can hold the dtype, otherwise a plain TIFF with tifffile's shape metadata.

Beyond ilastik's TIFFs, the ImageJ metadata makes Fiji show the result as it is meant:
calibration and origin (a cutout keeps the source's coordinates), the channels named after
the classes, probabilities in their class colours with a 0-1 display range, and label images
with a colour table (an 8-bit palette TIFF, which every viewer reads, where ImageJ does not
need a hyperstack).

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
            if not rgb:
                _add_imagej_display(options, metadata, sizes, self.dtype)
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


def _add_imagej_display(options: dict, metadata, sizes: dict, dtype: np.dtype) -> None:
    """ImageJ's origin, slice labels, display ranges and LUTs (see the module docstring)."""
    imagej = options["metadata"]
    for axis in "xyz":
        if metadata.origin.get(axis):
            # ImageJ's origin is the pixel position of coordinate 0
            imagej[f"{axis}origin"] = -float(metadata.origin[axis])
    channels = sizes.get("c", 1)
    if len(metadata.channel_names) == channels:
        planes = sizes.get("t", 1) * sizes.get("z", 1)
        imagej["Labels"] = list(metadata.channel_names) * planes  # ImageJ orders planes t, z, c
    if metadata.drange is not None:
        low, high = (float(v) for v in metadata.drange)
        imagej["Ranges"] = (low, high) * channels
        imagej["min"], imagej["max"] = low, high
    if metadata.label_colors and channels == 1 and dtype.kind == "u":
        table = label_color_table(metadata.label_colors)
        imagej["min"], imagej["max"] = 0, 255  # value v -> table entry v
        if dtype == np.uint8 and (sizes.get("t", 1) == 1 or sizes.get("z", 1) == 1):
            options["photometric"] = "palette"
            options["colormap"] = table.astype(np.uint16) * 257
        else:  # a palette TIFF cannot be an ImageJ hyperstack
            imagej["LUTs"] = [table]
    elif len(metadata.channel_colors) == channels > 1:
        ramp = np.linspace(0.0, 1.0, 256)
        imagej["LUTs"] = [np.rint(np.outer(color, ramp)).astype(np.uint8) for color in metadata.channel_colors]
        imagej["mode"] = "composite"


def label_color_table(colors) -> np.ndarray:
    """A 3x256 colour table: 0 black, value v the colour of label v, values without a label gray."""
    table = np.tile(np.arange(256, dtype=np.uint8), (3, 1))
    table[:, 0] = 0
    for value, color in enumerate(colors[:255], start=1):
        table[:, value] = color
    return table


class TiffWriter(TifWriter):
    name = "tiff"
    extension = "tiff"


class MultipageTiffWriter(TiffWriter):
    """ilastik's 'multipage tiff': one file, one page per 2D plane (the same ImageJ layout)."""

    name = "multipage tiff"
