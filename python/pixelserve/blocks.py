"""Splitting a result into blocks and computing them on all cores."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ThreadPoolExecutor, wait

import numpy as np


def default_threads() -> int:
    """All cores, or ilastik's LAZYFLOW_THREADS when set."""
    configured = os.environ.get("LAZYFLOW_THREADS", "")
    if configured.strip().isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def iter_blocks(start, stop, block_shape) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(start, stop) of the blocks of a grid of `block_shape` anchored at 0 that overlap the
    region [start, stop), clipped to it, in C order. Anchoring the grid at 0 keeps blocks
    aligned with the source's compute tiles whatever region is asked for."""
    ranges = []
    for begin, end, size in zip(start, stop, block_shape):
        size = max(1, int(size))
        edges = [begin] + list(range((begin // size + 1) * size, end, size)) + [end]
        ranges.append(list(zip(edges[:-1], edges[1:])))
    for combination in itertools.product(*ranges):
        yield tuple(c[0] for c in combination), tuple(c[1] for c in combination)


class Cancelled(Exception):
    """The computation was stopped from outside (a client went away, Ctrl-C)."""


def map_blocks(compute: Callable, blocks, consume: Callable, threads: int, *,
               pool: Executor | None = None, cancel: threading.Event | None = None) -> None:
    """Run compute(start, stop) for every block on `threads` threads and hand each result to
    consume(start, stop, data) in the calling thread, keeping at most 2 x threads blocks in
    flight so that memory stays bounded.

    `pool` shares one executor between several computations (a server's jobs): each keeps
    its own bound, so blocks of a huge job and of a small one alternate in the pool's queue.
    Setting `cancel` stops the computation after the blocks that are running (Cancelled).
    """
    blocks = iter(blocks)

    def check():
        if cancel is not None and cancel.is_set():
            raise Cancelled()

    if threads <= 1 and pool is None:
        for start, stop in blocks:
            check()
            consume(start, stop, compute(start, stop))
        return

    def guarded(start, stop):
        check()  # a queued block of a cancelled job is skipped, not computed
        return compute(start, stop)

    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(ThreadPoolExecutor(threads))
        pending = {}
        try:
            for start, stop in itertools.islice(blocks, 2 * threads):
                pending[pool.submit(guarded, start, stop)] = (start, stop)
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                check()
                for future in done:
                    start, stop = pending.pop(future)
                    consume(start, stop, future.result())
                    following = next(blocks, None)
                    if following is not None:
                        pending[pool.submit(guarded, *following)] = following
        finally:
            # On failure, drop what has not started; running blocks finish first.
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
