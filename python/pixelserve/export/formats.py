"""The registry of output formats. To add one: write a FormatWriter subclass and list it in
WRITERS (and, if it should be proposed when a result does not fit another format, in
_SUGGESTED)."""

from __future__ import annotations

from pixelserve.errors import UserError

from .blockwise_hdf5 import BlockwiseHdf5Writer
from .dvid_writer import DvidWriter
from .hdf5_writer import CompressedHdf5Writer, Hdf5Writer
from .n5_writer import CompressedN5Writer, N5Writer
from .numpy_writer import NumpyWriter
from .ome_zarr_writer import MultiScaleOmeZarrWriter, SingleScaleOmeZarrWriter
from .pillow_writers import PILLOW_WRITERS
from .png_writer import PngWriter
from .raster_writers import RASTER_WRITERS
from .sequence_writer import MultipageTiffSequenceWriter, TiffSliceWriter, TifSliceWriter, sequence_of
from .tiff_writer import MultipageTiffWriter, TiffWriter, TifWriter
from .writer_base import FormatMismatch, FormatWriter
from .zarr_writer import ZarrWriter

_IMAGES_2D = (PngWriter, *PILLOW_WRITERS, *RASTER_WRITERS)
_SEQUENCES = tuple(sequence_of(w) for w in (*_IMAGES_2D, TifSliceWriter, TiffSliceWriter))
WRITERS: dict[str, type[FormatWriter]] = {
    w.name: w for w in (Hdf5Writer, CompressedHdf5Writer, TifWriter, TiffWriter, PngWriter, NumpyWriter,
                        *PILLOW_WRITERS, *RASTER_WRITERS, *_SEQUENCES, MultipageTiffWriter,
                        MultipageTiffSequenceWriter, N5Writer, CompressedN5Writer, ZarrWriter,
                        SingleScaleOmeZarrWriter, MultiScaleOmeZarrWriter, DvidWriter, BlockwiseHdf5Writer)
}
OUTPUT_FORMATS: tuple[str, ...] = tuple(WRITERS)
DEFAULT_FORMAT = CompressedHdf5Writer.name  # ilastik's default (ilastik/config.py)

# Proposed, in this order, when a result does not fit the chosen format.
_SUGGESTED = (TifWriter, CompressedHdf5Writer, NumpyWriter)


def writer_class(output_format: str) -> type[FormatWriter]:
    """The writer of `output_format`, or a UserError naming the valid formats."""
    try:
        return WRITERS[output_format]
    except KeyError:
        valid = ", ".join(repr(name) for name in OUTPUT_FORMATS)
        raise UserError(f"Unknown --output_format {output_format!r}: choose one of {valid}") from None


def _fits(writer: type[FormatWriter], shape, axes, dtype) -> bool:
    try:
        writer.check(shape, axes, dtype)
    except FormatMismatch:
        return False
    return True


def check_fits(writer: type[FormatWriter], shape, axes, dtype) -> None:
    """Raise a UserError (cause and fix) if `writer` cannot hold the result."""
    try:
        writer.check(shape, axes, dtype)
    except FormatMismatch as mismatch:
        fix = mismatch.fix
        if fix is None:
            fitting = [w.name for w in _SUGGESTED if w is not writer and _fits(w, shape, axes, dtype)][:2]
            fix = "use --output_format " + " or ".join(repr(name) for name in fitting)
            sequence = WRITERS.get(f"{writer.name} sequence")
            if sequence is not None and _fits(sequence, shape, axes, dtype):
                fix += (f", or {sequence.name!r} with {{slice_index}} in --output_filename_format "
                        "for one file per slice")
        raise UserError(f"{mismatch.problem}: {fix}") from None
