"""The 2D formats that vigra writes for ilastik but no maintained Python library does: hdr
(Radiance RGBE), xv (Khoros VIFF) and ras (Sun raster). Each is a fixed header followed by
uncompressed pixels, written here from the formats' published layouts (see image2d_writer for
the 2D rules). Rules per format, from vigra's codecs (src/impex/{hdr,viff,sun}.cxx) and
ilastik's FormatValidity (lazyflow/operators/ioOperators/opExportSlot.py):

- hdr: float32, 3 channels (vigra refuses anything else). A single channel is accepted too and
  written as gray (R = G = B), which vigra would refuse: nothing is lost and no flag could make
  3 channels out of 1. RGBE keeps 8 significant bits per pixel (relative to the brightest of
  the three values) and only values from 0 up to 2**127, so negative or non-finite values are
  refused.
- xv: uint8, int16, int32, float32 or float64 (vigra's VIFF pixel types), any channel count
  (stored as bands). ilastik leaves xv out of its format list although vigra writes it. Note
  that ImageMagick 6 reads only 1 to 4 bands, and shows non-uint8 data wrongly: it stretches
  the values' min..max to 16 bits and then keeps only the low byte.
- ras: uint8 with 1 or 3 channels.
"""

from __future__ import annotations

import struct

import numpy as np

from pixelserve.errors import UserError

from .image2d_writer import Image2dWriter

_U8, _I16, _I32 = np.dtype("uint8"), np.dtype("int16"), np.dtype("int32")
_F32, _F64 = np.dtype("float32"), np.dtype("float64")


def _as_channels_last(image: np.ndarray) -> np.ndarray:
    """rows x columns x channels, also for a single channel."""
    return image[:, :, np.newaxis] if image.ndim == 2 else image


class HdrWriter(Image2dWriter):
    """Radiance RGBE: a text header, then 4 bytes per pixel (three 8-bit mantissas sharing an
    exponent). Scanlines are written flat (uncompressed), which every reader accepts; the
    first pixel of a flat scanline can never look like the run-length marker, because the
    brightest channel's mantissa is always >= 128."""

    name = extension = "hdr"
    channels = {_F32: (1, 3)}
    #: RGBE's shared exponent is one byte biased by 128
    _LARGEST = 2.0**127

    def save(self, image):
        rgb = _as_channels_last(image).astype(np.float64)
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        if not np.isfinite(rgb).all() or rgb.min(initial=0.0) < 0 or rgb.max(initial=0.0) >= self._LARGEST:
            raise UserError(f"{self.name} (Radiance RGBE) holds values from 0 to 1.7e38 but the result has values "
                            "outside that range (negative, infinite or NaN): use --output_format 'tif' (or shift the "
                            "values with --pipeline_result_drange and --export_drange)")
        brightest = rgb.max(axis=2)
        mantissa, exponent = np.frexp(brightest)
        dark = brightest < 1e-32  # Ward's reference encoder stores these as black
        scale = np.where(dark, 0.0, mantissa * 256.0 / np.where(dark, 1.0, brightest))
        pixels = np.empty(rgb.shape[:2] + (4,), np.uint8)
        pixels[:, :, :3] = np.clip(np.floor(rgb * scale[:, :, np.newaxis]), 0, 255)
        pixels[:, :, 3] = np.where(dark, 0, exponent + 128)
        rows, columns = pixels.shape[:2]
        header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {rows} +X {columns}\n".encode("ascii")
        with open(self.temp_path, "wb") as file:
            file.write(header)
            file.write(pixels.tobytes())


# Khoros VIFF header fields (the "xvimage" structure; 1024 bytes, numbers in the byte order
# the header announces). Offsets of the fields written; all others stay 0.
_VIFF_HEADER_SIZE = 1024
_VIFF_IDENTIFIER, _VIFF_FILE_TYPE, _VIFF_RELEASE, _VIFF_VERSION = 0xAB, 1, 1, 3
# Little-endian, as vigra writes on x86 (it writes the host's order): ImageMagick 6, the main
# remaining VIFF reader, byte-swaps 2- and 4-byte values but not doubles.
_VIFF_LITTLE_ENDIAN = 0x8  # VFF_DEP_NSORDER
_VIFF_ROW_SIZE, _VIFF_COL_SIZE = 520, 524  # columns (pixels per row), rows
_VIFF_LOCATION_TYPE, _VIFF_NUMBER_OF_IMAGES = 548, 556
_VIFF_NUM_DATA_BANDS, _VIFF_DATA_STORAGE_TYPE = 560, 564  # encode scheme and maps stay 0: raw, none
_VIFF_COLOR_SPACE_MODEL = 600
_VIFF_IMPLICIT_LOCATIONS = 1
_VIFF_STORAGE_TYPES = {_U8: 1, _I16: 2, _I32: 4, _F32: 5, _F64: 9}
_VIFF_GENERIC_RGB, _VIFF_NO_COLOR_SPACE = 15, 0


class XvWriter(Image2dWriter):
    """Khoros VIFF: a 1024-byte header, then the bands one after another (band-sequential),
    each rows x columns, little-endian."""

    name = extension = "xv"
    channels = {dtype: () for dtype in _VIFF_STORAGE_TYPES}

    def save(self, image):
        bands = np.moveaxis(_as_channels_last(image), 2, 0)
        count, rows, columns = bands.shape
        header = bytearray(_VIFF_HEADER_SIZE)
        header[0:5] = bytes((_VIFF_IDENTIFIER, _VIFF_FILE_TYPE, _VIFF_RELEASE, _VIFF_VERSION, _VIFF_LITTLE_ENDIAN))
        fields = {
            _VIFF_ROW_SIZE: columns, _VIFF_COL_SIZE: rows,
            _VIFF_LOCATION_TYPE: _VIFF_IMPLICIT_LOCATIONS, _VIFF_NUMBER_OF_IMAGES: 1,
            _VIFF_NUM_DATA_BANDS: count, _VIFF_DATA_STORAGE_TYPE: _VIFF_STORAGE_TYPES[self.dtype],
            # as vigra: three bands are marked RGB, any other count carries no colour meaning
            _VIFF_COLOR_SPACE_MODEL: _VIFF_GENERIC_RGB if count == 3 else _VIFF_NO_COLOR_SPACE,
        }
        for offset, value in fields.items():
            struct.pack_into("<I", header, offset, value)
        with open(self.temp_path, "wb") as file:
            file.write(header)
            file.write(np.ascontiguousarray(bands, dtype=self.dtype.newbyteorder("<")).tobytes())


_SUN_MAGIC = 0x59A66A95
_SUN_STANDARD = 1  # RT_STANDARD: uncompressed, colour as B, G, R
_SUN_NO_COLORMAP = 0


class RasWriter(Image2dWriter):
    """Sun raster: eight big-endian 32-bit header fields, then the rows, each padded to an even
    number of bytes as the format requires (vigra's encoder skips that padding, so its files
    of odd byte width are misread by other readers)."""

    name = extension = "ras"
    channels = {_U8: (1, 3)}

    def save(self, image):
        pixels = _as_channels_last(image)
        rows, columns, channels = pixels.shape
        if channels == 3:
            pixels = pixels[:, :, ::-1]  # RT_STANDARD stores BGR
        row_bytes = columns * channels
        padded = np.zeros((rows, row_bytes + row_bytes % 2), np.uint8)
        padded[:, :row_bytes] = pixels.reshape(rows, row_bytes)
        header = struct.pack(">8I", _SUN_MAGIC, columns, rows, 8 * channels, padded.size, _SUN_STANDARD,
                             _SUN_NO_COLORMAP, 0)
        with open(self.temp_path, "wb") as file:
            file.write(header)
            file.write(padded.tobytes())


RASTER_WRITERS = (HdrWriter, XvWriter, RasWriter)
