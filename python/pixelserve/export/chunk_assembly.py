"""What the chunked folder formats (N5, zarr) share: assembling whole chunks from blocks that
arrive in any order, and starting from a copy of an existing container.

The pipeline's compute blocks rarely line up with ilastik's chunk shape, so a block usually
fills only parts of several chunks. Writing each part straight to its chunk would read,
decompress, merge and recompress a chunk once per block touching it; instead the parts are
collected in memory and each chunk is stored once, when its last element arrives. Should the
collected chunks exceed a memory budget (very wide images whose chunk rows are split by block
boundaries), the oldest are stored as they are and read back when their remaining parts come:
correct in any order, just slower.
"""

from __future__ import annotations

import itertools
import os
import shutil
from typing import Callable

import numpy as np

ChunkIndex = tuple[int, ...]

DEFAULT_BUDGET_BYTES = 256 * 2**20


class ChunkAssembler:
    """Cuts blocks into chunks of `chunks` and hands each complete chunk to
    `store(index, data)`; `data` is the chunk clipped to `shape` (smaller at the far edges).
    `load(index)` must return what `store` stored for that chunk."""

    def __init__(self, shape, chunks, dtype, store: Callable[[ChunkIndex, np.ndarray], None],
                 load: Callable[[ChunkIndex], np.ndarray], budget_bytes: int = DEFAULT_BUDGET_BYTES):
        self.shape = tuple(int(n) for n in shape)
        self.chunks = tuple(int(n) for n in chunks)
        self.dtype = np.dtype(dtype)
        self._store, self._load = store, load
        self._budget = budget_bytes
        self._pending: dict[ChunkIndex, list] = {}  # index -> [data, elements filled]; oldest first
        self._pending_bytes = 0
        self._stored_partly: dict[ChunkIndex, int] = {}  # index -> elements filled when stored

    def chunk_region(self, index: ChunkIndex) -> tuple[slice, ...]:
        return tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, self.chunks, self.shape))

    def write(self, start, block: np.ndarray) -> None:
        stop = [s + n for s, n in zip(start, block.shape)]
        if block.size == 0:
            return
        ranges = [range(s // c, (e - 1) // c + 1) for s, e, c in zip(start, stop, self.chunks)]
        for index in itertools.product(*ranges):
            region = self.chunk_region(index)
            # the overlap of block and chunk, in chunk and in block coordinates
            lows = [max(s, r.start) for s, r in zip(start, region)]
            highs = [min(e, r.stop) for e, r in zip(stop, region)]
            in_chunk = tuple(slice(lo - r.start, hi - r.start) for lo, hi, r in zip(lows, highs, region))
            in_block = tuple(slice(lo - s, hi - s) for lo, hi, s in zip(lows, highs, start))
            part = block[in_block]
            whole = all(lo == r.start and hi == r.stop for lo, hi, r in zip(lows, highs, region))
            if whole:
                self._store(index, np.ascontiguousarray(part, dtype=self.dtype))
                continue
            entry = self._pending.get(index)
            if entry is None:
                entry = self._pending[index] = self._start_chunk(index, region)
                self._pending_bytes += entry[0].nbytes
            entry[0][in_chunk] = part
            entry[1] += part.size
            if entry[1] >= entry[0].size:
                self._pending.pop(index)
                self._pending_bytes -= entry[0].nbytes
                self._store(index, entry[0])
        self._keep_within_budget()

    def _start_chunk(self, index: ChunkIndex, region) -> list:
        filled = self._stored_partly.pop(index, None)
        if filled is not None:
            return [np.array(self._load(index), dtype=self.dtype), filled]
        return [np.zeros(tuple(r.stop - r.start for r in region), self.dtype), 0]

    def _keep_within_budget(self) -> None:
        while self._pending_bytes > self._budget and len(self._pending) > 1:
            index = next(iter(self._pending))
            data, filled = self._pending.pop(index)
            self._pending_bytes -= data.nbytes
            self._store(index, data)
            self._stored_partly[index] = filled

    def finish(self) -> None:
        """Store what is still collected (only if some blocks never came: the rest stays 0)."""
        for index, (data, _) in self._pending.items():
            self._store(index, data)
        self._pending.clear()
        self._pending_bytes = 0


def copy_container(source: str, target: str) -> None:
    """Copy the folder `source` to `target` with hard links where the file system allows
    (instant, no extra space). Safe because the writers never change a file in place: they
    delete the dataset they replace and write every file anew (zarr's store replaces files
    atomically too), which leaves the linked originals untouched."""

    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


def remove_path(path: str) -> None:
    """Delete a file or a folder tree, if present."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
