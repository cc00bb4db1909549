"""'blockwise hdf5': a format ilastik lists but never wrote.

ilastik offers 'blockwise hdf5' (extension .json) among its export formats
(lazyflow/operators/ioOperators/opExportSlot.py, nd_format_formats), but its export function
has been a stub that raises NotImplementedError since the name was added in 2014 (ilastik
commit ef3b4d7), in 1.4.1 and at HEAD alike. The name refers to lazyflow's BlockwiseFileset
(lazyflow/utility/io_util/blockwiseFileset.py: a JSON description next to one HDF5 file per
block), which ilastik's batch input cannot open either: its .json readers try the optional
'quilted' H5BlockStore reader first. So no ilastik run has ever produced such a file, and no
reader would open one. pixelserve keeps the name so that every format ilastik lists is known,
and stops before computing anything, naming the formats that write blockwise-chunked files.
"""

from __future__ import annotations

from .writer_base import FormatMismatch, FormatWriter


class BlockwiseHdf5Writer(FormatWriter):
    name = "blockwise hdf5"
    extension = "json"

    @classmethod
    def check(cls, shape, axes, dtype):
        raise FormatMismatch(
            "ilastik lists 'blockwise hdf5' but has never implemented it (its export raises NotImplementedError), "
            "so there is no such file to write",
            fix="use --output_format 'compressed hdf5' (one file, chunked like ilastik's) or "
                "'multi-scale OME-Zarr' (one file per chunk, readable over HTTP)")

    def write(self, start, block):
        raise AssertionError("check() refuses every result, so no blockwise hdf5 writer is ever created")
