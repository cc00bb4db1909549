"""The other 2D formats of ilastik's export, written through Pillow (see image2d_writer for
the 2D rules): bmp, gif, jpeg/jpg, pbm, pgm, pnm, ppm.

jpeg is lossy (written at quality 100 without chroma subsampling, still not exact), so it
suits viewing, not label images. gif is written as a gray palette, pbm as 1 bit (the result
must hold only 0 and 1).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pixelserve.errors import UserError

from .image2d_writer import Image2dWriter

_U8, _U16 = np.dtype("uint8"), np.dtype("uint16")


class _PillowWriter(Image2dWriter):
    pil_format = ""
    options: dict = {}

    def save(self, image):
        Image.fromarray(image).save(self.temp_path, format=self.pil_format, **self.options)


class BmpWriter(_PillowWriter):
    name = extension = pil_format = "bmp"
    channels = {_U8: (1, 3)}


class GifWriter(_PillowWriter):
    name = extension = pil_format = "gif"
    channels = {_U8: (1,)}
    options = {"optimize": False}  # keep the gray palette: index = value


class JpegWriter(_PillowWriter):
    name = extension = pil_format = "jpeg"
    channels = {_U8: (1, 3)}
    options = {"quality": 100, "subsampling": 0}


class JpgWriter(JpegWriter):
    name = extension = "jpg"


class PgmWriter(_PillowWriter):
    name = extension = "pgm"
    pil_format = "ppm"  # Pillow writes all of P[BGP]M as "PPM", choosing the type from the mode
    channels = {_U8: (1,), _U16: (1,)}


class PpmWriter(PgmWriter):
    name = extension = "ppm"
    channels = {_U8: (3,)}


class PnmWriter(PgmWriter):
    name = extension = "pnm"
    channels = {_U8: (1, 3), _U16: (1,)}


class PbmWriter(PgmWriter):
    name = extension = "pbm"
    channels = {_U8: (1,)}

    def save(self, image):
        values = np.unique(image)
        if not np.isin(values, (0, 1)).all():
            shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
            raise UserError(f"{self.name} holds 1-bit images (values 0 and 1) but the result has the values {shown}: "
                            "use --output_format 'pgm' or 'png' (or export a result of only 0 and 1)")
        Image.fromarray(image.astype(bool)).save(self.temp_path, format=self.pil_format)


PILLOW_WRITERS = (BmpWriter, GifWriter, JpegWriter, JpgWriter, PbmWriter, PgmWriter, PnmWriter, PpmWriter)
