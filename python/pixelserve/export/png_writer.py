"""PNG output through Pillow (see image2d_writer for the 2D rules)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .image2d_writer import Image2dWriter


class PngWriter(Image2dWriter):
    name = "png"
    extension = "png"
    channels = {np.dtype("uint8"): (1, 2, 3, 4), np.dtype("uint16"): (1,)}  # what Pillow can write

    def save(self, image):
        Image.fromarray(image).save(self.temp_path, format="PNG")
