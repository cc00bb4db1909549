"""Fast 1D correlation passes on float32 (z, y, x) arrays, mirror border, GIL released.

All passes are numba kernels (``nogil``, no threads of their own: parallelism belongs to
the caller's block pool):

* y and z: whole rows are accumulated (``out_row += w * (row_above + row_below)``), which
  vectorises over the contiguous axis; a z pass treats each slice as one long row, split
  into chunks that stay in cache.
* x: each row is copied into a buffer extended by its mirrored border, then shifted
  segments of it are accumulated the same way.

ilastik's kernels are symmetric (smoothing, second derivative) or antisymmetric (first
derivative), so taps are paired: ``w[k] * (in[i+k] +- in[i-k])`` halves the multiplies.

Each output value is computed by the same float32 operations in the same order wherever it
sits in the array, so a block with enough halo is bit-identical to the same pixels of the
whole image. (OpenCV's ``filter2D`` is as fast but its small-kernel SIMD path rounds
differently near row ends, which breaks that.) Border: mirror without repeating the edge
pixel (scipy ``mode='mirror'``), valid while the axis is longer than the kernel radius.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from .kernels import gaussian_kernel

_JIT = dict(nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")
# Columns per chunk of a z pass: keeps (2r+1) input row chunks + one output row in cache.
_Z_CHUNK = 2048


@numba.njit(**_JIT)
def _mirror(index, last):
    if index < 0:
        return -index
    if index > last:
        return 2 * last - index
    return index


@numba.njit(**_JIT)
def _pass_rows(src, half, sign, dst, first_row, chunk):
    """Along axis 1 of (S, N, M) arrays: dst[s, i] = sum over taps around src row first_row + i.

    ``half[0]`` is the centre tap, ``half[k]`` the tap at +k; the tap at -k is
    ``sign * half[k]``. Zero-based loops over row slices: the form LLVM vectorises."""
    n_slices, n_rows, n_cols = src.shape
    n_out = dst.shape[1]
    radius = half.shape[0] - 1
    last = n_rows - 1
    for s in range(n_slices):
        for c0 in range(0, n_cols, chunk):
            c1 = min(n_cols, c0 + chunk)
            width = c1 - c0
            for i in range(n_out):
                centre = first_row + i
                out_row = dst[s, i, c0:c1]
                in_row = src[s, centre, c0:c1]
                w = half[0]
                for j in range(width):
                    out_row[j] = w * in_row[j]
                for k in range(1, radius + 1):
                    w = half[k]
                    up = src[s, _mirror(centre + k, last), c0:c1]
                    down = src[s, _mirror(centre - k, last), c0:c1]
                    if sign > 0:
                        for j in range(width):
                            out_row[j] += w * (up[j] + down[j])
                    else:
                        for j in range(width):
                            out_row[j] += w * (up[j] - down[j])
    return dst


@numba.njit(**_JIT)
def _pass_x(src, half, sign, dst, first_col):
    """Along the last axis of (R, W) arrays: dst[i, c] from the taps around src[i, first_col + c].

    Each row is first copied into a buffer extended by the mirrored border, so that every
    output (border or not) is computed by the same vectorised loop, in the same operation
    order as _pass_rows."""
    n_rows, n = src.shape
    n_out = dst.shape[1]
    radius = half.shape[0] - 1
    last = n - 1
    low = first_col - radius  # input index of extended[0]
    high = first_col + n_out + radius
    inside_lo = max(low, 0)
    inside_hi = min(high, n)
    extended = np.empty(n_out + 2 * radius, dtype=np.float32)
    for i in range(n_rows):
        in_row = src[i]
        out_row = dst[i]
        middle = extended[inside_lo - low : inside_hi - low]
        source = in_row[inside_lo:inside_hi]
        for j in range(inside_hi - inside_lo):
            middle[j] = source[j]
        for index in range(low, inside_lo):
            extended[index - low] = in_row[_mirror(index, last)]
        for index in range(inside_hi, high):
            extended[index - low] = in_row[_mirror(index, last)]
        centre = extended[radius : radius + n_out]
        w = half[0]
        for j in range(n_out):
            out_row[j] = w * centre[j]
        for k in range(1, radius + 1):
            w = half[k]
            up = extended[radius + k : radius + k + n_out]
            down = extended[radius - k : radius - k + n_out]
            if sign > 0:
                for j in range(n_out):
                    out_row[j] += w * (up[j] + down[j])
            else:
                for j in range(n_out):
                    out_row[j] += w * (up[j] - down[j])
    return dst


class BufferPool:
    """Recycles float32 work arrays between passes, tiles and calls.

    Fresh multi-megabyte arrays come straight from the kernel as untouched pages, and
    faulting them in cost more than the filtering itself (2-3x slower overall on the
    project's VMs). Buffers are reused by size; at most ``max_bytes`` stay allocated per
    thread between calls (``clear()`` lets them go). One pool per thread
    (``thread_pool()``), so no locking.
    """

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes = max_bytes
        self._free: dict[int, list] = {}
        self._bytes = 0

    def take(self, shape) -> np.ndarray:
        size = int(np.prod(shape))
        free = self._free.get(size)
        if free:
            self._bytes -= 4 * size
            return free.pop().reshape(shape)
        return np.empty(shape, dtype=np.float32)

    def give(self, array: np.ndarray) -> None:
        """Return a buffer obtained from take(); the caller must not use it afterwards."""
        if self._bytes + 4 * array.size <= self.max_bytes:
            self._free.setdefault(array.size, []).append(array.reshape(-1))
            self._bytes += 4 * array.size

    def clear(self) -> None:
        """Let go of every kept buffer (e.g. after a one-off large image)."""
        self._free.clear()
        self._bytes = 0


_THREAD_STATE = threading.local()


def thread_pool() -> BufferPool:
    pool = getattr(_THREAD_STATE, "pool", None)
    if pool is None:
        pool = _THREAD_STATE.pool = BufferPool()
    return pool


def correlate(
    src: np.ndarray, axis: int, kernel, start: int = 0, stop: int | None = None, into=None, pool=None
) -> np.ndarray:
    """Correlate a C-contiguous float32 (z, y, x) array with a kernel from ``kernel32``.

    Only output indices [start, stop) along ``axis`` are computed (inputs outside that range
    still feed them). ``into``: optional C-contiguous float32 array of the output shape;
    else the output comes from ``pool`` (if given). For the identity kernel the result may
    be ``src`` itself."""
    half, sign = kernel
    n_slices, n_rows, n_cols = src.shape
    if stop is None:
        start, stop = 0, src.shape[axis]
    shape = list(src.shape)
    shape[axis] = stop - start
    shape = tuple(shape)
    if into is not None and (into.shape != shape or into.dtype != np.float32 or not into.flags.c_contiguous):
        raise ValueError("into must be a C-contiguous float32 array of the output shape")
    if half.shape[0] == 1:
        if half[0] != 1.0:
            raise ValueError("a one-tap kernel must be the identity")
        index = [slice(None)] * 3
        index[axis] = slice(start, stop)
        if into is not None:
            into[...] = src[tuple(index)]
            return into
        if (start, stop) == (0, src.shape[axis]):
            return src
        dst = pool.take(shape) if pool is not None else np.empty(shape, dtype=np.float32)
        dst[...] = src[tuple(index)]
        return dst
    if into is not None:
        dst = into
    else:
        dst = pool.take(shape) if pool is not None else np.empty(shape, dtype=np.float32)
    if axis == 2:
        _pass_x(
            src.reshape(n_slices * n_rows, n_cols),
            half,
            sign,
            dst.reshape(n_slices * n_rows, shape[2]),
            start,
        )
    elif axis == 1:
        _pass_rows(src, half, sign, dst, start, n_cols)
    elif axis == 0:
        plane = n_rows * n_cols
        _pass_rows(
            src.reshape(1, n_slices, plane), half, sign, dst.reshape(1, shape[0], plane), start, _Z_CHUNK
        )
    else:
        raise ValueError(axis)
    return dst


_KERNEL_CACHE: dict = {}


def kernel32(sigma: float, order: int, window: float):
    """(half kernel, sign) in float32, cached (read-only): every block asks for the same few.

    half[k] is the tap at offset +k; the tap at -k is sign * half[k] (even orders are
    symmetric, odd ones antisymmetric, exactly so by construction)."""
    key = (sigma, order, window)
    kernel = _KERNEL_CACHE.get(key)
    if kernel is None:
        taps = gaussian_kernel(sigma, order, window).astype(np.float32)
        radius = taps.shape[0] // 2
        sign = -1 if order % 2 else 1
        if not np.array_equal(taps[:radius], sign * taps[radius + 1 :][::-1]):
            raise AssertionError("Gaussian kernels must be (anti)symmetric")
        half = np.ascontiguousarray(taps[radius:])
        half.setflags(write=False)
        kernel = _KERNEL_CACHE[key] = (half, sign)
    return kernel


class PassCache:
    """Memoises sequences of 1D passes applied to named sources of one tile.

    A pass is (axis, sigma, order, window); sequences are applied in the given order (list
    them z, y, x so that the z/y passes are the shared prefixes) and every prefix is kept.

    Results are only computed where needed: each pass outputs the tile's ``interior`` along
    its axis, widened by ``pad`` for results that a later filter smooths again (the
    structure tensor's gradient). Sources may be larger than what they serve; every array
    carries its origin (first z, y, x index in tile coordinates).
    """

    def __init__(self, interior, pool: BufferPool):
        self.interior = interior  # ((z0, z1), (y0, y1), (x0, x1)) in tile coordinates
        self.pool = pool
        self._sources = {}
        self._results = {}
        self._owned = {}  # id -> array taken from the pool, returned by release()

    def take(self, shape) -> np.ndarray:
        """A work array from the pool, given back by release()."""
        array = self.pool.take(shape)
        self._owned[id(array)] = array
        return array

    def release(self) -> None:
        """Give every work array back to the pool; the cache must not be used afterwards."""
        for array in self._owned.values():
            self.pool.give(array)
        self._owned.clear()
        self._sources.clear()
        self._results.clear()

    def add_source(self, name, array: np.ndarray, origin=(0, 0, 0)) -> None:
        self._sources[name] = (array, tuple(origin))

    def has_source(self, name) -> bool:
        return name in self._sources

    def get(self, name, passes, pad: int = 0, into=None):
        """(array, origin) of the passes applied to a source; ``into`` receives a final result."""
        passes = tuple(passes)
        key = (name, passes, pad)
        found = self._results.get(key)
        if found is not None and into is None:
            return found
        if not passes:
            array, origin = self._sources[name]
            if into is None:
                return array, origin
            into[...] = array[tuple(slice(lo - o, hi - o) for (lo, hi), o in zip(self.interior, origin))]
            return into, tuple(lo for lo, _ in self.interior)
        array, origin = self.get(name, passes[:-1], pad)
        axis, sigma, order, window = passes[-1]
        low, high = self.interior[axis]
        first = max(origin[axis], low - pad)
        last = min(origin[axis] + array.shape[axis], high + pad)
        filtered = correlate(
            array,
            axis,
            kernel32(sigma, order, window),
            first - origin[axis],
            last - origin[axis],
            into=into,
            pool=self.pool,
        )
        if into is None and filtered is not array:
            self._owned[id(filtered)] = filtered
        new_origin = list(origin)
        new_origin[axis] = first
        result = (filtered, tuple(new_origin))
        if into is None:
            self._results[key] = result
        return result
