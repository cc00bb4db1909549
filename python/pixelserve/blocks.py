"""Splitting a result into blocks and computing them on all cores."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np


def default_threads() -> int:
    """All cores, or ilastik's LAZYFLOW_THREADS when set."""
    configured = os.environ.get("LAZYFLOW_THREADS", "")
    if configured.strip().isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def iter_blocks(start, stop, block_shape) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(start, stop) of every block tiling the region [start, stop), in C order."""
    ranges = [range(a, b, max(1, s)) for a, b, s in zip(start, stop, block_shape)]
    for corner in itertools.product(*ranges):
        end = tuple(min(c + s, b) for c, s, b in zip(corner, block_shape, stop))
        yield tuple(corner), end


def map_blocks(compute: Callable, blocks, consume: Callable, threads: int) -> None:
    """Run compute(start, stop) for every block on `threads` threads and hand each result to
    consume(start, stop, data) in the calling thread, keeping at most 2 x threads blocks in
    flight so that memory stays bounded."""
    blocks = iter(blocks)
    if threads <= 1:
        for start, stop in blocks:
            consume(start, stop, compute(start, stop))
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = {}
        try:
            for start, stop in itertools.islice(blocks, 2 * threads):
                pending[pool.submit(compute, start, stop)] = (start, stop)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    start, stop = pending.pop(future)
                    consume(start, stop, future.result())
                    following = next(blocks, None)
                    if following is not None:
                        pending[pool.submit(compute, *following)] = following
        finally:
            for future in pending:
                future.cancel()


def compute_array(source, threads: int | None = None) -> np.ndarray:
    """The whole of a ResultSource as one in-memory array."""
    out = np.empty(source.shape, dtype=source.dtype)

    def store(start, stop, data):
        out[tuple(slice(a, b) for a, b in zip(start, stop))] = data

    zero = (0,) * len(source.shape)
    map_blocks(source.compute, iter_blocks(zero, source.shape, source.block_shape), store,
               threads or default_threads())
    return out
