"""Reading regions of zarr arrays (format 2 and 3) from any chunk store, chunk by chunk.

pixelserve decodes the chunks itself (decompression through numcodecs), so that local and
remote OME-Zarr share one code path that fetches exactly the chunks a region needs, remote
ones in parallel, and tells a missing chunk (fill value) from a failed fetch. Facts from the
zarr specifications (zarr-specs: v2 'Storage specification', v3 'core' and the codec pages
'bytes', 'transpose', 'gzip', 'blosc', 'zstd', 'crc32c', 'sharding-indexed'):

- v2: '<path>/.zarray' gives shape, chunks, dtype (numpy's typestr), order, fill_value,
  compressor and filters (numcodecs configs) and dimension_separator ('.' default); chunk
  (i, j) is '<path>/i.j'; every chunk file holds a whole chunk, edge chunks padded.
- v3: '<path>/zarr.json' gives node_type 'array', shape, data_type, chunk_grid (regular),
  chunk_key_encoding ('default': 'c/i/j', 'v2': 'i.j'), fill_value and codecs: array-to-array
  codecs (transpose), one array-to-bytes codec (bytes, or sharding_indexed) and
  bytes-to-bytes codecs (gzip, blosc, zstd, crc32c), applied in that order when encoding.
- sharding_indexed: a shard holds the inner chunks of its part of the grid plus an index of
  (offset, nbytes) little-endian uint64 per inner chunk, in C order, encoded with the
  index_codecs, at the end of the shard (index_location 'end', the default) or the start;
  2^64 - 1 in both fields marks an absent inner chunk. Inner chunks are read by byte range.
"""

from __future__ import annotations

import itertools
import math
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numcodecs
import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.chunk_stores import HttpStore, read_json
from pixelserve.io.source import region_shape

#: Chunks fetched at once from a remote store for one region.
REMOTE_FETCH_THREADS = 8
_ABSENT = 2**64 - 1  # sharding index entry of an inner chunk that was never written
_FILL_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass(frozen=True)
class _Sharding:
    key_of_shard: Callable[[tuple[int, ...]], str]
    chunks_per_shard: tuple[int, ...]
    index_range: tuple[int, int | None]  # where the encoded index sits in a shard file
    decode_index: Callable[[bytes], np.ndarray]


@dataclass(frozen=True)
class ZarrArray:
    """One zarr array: its geometry and how to turn a chunk's stored bytes into values."""

    store: object
    path: str
    zarr_format: int
    shape: tuple[int, ...]
    dtype: np.dtype  # native byte order
    chunks: tuple[int, ...]  # the unit read: inner chunks of a sharded array
    fill_value: object
    dimension_names: tuple | None
    attributes: dict
    key_of_chunk: Callable[[tuple[int, ...]], str]
    decode: Callable[[bytes], np.ndarray]
    sharding: _Sharding | None = None

    def __getstate__(self):
        # the decoders are closures: rebuild them from the stored metadata in other processes
        return {"store": self.store, "path": self.path}

    def __setstate__(self, state):
        fresh = open_zarr_array(state["store"], state["path"])
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, getattr(fresh, name))

    def location(self) -> str:
        return self.store.location(self.path)

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        """The values of a normalised region; absent chunks read as the fill value."""
        out = np.full(region_shape(region), self.fill_value, dtype=self.dtype)
        if out.size == 0:
            return out
        ranges = [range(s.start // c, (s.stop - 1) // c + 1) for s, c in zip(region, self.chunks)]
        indices = list(itertools.product(*ranges))
        if isinstance(self.store, HttpStore) and len(indices) > 1:
            with ThreadPoolExecutor(min(REMOTE_FETCH_THREADS, len(indices))) as pool:
                chunks = list(pool.map(self._load_chunk, indices))
        else:
            chunks = map(self._load_chunk, indices)
        for index, chunk in zip(indices, chunks):
            if chunk is None:
                continue
            src, dst = [], []
            for s, i, c in zip(region, index, self.chunks):
                low, high = max(s.start, i * c), min(s.stop, (i + 1) * c)
                src.append(slice(low - i * c, high - i * c))
                dst.append(slice(low - s.start, high - s.start))
            out[tuple(dst)] = chunk[tuple(src)]
        return out

    def _load_chunk(self, index: tuple[int, ...]) -> np.ndarray | None:
        if self.sharding is None:
            key, byte_range = self.key_of_chunk(index), None
        else:
            key, byte_range = self._inner_chunk_range(index)
            if key is None:
                return None
        raw = self.store.get(key, byte_range)
        if raw is None:
            return None
        try:
            return self.decode(raw)
        except (ValueError, RuntimeError, TypeError, zlib.error) as error:
            raise UserError(f"The chunk {self.store.location(key)} cannot be decoded ({error}): the zarr array "
                            f"{self.location()} is damaged or was cut short; copy or export it again.") from None

    def _inner_chunk_range(self, index):
        sharding = self.sharding
        shard = tuple(i // n for i, n in zip(index, sharding.chunks_per_shard))
        key = sharding.key_of_shard(shard)
        encoded_index = self.store.get(key, sharding.index_range)
        if encoded_index is None:
            return None, None
        table = sharding.decode_index(encoded_index).reshape(sharding.chunks_per_shard + (2,))
        offset, nbytes = (int(v) for v in table[tuple(i % n for i, n in zip(index, sharding.chunks_per_shard))])
        if offset == _ABSENT and nbytes == _ABSENT:
            return None, None
        return key, (offset, offset + nbytes)


def open_zarr_array(store, path: str) -> ZarrArray:
    """The array at `path` ('' for the store's root) in a zarr v3 or v2 store."""
    prefix = f"{path}/" if path else ""
    metadata = read_json(store, prefix + "zarr.json")
    if metadata is not None:
        if metadata.get("node_type") != "array":
            raise UserError(f"{store.location(path)} is a zarr group, not an array; name one of its arrays.")
        return _open_v3(store, path, metadata)
    metadata = read_json(store, prefix + ".zarray")
    if metadata is not None:
        return _open_v2(store, path, metadata)
    raise UserError(f"There is no zarr array at {store.location(path)} (neither zarr.json nor .zarray); "
                    "check the path.")


def _fill_value(value, dtype: np.dtype):
    if value is None:
        return 0  # zarr v2: no fill value declared
    if isinstance(value, str) and value.startswith("0x"):
        return np.frombuffer(int(value, 16).to_bytes(dtype.itemsize, "big"), dtype=dtype.newbyteorder(">"))[0]
    return _FILL_WORDS.get(value, value) if isinstance(value, str) else value


def _numeric_dtype(text, where: str) -> np.dtype:
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise UserError(f"{where} stores values of type {text!r}; pixelserve reads numeric images only.")
    return dtype


def _open_v2(store, path: str, meta: dict) -> ZarrArray:
    where = store.location(path)
    try:
        shape, chunks = tuple(int(n) for n in meta["shape"]), tuple(int(n) for n in meta["chunks"])
        stored = _numeric_dtype(meta["dtype"], where)
        order = meta.get("order", "C")
        separator = meta.get("dimension_separator") or "."
        codecs = [_numcodec(c, where) for c in (meta.get("filters") or [])]
        compressor = _numcodec(meta["compressor"], where) if meta.get("compressor") else None
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{where}/.zarray lacks shape, chunks or dtype; the zarr metadata is damaged.") from None

    def decode(raw: bytes) -> np.ndarray:
        data = compressor.decode(raw) if compressor is not None else raw
        for codec in reversed(codecs):
            data = codec.decode(data)
        return np.frombuffer(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data,
                             dtype=stored).reshape(chunks, order=order)

    prefix = f"{path}/" if path else ""
    return ZarrArray(
        store=store, path=path, zarr_format=2, shape=shape, dtype=stored.newbyteorder("="), chunks=chunks,
        fill_value=_fill_value(meta.get("fill_value"), stored), dimension_names=None,
        attributes=read_json(store, prefix + ".zattrs") or {},
        key_of_chunk=lambda index: prefix + (separator.join(map(str, index)) or "0"),
        decode=decode,
    )


def _numcodec(config, where: str):
    try:
        return numcodecs.get_codec(dict(config))
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{where} is compressed with {config!r}, which pixelserve cannot decode ({error}); "
                        "re-save it with blosc, zstd, gzip or no compression.") from None


def _open_v3(store, path: str, meta: dict) -> ZarrArray:
    where = store.location(path)
    try:
        shape = tuple(int(n) for n in meta["shape"])
        grid = meta["chunk_grid"]
        if grid.get("name") != "regular":
            raise UserError(f"{where} uses the chunk grid {grid.get('name')!r}; pixelserve reads regular grids only.")
        grid_chunks = tuple(int(n) for n in grid["configuration"]["chunk_shape"])
        dtype = _numeric_dtype(meta["data_type"], where)
        codecs = list(meta["codecs"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{where}/zarr.json lacks shape, chunk_grid, data_type or codecs; the zarr metadata "
                        "is damaged.") from None
    if meta.get("storage_transformers"):
        raise UserError(f"{where} uses storage transformers, which pixelserve cannot read; re-save it without them.")
    prefix = f"{path}/" if path else ""
    key_of_grid_cell = _v3_chunk_keys(prefix, meta.get("chunk_key_encoding") or {"name": "default"}, where)
    sharding, chunks = None, grid_chunks
    array_to_bytes = [c for c in codecs if _codec_name(c) in ("bytes", "sharding_indexed")]
    if array_to_bytes and _codec_name(array_to_bytes[0]) == "sharding_indexed":
        config = array_to_bytes[0].get("configuration", {})
        chunks = tuple(int(n) for n in config["chunk_shape"])
        if any(g % c for g, c in zip(grid_chunks, chunks)):
            raise UserError(f"{where} has shards {grid_chunks} that its inner chunks {chunks} do not divide; "
                            "the zarr metadata is damaged.")
        per_shard = tuple(g // c for g, c in zip(grid_chunks, chunks))
        index_codecs = config.get("index_codecs") or [{"name": "bytes", "configuration": {"endian": "little"}},
                                                      {"name": "crc32c"}]
        index_bytes = 16 * math.prod(per_shard) + 4 * sum(_codec_name(c) == "crc32c" for c in index_codecs)
        at_start = config.get("index_location", "end") == "start"
        sharding = _Sharding(
            key_of_shard=key_of_grid_cell, chunks_per_shard=per_shard,
            index_range=(0, index_bytes) if at_start else (-index_bytes, None),
            decode_index=_v3_decoder(index_codecs, per_shard + (2,), np.dtype("uint64"), where),
        )
        decode = _v3_decoder(config.get("codecs") or [{"name": "bytes"}], chunks, dtype, where)
    else:
        decode = _v3_decoder(codecs, chunks, dtype, where)
    names = meta.get("dimension_names")
    return ZarrArray(
        store=store, path=path, zarr_format=3, shape=shape, dtype=dtype.newbyteorder("="), chunks=chunks,
        fill_value=_fill_value(meta.get("fill_value"), dtype), dimension_names=tuple(names) if names else None,
        attributes=meta.get("attributes") or {}, key_of_chunk=key_of_grid_cell, decode=decode, sharding=sharding,
    )


def _codec_name(codec) -> str:
    return codec if isinstance(codec, str) else str(codec.get("name", ""))


def _v3_chunk_keys(prefix: str, encoding: dict, where: str) -> Callable[[tuple[int, ...]], str]:
    name = encoding.get("name")
    configuration = encoding.get("configuration") or {}
    if name == "default":
        separator = configuration.get("separator", "/")
        return lambda index: prefix + separator.join(["c", *map(str, index)])
    if name == "v2":
        separator = configuration.get("separator", ".")
        return lambda index: prefix + (separator.join(map(str, index)) or "0")
    raise UserError(f"{where} uses the chunk key encoding {name!r}; pixelserve reads 'default' and 'v2'.")


def _v3_decoder(codecs: list, chunk_shape: tuple[int, ...], dtype: np.dtype, where: str) -> Callable:
    """Decoding of one chunk: the bytes-to-bytes codecs backwards, the array-to-bytes codec,
    then the transposes backwards."""
    transposes, endian, byte_codecs = [], "little", []
    seen_array_to_bytes = False
    for codec in codecs:
        name = _codec_name(codec)
        config = (codec.get("configuration") or {}) if isinstance(codec, dict) else {}
        if name == "transpose":
            order = config.get("order")
            ndim = len(chunk_shape)
            order = {"C": list(range(ndim)), "F": list(range(ndim))[::-1]}.get(order, order)
            transposes.append(tuple(int(i) for i in order))
        elif name == "bytes":
            endian, seen_array_to_bytes = config.get("endian", "little"), True
        elif name == "sharding_indexed":
            raise UserError(f"{where} nests sharding inside sharding, which pixelserve cannot read; re-save it "
                            "with one level of shards.")
        else:
            byte_codecs.append(_bytes_codec(name, config, where))
    if not seen_array_to_bytes:
        raise UserError(f"{where} names no 'bytes' codec; the zarr metadata is damaged.")
    stored = dtype.newbyteorder("<" if endian == "little" else ">")
    encoded_shape = chunk_shape
    for order in transposes:
        encoded_shape = tuple(encoded_shape[i] for i in order)

    def decode(raw: bytes) -> np.ndarray:
        for decode_bytes in reversed(byte_codecs):
            raw = decode_bytes(raw)
        values = np.frombuffer(raw, dtype=stored).reshape(encoded_shape)
        for order in reversed(transposes):
            values = values.transpose(np.argsort(order))
        return values

    return decode


def _bytes_codec(name: str, config: dict, where: str) -> Callable[[bytes], bytes]:
    if name == "gzip":
        return lambda raw: zlib.decompress(raw, 47)  # 32 + 15: gzip or zlib framing
    if name == "crc32c":
        return lambda raw: raw[:-4]  # the checksum is appended; the decompressors check their own framing
    if name == "blosc":
        return numcodecs.Blosc().decode
    if name == "zstd":
        return numcodecs.Zstd().decode
    if name.startswith("numcodecs."):  # zarr-python's wrappers of numcodecs codecs
        return _numcodec({"id": name.removeprefix("numcodecs."), **config}, where).decode
    raise UserError(f"{where} uses the codec {name!r}, which pixelserve cannot decode; re-save it with blosc, "
                    "zstd, gzip or no compression.")
