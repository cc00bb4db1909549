"""A small reader for the N5 format (zarr 3 dropped its N5 store).

N5 layout (github:saalfeldlab/n5 README): a container is a directory; a dataset is a directory
whose attributes.json holds "dimensions", "blockSize", "dataType" and "compression" (older
files: "compressionType"). All lists are fastest-axis-first (x, y, z), so pixelserve reverses them
to get C order. Block (i, j, k) lives in <dataset>/i/j/k; it starts with a big-endian header
(uint16 mode, uint16 ndim, ndim x uint32 actual block size, plus uint32 element count when
mode == 1) followed by the compressed big-endian data in x-fastest order. Absent blocks are 0.
"""

from __future__ import annotations

import bz2
import itertools
import json
import lzma
import os
import struct
import zlib

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import axes_from_reversed_names, default_axes, parse_axistags
from pixelserve.io.source import ArraySource, region_shape

_N5_DTYPES = {
    "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64",
}


def read_attributes(directory: str) -> dict:
    path = os.path.join(directory, "attributes.json")
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            attributes = json.load(handle)
    except (OSError, ValueError) as error:
        raise UserError(f"Cannot read N5 attributes {path}: {error}; the file must be valid JSON.") from None
    return attributes if isinstance(attributes, dict) else {}


def is_n5_dataset(directory: str) -> bool:
    return "dimensions" in read_attributes(directory)


def list_n5_datasets(container: str) -> dict[str, int]:
    """All datasets below an N5 container as {internal path: ndim}; the container may be one itself."""
    found: dict[str, int] = {}
    for directory, subdirs, _files in os.walk(container):
        attributes = read_attributes(directory)
        if "dimensions" in attributes:
            name = os.path.relpath(directory, container).replace(os.sep, "/")
            found["" if name == "." else name] = len(attributes["dimensions"])
            subdirs[:] = []  # a dataset's subfolders are its blocks
        else:
            subdirs.sort()
    return dict(sorted(found.items()))


def _decompressor(compression: dict, where: str):
    kind = str(compression.get("type", "raw")).lower()
    if kind == "raw":
        return lambda data: data
    if kind == "gzip":
        # wbits 32+15 accepts both gzip and zlib framing (N5's "useZlib" switch).
        return lambda data: zlib.decompress(data, 47)
    if kind == "bzip2":
        return bz2.decompress
    if kind == "xz":
        return lzma.decompress
    if kind in ("blosc", "zstd"):
        try:
            import numcodecs
        except ImportError:
            numcodecs = None
        if numcodecs is not None:
            codec = numcodecs.Blosc() if kind == "blosc" else numcodecs.Zstd()
            return codec.decode
    raise UserError(
        f"N5 dataset {where} uses '{kind}' compression, which pixelserve cannot read; "
        "re-save it with raw, gzip, bzip2, xz, blosc or zstd compression."
    )


class N5Source(ArraySource):
    """One N5 dataset, read block by block."""

    def __init__(self, container: str, internal_path: str):
        self.directory = os.path.join(container, *internal_path.split("/")) if internal_path else container
        self.internal_path = internal_path or None
        attributes = read_attributes(self.directory)
        try:
            self.shape = tuple(int(d) for d in reversed(attributes["dimensions"]))
            self.block_shape = tuple(int(b) for b in reversed(attributes["blockSize"]))
            data_type = str(attributes["dataType"])
        except (KeyError, TypeError, ValueError):
            raise UserError(
                f"{self.directory} is not a readable N5 dataset: its attributes.json needs "
                "'dimensions', 'blockSize' and 'dataType'."
            ) from None
        if data_type not in _N5_DTYPES:
            raise UserError(f"N5 dataset {self.directory} has data type '{data_type}'; pixelserve reads numeric types only.")
        self.dtype = np.dtype(data_type)
        compression = attributes.get("compression", {"type": attributes.get("compressionType", "raw")})
        self._decompress = _decompressor(compression if isinstance(compression, dict) else {"type": compression},
                                         self.directory)
        self.axes, self.axes_from_file, self.resolution = self._axes_from_attributes(attributes)

    def _axes_from_attributes(self, attributes: dict):
        # Same priority as ilastik: an ilastik 'axistags' attribute, then an 'axes' list.
        if "axistags" in attributes:
            parsed = parse_axistags(attributes["axistags"] if isinstance(attributes["axistags"], str)
                                    else json.dumps(attributes["axistags"]))
            if parsed and len(parsed[0]) == len(self.shape):
                return parsed[0], True, parsed[1]
        axes = axes_from_reversed_names(attributes["axes"]) if "axes" in attributes else None
        if axes and len(axes) == len(self.shape):
            return axes, True, self._pixel_resolution(attributes, axes)
        return default_axes(self.shape), False, {}

    @staticmethod
    def _pixel_resolution(attributes: dict, axes: str) -> dict[str, tuple[float, str]]:
        # BigDataViewer/Paintera style {"pixelResolution": {"dimensions": [x, y, z], "unit": "um"}}.
        info = attributes.get("pixelResolution")
        if not isinstance(info, dict) or not isinstance(info.get("dimensions"), list):
            return {}
        values = list(reversed(info["dimensions"]))
        if len(values) != len(axes):
            return {}
        unit = str(info.get("unit", ""))
        return {a: (float(v), unit) for a, v in zip(axes, values) if a != "c" and float(v) > 0}

    def _read(self, region):
        out = np.zeros(region_shape(region), dtype=self.dtype)
        if out.size == 0:
            return out
        ranges = [range(s.start // b, (s.stop - 1) // b + 1) for s, b in zip(region, self.block_shape)]
        for block_index in itertools.product(*ranges):
            block = self._read_block(block_index)
            if block is None:
                continue
            origin = [i * b for i, b in zip(block_index, self.block_shape)]
            src, dst = [], []
            for s, o, size in zip(region, origin, block.shape):
                lo, hi = max(s.start, o), min(s.stop, o + size)
                src.append(slice(lo - o, hi - o))
                dst.append(slice(lo - s.start, hi - s.start))
            out[tuple(dst)] = block[tuple(src)]
        return out

    def _read_block(self, block_index: tuple[int, ...]) -> np.ndarray | None:
        path = os.path.join(self.directory, *(str(i) for i in reversed(block_index)))
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        mode, ndim = struct.unpack(">HH", raw[:4])
        if mode not in (0, 1):
            raise UserError(f"N5 block {path} uses block mode {mode}; pixelserve reads default and varlength blocks only.")
        sizes = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        offset = 4 + 4 * ndim + (4 if mode == 1 else 0)
        shape = tuple(reversed(sizes))
        data = self._decompress(raw[offset:])
        count = int(np.prod(shape))
        block = np.frombuffer(data, dtype=self.dtype.newbyteorder(">"), count=count)
        return block.reshape(shape)
