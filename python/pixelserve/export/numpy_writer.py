"""`.npy` output, memory-mapped (np.lib.format.open_memmap) so that large results stream to
disk block by block. (ilastik builds the whole array in memory first; the file is the same.)"""

from __future__ import annotations

import numpy as np

from .writer_base import FormatWriter


class NumpyWriter(FormatWriter):
    name = "numpy"
    extension = "npy"

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        self._memmap = np.lib.format.open_memmap(temp_path, mode="w+", dtype=self.dtype, shape=self.shape)

    def write(self, start, block):
        self._memmap[self._slices(start, block)] = block

    def finish(self):
        self._memmap.flush()
        self._memmap = None

    def abort(self):
        self._memmap = None
