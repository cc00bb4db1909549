"""'<format> sequence' output: one file per step along the first non-singleton axis, as
ilastik's stack exports do it.

ilastik's rules: a '<2D format> sequence' (OpStackWriter) needs 3 non-singleton output axes,
or 4 with c not first, and writes each step as one 2D image; a 'multipage tiff sequence'
(OpExportMultipageTiffSequence) needs 4, or 5 with c not first, and writes each step as one
multipage TIFF of what remains (e.g. tzyxc: one zyxc TIFF per time point). In both, the
first non-singleton axis (c included) is the step axis. File names come from the output
name's {slice_index} (see paths.SliceIndex), numbered from the subregion's start on the step
axis.

Each step's file is opened when its first block arrives and finished as soon as all its
blocks have, so only the steps that the blocks in flight touch are open at a time (2D images
are assembled in memory, TIFFs are memory-mapped). Files are written under temporary names;
the pipeline renames them all only after every one was written.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tifffile

from pixelserve.errors import UserError

from .image2d_writer import Image2dWriter
from .paths import SliceIndex, fill_slice_index
from .tiff_writer import MultipageTiffWriter, TiffWriter, TifWriter
from .writer_base import FormatMismatch, FormatWriter, describe_shape, nonchannel_extents

SEQUENCE_SUFFIX = " sequence"


def step_axis(shape, axes: str, file_dims: int = 2) -> str | None:
    """ilastik's step axis of a sequence whose files hold `file_dims` dimensions (2 for
    images, 3 for multipage TIFFs), or None if the result cannot be one."""
    nonsingleton = [a for a, n in zip(axes, shape) if n > 1]
    count = len(nonsingleton)
    if count == file_dims + 1 or (count == file_dims + 2 and "c" in nonsingleton[1:]):
        return nonsingleton[0]
    return None


class SequenceWriter(FormatWriter):
    sequence = True
    slice_writer: ClassVar[type[FormatWriter]]
    file_dims: ClassVar[int] = 2  # dimensions of each file, not counting c

    @classmethod
    def check(cls, shape, axes, dtype):
        axis = step_axis(shape, axes, cls.file_dims)
        if axis is None:
            raise FormatMismatch(cls._wrong_dimensions(shape, axes), fix=cls._dimensions_fix(shape, axes))
        cls.slice_writer.check(cls._slice_shape(shape, axes, axis), axes, dtype)

    @classmethod
    def _wrong_dimensions(cls, shape, axes) -> str:
        return (f"{cls.name} writes the slices along the first non-singleton axis as 2D images, so it needs exactly "
                f"3 non-singleton axes besides c, but the result has {describe_shape(shape, axes)}")

    @classmethod
    def _dimensions_fix(cls, shape, axes) -> str | None:
        if len(nonchannel_extents(shape, axes)) <= cls.file_dims:
            return f"use --output_format {cls.slice_writer.name!r}"
        return None  # the registry proposes formats that fit

    @staticmethod
    def _slice_shape(shape, axes, axis) -> tuple[int, ...]:
        return tuple(1 if a == axis else n for a, n in zip(axes, shape))

    @classmethod
    def output_paths(cls, path, shape, axes, origin):
        axis = step_axis(shape, axes, cls.file_dims)
        count = shape[axes.index(axis)]
        offset = int(origin.get(axis, 0))
        paths = [fill_slice_index(path, SliceIndex(offset + i, offset, count)) for i in range(count)]
        if len(set(paths)) < count:
            raise UserError(f"The output name {path!r} gives several slices the same file name: "
                            "write {slice_index} without a format spec in --output_filename_format")
        return paths

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        self._axis = axes.index(step_axis(self.shape, axes, self.file_dims))
        self._slice = self._slice_shape(self.shape, axes, axes[self._axis])
        self._slice_size = int(np.prod(self._slice, dtype=np.int64))
        self._temp_paths = self.output_paths(temp_path, self.shape, axes, metadata.origin)
        self._final_paths = self.output_paths(final_path, self.shape, axes, metadata.origin)
        self._open: dict[int, list] = {}  # slice number -> [its writer, elements written]

    def write(self, start, block):
        inner_start = tuple(0 if i == self._axis else s for i, s in enumerate(start))
        for k in range(block.shape[self._axis]):
            number = start[self._axis] + k
            part = np.take(block, [k], axis=self._axis)
            entry = self._open.get(number)
            if entry is None:
                entry = self._open[number] = [self._slice_writer(number), 0]
            entry[0].write(inner_start, part)
            entry[1] += part.size
            if entry[1] >= self._slice_size:
                del self._open[number]
                entry[0].finish()

    def _slice_writer(self, number: int) -> FormatWriter:
        return self.slice_writer(self._temp_paths[number], self._final_paths[number], self._slice, self.axes,
                                 self.dtype, self.metadata)

    def finish(self):
        for number in sorted(self._open):  # not expected: every block arrived
            self._open.pop(number)[0].finish()

    def abort(self):
        while self._open:
            _, (writer, _) = self._open.popitem()
            writer.abort()


class MultipageTiffSequenceWriter(SequenceWriter):
    """ilastik's 'multipage tiff sequence': one multipage TIFF (the same layout as
    'multipage tiff') per step of the first non-singleton axis."""

    name = MultipageTiffWriter.name + SEQUENCE_SUFFIX
    extension = MultipageTiffWriter.extension
    slice_writer = MultipageTiffWriter
    file_dims = 3

    @classmethod
    def _wrong_dimensions(cls, shape, axes) -> str:
        return (f"{cls.name} writes one multipage TIFF per step along the first non-singleton axis, so it needs "
                f"4 non-singleton axes, or 5 with c not first, but the result has {describe_shape(shape, axes)}")


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
