"""N5 output as ilastik writes it through z5py (lazyflow OpH5N5WriterBigDataset): one chunked
dataset at the internal path, with the same `axistags` JSON text as in HDF5 (in C order: N5
readers such as z5py and ilastik's own reverse N5's x-first dimensions back to C order before
the tags are applied), `drange`, `display_mode` and `axis_units` when known. ilastik's 'n5'
is uncompressed ("raw"), its 'compressed n5' gzip level 1.

Written by pixelserve itself (the format is small, see pixelserve.io.n5 for the layout), so
that no binary dependency is needed: a container is a folder with an attributes.json holding
the N5 version; a dataset is a folder whose attributes.json gives dimensions, blockSize and
dataType (all x first) and the compression; each chunk is a file <dataset>/<i_x>/<i_y>/...
with a big-endian header and the big-endian values, clipped at the far edges.
"""

from __future__ import annotations

import gzip
import json
import os
import struct

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import vigra_axistags_json
from pixelserve.io.n5 import read_attributes

from .chunk_assembly import ChunkAssembler, copy_container, remove_path
from .hdf5_writer import ilastik_chunk_shape
from .writer_base import ConcurrentWriter

N5_VERSION = "2.0.0"  # what z5py and n5-java write at the container root
_DEFAULT_MODE = 0  # chunk header mode: plain block (no explicit element count)


def _is_n5_container(path: str) -> bool:
    return os.path.isdir(path) and (not os.listdir(path) or os.path.isfile(os.path.join(path, "attributes.json")))


class N5Writer(ConcurrentWriter):
    name = "n5"
    extension = "n5"
    hierarchical = True
    gzip_level: int | None = None  # ilastik's plain 'n5' is uncompressed

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata, *, chunks=None, create=True):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata, chunks=chunks)
        path = metadata.internal_path.replace("\\", "/").strip("/")  # as ilastik does for Windows-style input
        self._folder = os.path.join(temp_path, *path.split("/"))
        chunks = self.chunks or ilastik_chunk_shape(self.shape, axes, self.dtype.itemsize)
        if create:
            self._create_dataset(path, chunks)
        self._big_endian = self.dtype.newbyteorder(">")
        self._assembler = ChunkAssembler(self.shape, chunks, self.dtype, self._store_chunk, self._load_chunk)

    def _create_dataset(self, path: str, chunks) -> None:
        temp_path, final_path, axes, metadata = self.temp_path, self.final_path, self.axes, self.metadata
        if os.path.lexists(final_path):
            # Like ilastik (append mode), keep the container's other datasets; work on a copy
            # so that a failed export leaves the original untouched.
            if not _is_n5_container(final_path):
                raise UserError(f"The output {final_path} exists and is not an N5 container: delete it or choose "
                                "another --output_filename_format")
            copy_container(final_path, temp_path)
        else:
            os.mkdir(temp_path)
        root = read_attributes(temp_path)
        if "n5" not in root:
            _write_json(os.path.join(temp_path, "attributes.json"), {"n5": N5_VERSION, **root})

        for depth in range(1, path.count("/") + 1):
            parent = os.path.join(temp_path, *path.split("/")[:depth])
            if "dimensions" in read_attributes(parent):
                raise UserError(f"The internal path {path!r} lies inside the dataset {'/'.join(path.split('/')[:depth])!r} "
                                f"of {final_path}: choose another --output_internal_path")
        remove_path(self._folder)  # ilastik deletes whatever the internal path held
        os.makedirs(self._folder)

        compression = {"type": "raw"}
        if self.gzip_level:
            # n5-java's field names; useZlib false means gzip framing, as z5py writes it
            compression = {"type": "gzip", "level": self.gzip_level, "useZlib": False}
        attributes = {
            "dimensions": list(reversed(self.shape)),
            "blockSize": list(reversed(chunks)),
            "dataType": self.dtype.name,
            "compression": compression,
            "axistags": vigra_axistags_json(axes, metadata.resolution),
            # neuroglancer's convention (x first), which ilastik also writes and reads
            "axes": list(reversed(axes)),
        }
        if metadata.drange is not None:
            attributes["drange"] = np.array(metadata.drange, dtype=self.dtype).tolist()
        if metadata.display_mode is not None:
            attributes["display_mode"] = metadata.display_mode
        units = {a: u for a, u in metadata.axis_units.items() if a in axes}
        if units:
            attributes["axis_units"] = json.dumps(units)
        _write_json(os.path.join(self._folder, "attributes.json"), attributes)

    def _chunk_file(self, index) -> str:
        return os.path.join(self._folder, *(str(i) for i in reversed(index)))

    def _store_chunk(self, index, data: np.ndarray) -> None:
        header = struct.pack(f">HH{data.ndim}I", _DEFAULT_MODE, data.ndim, *reversed(data.shape))
        values = np.ascontiguousarray(data, dtype=self._big_endian).tobytes()
        if self.gzip_level:
            values = gzip.compress(values, compresslevel=self.gzip_level, mtime=0)
        path = self._chunk_file(index)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(header + values)

    def _load_chunk(self, index) -> np.ndarray:
        with open(self._chunk_file(index), "rb") as file:
            raw = file.read()
        ndim = len(self.shape)
        values = raw[4 + 4 * ndim:]
        if self.gzip_level:
            values = gzip.decompress(values)
        shape = tuple(reversed(struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])))
        return np.frombuffer(values, dtype=self._big_endian).reshape(shape)

    def write(self, start, block):
        self._assembler.write(start, block)

    def finish(self):
        self._assembler.finish()

    def abort(self):
        self._assembler = None


class CompressedN5Writer(N5Writer):
    name = "compressed n5"
    gzip_level = 1  # ilastik: level 1, as for 'compressed hdf5'


def _write_json(path: str, content: dict) -> None:
    # a new file replacing the old one: the old one may be a hard link into the original container
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=4)
    os.replace(partial, path)
