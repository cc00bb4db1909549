"""PNG/JPEG/BMP/GIF/PNM images read with Pillow (16-bit colour PNG with imagecodecs).

ilastik reads these through vigra's impex, which always yields a channel axis: a 2D image is
'yxc' (c = 1 for grayscale), a multi-frame file is 'zyxc'. Palette images are expanded to RGB
(RGBA when the palette has transparency) as libpng does for vigra.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image

from pixelserve.errors import UserError
from pixelserve.io.source import ArraySource, DamagedPixels

PILLOW_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pnm", ".pbm")

# Pillow mode -> (mode to convert to before reading, or None to read as is; channel count).
_MODES = {
    "1": ("L", 1), "L": (None, 1), "LA": (None, 2), "La": ("LA", 2), "I": (None, 1), "F": (None, 1),
    "I;16": (None, 1), "I;16L": (None, 1), "I;16B": (None, 1), "I;16N": (None, 1),
    "RGB": (None, 3), "RGBA": (None, 4), "RGBa": ("RGBA", 4), "RGBX": ("RGB", 3), "CMYK": (None, 4),
    "YCbCr": ("RGB", 3), "LAB": (None, 3), "HSV": (None, 3), "PA": ("RGBA", 4),
}


def _png_header(path: str) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, None for other files."""
    with open(path, "rb") as handle:
        head = handle.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return head[24], head[25]


@functools.lru_cache(maxsize=4)
def _decode_frame(path: str, mtime_ns: int, frame: int, target_mode: str, use_imagecodecs: bool) -> np.ndarray:
    """Decode one whole frame. These formats cannot decode a sub-region, so the last few frames
    are kept (bounded: four frames) to let tile-by-tile reads avoid decoding the file per tile."""
    if use_imagecodecs:
        import imagecodecs

        with open(path, "rb") as handle:
            array = imagecodecs.png_decode(handle.read())
    else:
        with _open(path) as image:
            try:
                image.seek(frame)
                # Later GIF frames may come in another mode than the first; read all frames alike.
                if image.mode != target_mode:
                    image = image.convert(target_mode)
                array = np.asarray(image)
            except (OSError, SyntaxError) as error:  # Pillow's "image file is truncated", "broken PNG file"
                raise DamagedPixels(str(error)) from None
    array = array.reshape(array.shape[:2] + (-1,))
    array.setflags(write=False)
    return array


def _open(path: str) -> Image.Image:
    limit = Image.MAX_IMAGE_PIXELS
    # Pillow refuses very large images as a "decompression bomb" guard meant for untrusted web
    # uploads; microscopy images are routinely that large and ilastik reads them.
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path)
    except (OSError, ValueError, SyntaxError) as error:
        raise UserError(f"Cannot read {path} as an image ({error}); check that the file is complete.") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


class PillowSource(ArraySource):
    def __init__(self, path: str):
        self.path = path
        with _open(path) as image:
            mode, (width, height) = image.mode, image.size
            frames = getattr(image, "n_frames", 1)
            has_transparency = "transparency" in image.info
        header = _png_header(path)
        # Pillow reduces 16-bit colour PNGs to 8 bits; imagecodecs keeps all 16.
        self._use_imagecodecs = bool(header and header[0] == 16 and header[1] in (2, 4, 6))
        if self._use_imagecodecs:
            channels, dtype = {2: 3, 4: 2, 6: 4}[header[1]], np.dtype(np.uint16)
            self._convert_to = None
        elif mode == "P":
            self._convert_to = "RGBA" if has_transparency else "RGB"
            channels, dtype = len(self._convert_to), np.dtype(np.uint8)
        elif mode in _MODES:
            self._convert_to, channels = _MODES[mode]
            dtype = self._probe_dtype(mode)
        else:
            raise UserError(f"{path} uses the image mode '{mode}', which pixelserve cannot read; save it as PNG or TIFF.")
        self.frames, self._mode = frames, mode
        self.dtype = dtype
        if frames > 1:
            self.shape, self.axes = (frames, height, width, channels), "zyxc"
        else:
            self.shape, self.axes = (height, width, channels), "yxc"
        # The format itself fixes these axes; nothing is guessed from the shape.
        self.axes_from_file, self.resolution = True, {}

    def _probe_dtype(self, mode: str) -> np.dtype:
        probe = Image.new(mode if mode not in ("I;16L", "I;16B", "I;16N") else "I;16", (1, 1))
        if self._convert_to is not None:
            probe = probe.convert(self._convert_to)
        return np.asarray(probe).dtype.newbyteorder("=")

    def _frame(self, index: int) -> np.ndarray:
        target_mode = self._convert_to or self._mode
        return _decode_frame(self.path, os.stat(self.path).st_mtime_ns, index, target_mode, self._use_imagecodecs)

    def _read(self, region):
        if self.frames == 1:
            return self._frame(0)[region].astype(self.dtype, copy=True)
        frames = range(region[0].start, region[0].stop)
        out = np.empty((len(frames),) + tuple(s.stop - s.start for s in region[1:]), dtype=self.dtype)
        for i, frame in enumerate(frames):
            out[i] = self._frame(frame)[region[1:]]
        return out
