"""Memory for arrays that arrive in chunks: taken as the bytes arrive, handed back at once.

A header announces the whole array before any byte, so allocating and touching all of it up
front let a header alone take gigabytes. Here a large buffer is an anonymous mapping that
costs no RAM until written; it is populated in steps just ahead of the bytes (one
MADV_POPULATE_WRITE call per step: faulting fresh pages in one at a time made receiving 3-4x
slower than the network), and `release()` returns its pages to the system at once
(MADV_DONTNEED), even while a stray reference to the array remains (e.g. in an exception's
traceback): the array then reads as zeros.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import sys

import numpy as np

# Buffers from this size on are mapped and populated step by step, each step this size.
STEP_BYTES = 64 << 20
# Linux 5.14+ (include/uapi/asm-generic/mman-common.h); Python's mmap module may lack the name.
_MADV_POPULATE_WRITE = 23


class ReceiveBuffer:
    """`nbytes` bytes to be written front to back; `array` is their uint8 view."""

    def __init__(self, nbytes: int):
        self.nbytes = nbytes
        self._populated = 0
        if nbytes < STEP_BYTES or sys.platform == "win32":
            self._map = None
            self.array = np.empty(nbytes, np.uint8)
        else:
            self._map = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            self.array = np.frombuffer(self._map, np.uint8)

    def prepare(self, end: int) -> None:
        """Make bytes [.., end) ready to be written: populate the next step(s) if needed."""
        if self._map is None or end <= self._populated:
            return
        stop = min(self.nbytes, max(end, self._populated + STEP_BYTES))
        try:
            self._map.madvise(_MADV_POPULATE_WRITE, self._populated, stop - self._populated)
        except OSError:  # an older kernel: pages fault in as they are written
            pass
        self._populated = stop

    def release(self) -> None:
        """Give the memory back now; the array reads as zeros afterwards."""
        if self._map is not None:
            self._map.madvise(mmap.MADV_DONTNEED)
            self._populated = 0


def byte_count(shape, dtype) -> int:
    """Bytes of an array of `shape` and `dtype`, in Python integers (numpy's int64 wraps)."""
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize


def return_freed_memory() -> None:
    """Hand the heap's freed memory back to the system (glibc's malloc_trim); a no-op
    elsewhere. The heap keeps freed chunk buffers for reuse (protocol.keep_freed_memory):
    right for a busy server, wasted once it is idle."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
