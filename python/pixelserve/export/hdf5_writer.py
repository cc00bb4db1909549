"""HDF5 output as ilastik writes it (`lazyflow/operators/ioOperators/ioOperators.py`,
OpH5N5WriterBigDataset): one chunked dataset with `axistags`, and `drange`/`display_mode`
when known."""

from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import vigra_axistags_json

from .writer_base import FormatWriter


def ilastik_chunk_shape(shape, axes: str, itemsize: int, target_bytes: float = 512_000.0) -> tuple[int, ...]:
    """ilastik's chunk choice: as isometric as possible with about `target_bytes` per chunk
    (512 kB for HDF5 and N5, 1 MB for OME-Zarr), one t and one c per chunk
    (lazyflow.roi.determineBlockShape); small axes are filled first so that the larger ones
    take up the slack."""
    max_shape = [1 if a in "tc" else int(n) for a, n in zip(axes, shape)]
    target = target_bytes / itemsize
    chunks = [1] * len(max_shape)
    volume = 1
    by_size = sorted(range(len(max_shape)), key=lambda i: (max_shape[i], i))
    for remaining, i in zip(range(len(max_shape), 0, -1), by_size):
        side = int(pow(target // volume, 1.0 / remaining) + 0.5)
        # ilastik would hand h5py a 0 here once rounding overshoots the target; 1 is the sane value
        chunks[i] = max(1, min(side, max_shape[i]))
        volume *= chunks[i]
    return tuple(chunks)


class Hdf5Writer(FormatWriter):
    name = "hdf5"
    extension = "h5"
    hierarchical = True
    gzip_level: int | None = None

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        mode = "w"
        if os.path.exists(final_path):
            # ilastik opens an existing file in append mode and replaces only its dataset, so other
            # datasets survive (e.g. one file collecting several lanes); work on a copy so that a
            # failed export leaves the original untouched.
            if not h5py.is_hdf5(final_path):
                raise UserError(f"The output file {final_path} exists and is not an HDF5 file: delete it or choose another --output_filename_format")
            shutil.copyfile(final_path, temp_path)
            mode = "a"
        self._file = h5py.File(temp_path, mode)
        path = metadata.internal_path.replace("\\", "/")  # as ilastik does for Windows-style input
        if path in self._file:
            del self._file[path]
        options = {"compression": "gzip", "compression_opts": self.gzip_level} if self.gzip_level else {}
        self._dataset = self._file.create_dataset(
            path, shape=self.shape, dtype=self.dtype,
            chunks=ilastik_chunk_shape(self.shape, axes, self.dtype.itemsize), **options,
        )
        attrs = self._dataset.attrs
        attrs["axistags"] = vigra_axistags_json(axes, metadata.resolution)
        if metadata.drange is not None:
            attrs["drange"] = np.array(metadata.drange, dtype=self.dtype)
        if metadata.display_mode is not None:
            attrs["display_mode"] = metadata.display_mode
        units = {a: u for a, u in metadata.axis_units.items() if a in axes}
        if units:
            attrs["axis_units"] = json.dumps(units)
        for index, axis in enumerate(axes):
            self._dataset.dims[index].label = axis

    def write(self, start, block):
        self._dataset[self._slices(start, block)] = block

    def finish(self):
        self._file.close()

    def abort(self):
        self._file.close()


class CompressedHdf5Writer(Hdf5Writer):
    name = "compressed hdf5"
    gzip_level = 1  # ilastik: "optimize for speed, not disk space"
