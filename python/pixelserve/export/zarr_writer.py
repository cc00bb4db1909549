"""zarr output (ilastik has only OME-Zarr exports; this is the zarr counterpart of its HDF5 and
N5 exports): one chunked, gzip level 1 compressed array at the internal path of a zarr group
folder, with ilastik's chunk shape and its attributes `axistags` (the HDF5 JSON text),
`drange`, `display_mode` and `axis_units`, plus `_ARRAY_DIMENSIONS` (the axis keys, the
xarray convention that napari and others read).

New containers are zarr format 2: it is what most readers understand (zarr-python 2 and 3,
Fiji's n5-zarr, tensorstore, neuroglancer, and OME-Zarr 0.4 tools), while format 3 needs
zarr-python 3 or recent readers. An existing container keeps its own format.
"""

from __future__ import annotations

import json
import os

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import vigra_axistags_json

from .chunk_assembly import ChunkAssembler, copy_container
from .hdf5_writer import ilastik_chunk_shape
from .writer_base import ConcurrentWriter

_GZIP_LEVEL = 1  # as ilastik's compressed hdf5 and n5: "optimize for speed, not disk space"
_GROUP_FILES = (".zgroup", "zarr.json")


def _zarr():
    import zarr  # imported lazily, as pixelserve.io.zarr_files does

    return zarr


def _check_container(path: str) -> None:
    if not os.path.isdir(path):
        raise UserError(f"The output {path} exists and is not a zarr folder: delete it or choose another "
                        "--output_filename_format")
    if os.listdir(path) and not any(os.path.isfile(os.path.join(path, name)) for name in _GROUP_FILES):
        what = "a zarr array, not a group" if os.path.isfile(os.path.join(path, ".zarray")) else "not a zarr group"
        raise UserError(f"The output {path} exists and is {what}, so it cannot take the dataset: delete it or "
                        "choose another --output_filename_format")


class ZarrWriter(ConcurrentWriter):
    name = "zarr"
    extension = "zarr"
    hierarchical = True

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata, *, chunks=None, create=True):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata, chunks=chunks)
        chunks = self.chunks or ilastik_chunk_shape(self.shape, axes, self.dtype.itemsize)
        path = metadata.internal_path.replace("\\", "/").strip("/")  # as ilastik does for Windows-style input
        if create:
            self._array = self._create(path, chunks)
        else:
            self._array = _zarr().open_array(temp_path, path=path, mode="r+")
        self._assembler = ChunkAssembler(self.shape, chunks, self.dtype, self._store_chunk, self._load_chunk)

    def _create(self, path: str, chunks):
        temp_path, final_path = self.temp_path, self.final_path
        zarr = _zarr()
        if os.path.lexists(final_path):
            # keep the container's other arrays (as the HDF5 and N5 writers do), working on a copy
            _check_container(final_path)
            copy_container(final_path, temp_path)
            if os.listdir(temp_path):
                root = zarr.open_group(temp_path, mode="r+")
            else:
                root = self._new_group(temp_path)
        else:
            root = self._new_group(temp_path)
        zarr_format = getattr(getattr(root, "metadata", None), "zarr_format", 2)

        *parents, name = path.split("/")
        group = root
        try:
            for parent in parents:
                group = group.require_group(parent)
        except Exception as error:  # zarr raises its own ContainsArrayError and the like
            raise UserError(f"The internal path {path!r} cannot be created in {final_path} ({error}): choose another "
                            "--output_internal_path") from None
        array = self._create_array(group, name, chunks, zarr_format)
        array.attrs.update(self._attributes(zarr_format))
        return array

    @staticmethod
    def _new_group(path: str):
        zarr = _zarr()
        if int(zarr.__version__.split(".")[0]) >= 3:
            return zarr.open_group(path, mode="w", zarr_format=2)
        return zarr.open_group(path, mode="w")

    def _create_array(self, group, name: str, chunks, zarr_format: int):
        options = dict(shape=self.shape, chunks=chunks, dtype=self.dtype, fill_value=0, overwrite=True)
        if not hasattr(group, "create_array"):  # zarr-python 2
            import numcodecs

            return group.create_dataset(name, compressor=numcodecs.GZip(level=_GZIP_LEVEL), **options)
        if zarr_format == 2:
            import numcodecs

            return group.create_array(name, compressors=numcodecs.GZip(level=_GZIP_LEVEL), **options)
        from zarr.codecs import GzipCodec

        return group.create_array(name, compressors=GzipCodec(level=_GZIP_LEVEL), dimension_names=list(self.axes),
                                  **options)

    def _attributes(self, zarr_format: int) -> dict:
        metadata = self.metadata
        attributes: dict = {"axistags": vigra_axistags_json(self.axes, metadata.resolution)}
        if zarr_format == 2:
            attributes["_ARRAY_DIMENSIONS"] = list(self.axes)
        if metadata.drange is not None:
            attributes["drange"] = np.array(metadata.drange, dtype=self.dtype).tolist()
        if metadata.display_mode is not None:
            attributes["display_mode"] = metadata.display_mode
        units = {a: u for a, u in metadata.axis_units.items() if a in self.axes}
        if units:
            attributes["axis_units"] = json.dumps(units)
        return attributes

    def _store_chunk(self, index, data: np.ndarray) -> None:
        self._array[self._assembler.chunk_region(index)] = data

    def _load_chunk(self, index) -> np.ndarray:
        return self._array[self._assembler.chunk_region(index)]

    def write(self, start, block):
        self._assembler.write(start, block)

    def finish(self):
        self._assembler.finish()
        self._array = None

    def abort(self):
        self._assembler = self._array = None
