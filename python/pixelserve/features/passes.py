"""Fast 1D correlation passes on float32 (z, y, x) arrays, mirror border, GIL released.

All passes are numba kernels (``nogil``, no threads of their own: parallelism belongs to
the caller's block pool):

* y and z: whole rows are accumulated (``out_row += w * (row_above + row_below)``), which
  vectorises over the contiguous axis; a z pass treats each slice as one long row, split
  into chunks that stay in cache.
* x: shifted row segments are accumulated the same way for the interior; the few border
  pixels use the same operation order with mirrored indices.

ilastik's kernels are symmetric (smoothing, second derivative) or antisymmetric (first
derivative), so taps are paired: ``w[k] * (in[i+k] +- in[i-k])`` halves the multiplies.

Each output value is computed by the same float32 operations in the same order wherever it
sits in the array, so a block with enough halo is bit-identical to the same pixels of the
whole image. (OpenCV's ``filter2D`` is as fast but its small-kernel SIMD path rounds
differently near row ends, which breaks that.) Border: mirror without repeating the edge
pixel (scipy ``mode='mirror'``), valid while the axis is longer than the kernel radius.
"""

from __future__ import annotations

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
def _mirrored_tap_sum(row, half, sign, x, last):
    acc = half[0] * row[x]
    for k in range(1, half.shape[0]):
        up = row[_mirror(x + k, last)]
        down = row[_mirror(x - k, last)]
        if sign > 0:
            acc += half[k] * (up + down)
        else:
            acc += half[k] * (up - down)
    return acc


@numba.njit(**_JIT)
def _pass_x(src, half, sign, dst, first_col):
    """Along the last axis of (R, W) arrays: dst[i, c] from the taps around src[i, first_col + c].

    Same tap pairing and operation order as _pass_rows; outputs whose taps leave the row
    use mirrored indices."""
    n_rows, n = src.shape
    n_out = dst.shape[1]
    radius = half.shape[0] - 1
    last = n - 1
    # Outputs c in [body_lo, body_hi) have all taps inside the row.
    body_lo = min(n_out, max(0, radius - first_col))
    body_hi = max(body_lo, min(n_out, n - radius - first_col))
    inner = body_hi - body_lo
    start = first_col + body_lo  # input index of the first body output
    for i in range(n_rows):
        in_row = src[i]
        out_row = dst[i]
        if inner > 0:
            body = out_row[body_lo:body_hi]
            centre = in_row[start : start + inner]
            w = half[0]
            for j in range(inner):
                body[j] = w * centre[j]
            for k in range(1, radius + 1):
                w = half[k]
                up = in_row[start + k : start + k + inner]
                down = in_row[start - k : start - k + inner]
                if sign > 0:
                    for j in range(inner):
                        body[j] += w * (up[j] + down[j])
                else:
                    for j in range(inner):
                        body[j] += w * (up[j] - down[j])
        for c in range(body_lo):
            out_row[c] = _mirrored_tap_sum(in_row, half, sign, first_col + c, last)
        for c in range(body_hi, n_out):
            out_row[c] = _mirrored_tap_sum(in_row, half, sign, first_col + c, last)
    return dst


def correlate(src: np.ndarray, axis: int, kernel, start: int = 0, stop: int | None = None, into=None) -> np.ndarray:
    """Correlate a C-contiguous float32 (z, y, x) array with a kernel from ``kernel32``.

    Only output indices [start, stop) along ``axis`` are computed (inputs outside that range
    still feed them). ``into``: optional C-contiguous float32 array of the output shape."""
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
        return np.ascontiguousarray(src[tuple(index)])
    dst = np.empty(shape, dtype=np.float32) if into is None else into
    if axis == 2:
        _pass_x(src.reshape(n_slices * n_rows, n_cols), half, sign, dst.reshape(n_slices * n_rows, shape[2]), start)
    elif axis == 1:
        _pass_rows(src, half, sign, dst, start, n_cols)
    elif axis == 0:
        plane = n_rows * n_cols
        _pass_rows(src.reshape(1, n_slices, plane), half, sign, dst.reshape(1, shape[0], plane), start, _Z_CHUNK)
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

    def __init__(self, interior):
        self.interior = interior  # ((z0, z1), (y0, y1), (x0, x1)) in tile coordinates
        self._sources = {}
        self._results = {}

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
            array, axis, kernel32(sigma, order, window), first - origin[axis], last - origin[axis], into=into
        )
        new_origin = list(origin)
        new_origin[axis] = first
        result = (filtered, tuple(new_origin))
        if into is None:
            self._results[key] = result
        return result
