"""'<format> sequence' output: one 2D file per slice, as ilastik's stack export does it.

ilastik's rule (OpStackWriter): the non-singleton axes of the output, in its axis order, must
be three, or four with c not first; the first is the step axis and each step is written as
one 2D image. File names come from the output name's {slice_index} (see paths.SliceIndex),
numbered from the subregion's start on the step axis.

A slice is written as soon as all its blocks have arrived, so at most the slices that the
blocks in flight touch are held in memory. Files are written under temporary names; the
pipeline renames them all only after every one was written.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tifffile

from pixelserve.errors import UserError

from .image2d_writer import Image2dWriter
from .paths import SliceIndex, fill_slice_index
from .tiff_writer import TifWriter, TiffWriter
from .writer_base import FormatMismatch, FormatWriter, describe_shape, nonchannel_extents

SEQUENCE_SUFFIX = " sequence"


def step_axis(shape, axes: str) -> str | None:
    """ilastik's step axis of a sequence, or None if the result cannot be one."""
    nonsingleton = [a for a, n in zip(axes, shape) if n > 1]
    if len(nonsingleton) == 3 or (len(nonsingleton) == 4 and "c" in nonsingleton[1:]):
        return nonsingleton[0]
    return None


class SequenceWriter(FormatWriter):
    sequence = True
    slice_writer: ClassVar[type[Image2dWriter]]

    @classmethod
    def check(cls, shape, axes, dtype):
        axis = step_axis(shape, axes)
        if axis is None:
            fix = f"use --output_format {cls.slice_writer.name!r}" if len(nonchannel_extents(shape, axes)) <= 2 else None
            raise FormatMismatch(
                f"{cls.name} writes the slices along the first non-singleton axis as 2D images, so it needs exactly "
                f"3 non-singleton axes besides c, but the result has {describe_shape(shape, axes)}", fix=fix)
        cls.slice_writer.check(cls._slice_shape(shape, axes, axis), axes, dtype)

    @staticmethod
    def _slice_shape(shape, axes, axis) -> tuple[int, ...]:
        return tuple(1 if a == axis else n for a, n in zip(axes, shape))

    @classmethod
    def output_paths(cls, path, shape, axes, origin):
        axis = step_axis(shape, axes)
        count = shape[axes.index(axis)]
        offset = int(origin.get(axis, 0))
        paths = [fill_slice_index(path, SliceIndex(offset + i, offset, count)) for i in range(count)]
        if len(set(paths)) < count:
            raise UserError(f"The output name {path!r} gives several slices the same file name: "
                            "write {slice_index} without a format spec in --output_filename_format")
        return paths

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        self._axis = axes.index(step_axis(self.shape, axes))
        self._slice = self._slice_shape(self.shape, axes, axes[self._axis])
        self._slice_size = int(np.prod(self._slice, dtype=np.int64))
        self._temp_paths = self.output_paths(temp_path, self.shape, axes, metadata.origin)
        self._final_paths = self.output_paths(final_path, self.shape, axes, metadata.origin)
        self._pending: dict[int, list] = {}  # slice number -> [data, elements written]

    def write(self, start, block):
        inner_start = tuple(0 if i == self._axis else s for i, s in enumerate(start))
        for k in range(block.shape[self._axis]):
            number = start[self._axis] + k
            part = np.take(block, [k], axis=self._axis)
            pending = self._pending.setdefault(number, [np.zeros(self._slice, self.dtype), 0])
            pending[0][self._slices(inner_start, part)] = part
            pending[1] += part.size
            if pending[1] >= self._slice_size:
                self._save(number)

    def _save(self, number):
        data, _ = self._pending.pop(number)
        writer = self.slice_writer(self._temp_paths[number], self._final_paths[number], self._slice, self.axes,
                                   self.dtype, self.metadata)
        writer.write((0,) * len(self._slice), data)
        writer.finish()

    def finish(self):
        for number in sorted(self._pending):  # not expected: every block arrived
            self._save(number)

    def abort(self):
        self._pending = {}


class TifSliceWriter(Image2dWriter):
    """One 2D TIFF of a 'tif sequence' (any integer or float dtype, any channel count)."""

    name = TifWriter.name
    extension = TifWriter.extension

    def save(self, image):
        if image.ndim == 3 and not (image.dtype == np.uint8 and image.shape[2] == 3):
            image = np.moveaxis(image, 2, 0)  # channel planes
        rgb = image.ndim == 3 and image.shape[2] == 3
        tifffile.imwrite(self.temp_path, image, photometric="rgb" if rgb else "minisblack")


class TiffSliceWriter(TifSliceWriter):
    name = TiffWriter.name
    extension = TiffWriter.extension


def sequence_of(slice_writer: type[Image2dWriter]) -> type[SequenceWriter]:
    """The '<format> sequence' writer of a 2D format."""
    return type(f"{slice_writer.__name__}Sequence", (SequenceWriter,), {
        "name": slice_writer.name + SEQUENCE_SUFFIX, "extension": slice_writer.extension, "slice_writer": slice_writer,
        "__doc__": f"{slice_writer.name} files, one per slice.",
    })
