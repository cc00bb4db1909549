"""numba kernel that turns filter responses into feature values, written straight into the
pixel-major output (z, y, x, F).

The responses of one tile (all groups, all channels) sit in one stack (n, S, H, W); a small
program (one row per feature and channel: opcode, first output column, input slots) says
how to combine them. The writer walks the tile in runs of ``WRITER_CHUNK`` pixels of a row
and runs the whole program on each run, so its output rows (run x F floats) are filled
while they sit in cache: writing feature by feature over a whole tile instead costs 3-4 ns
per value in cache misses, more than computing it.

Each row's values are first computed into small contiguous buffers (zero-based loops over
row views, the form LLVM vectorises), then scattered into the output columns. Eigenvalues
use closed forms in float64, descending, as ilastik stores them. For 3x3 the trigonometric
solution uses polynomial arccos/cos/sin (errors < 3e-8 rad) instead of libm calls, which
keeps the loop vectorisable. The kernel releases the GIL.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# error_model="numpy": no ZeroDivisionError checks, whose branches stop vectorisation.
_JIT = dict(nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")

# Abramowitz & Stegun 4.4.46: arccos(x) = sqrt(1 - x) * poly(x) on [0, 1], |error| <= 2e-8.
_ACOS0 = 1.5707963050
_ACOS1 = -0.2145988016
_ACOS2 = 0.0889789874
_ACOS3 = -0.0501743046
_ACOS4 = 0.0308918810
_ACOS5 = -0.0170881256
_ACOS6 = 0.0066700901
_ACOS7 = -0.0012624911
_SQRT3 = math.sqrt(3.0)
_THIRD = 1.0 / 3.0
_SIXTH = 1.0 / 6.0


# Program opcodes (column 0 of a program row).
OP_COPY, OP_DIFFERENCE, OP_SUM, OP_MAGNITUDE, OP_EIGEN2, OP_EIGEN3 = range(6)
OUTPUT_COLUMNS = {OP_COPY: 1, OP_DIFFERENCE: 1, OP_SUM: 1, OP_MAGNITUDE: 1, OP_EIGEN2: 2, OP_EIGEN3: 3}
PROGRAM_WIDTH = 9  # opcode, first column, number of inputs, up to 6 input slots


@numba.njit(inline="always", **_JIT)  # inlined by numba: LLVM would not, and then not vectorise
def _eigenvalues3(a00, a01, a02, a11, a12, a22):
    """Closed-form eigenvalues of a symmetric 3x3 matrix, descending (trigonometric method).

    Branch-free (selects only) so that the calling loop vectorises."""
    off = a01 * a01 + a02 * a02 + a12 * a12
    # Divisions by constants are written as products: a division costs 5-10 multiplies.
    mean = (a00 + a11 + a22) * _THIRD
    d0 = a00 - mean
    d1 = a11 - mean
    d2 = a22 - mean
    p = math.sqrt((d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * off) * _SIXTH)
    safe_p = p if p > 0.0 else 1.0  # p == 0: a multiple of the identity, det below is 0 too
    det = d0 * (d1 * d2 - a12 * a12) - a01 * (a01 * d2 - a12 * a02) + a02 * (a01 * a12 - d1 * a02)
    half_det = min(1.0, max(-1.0, det / (2.0 * safe_p * safe_p * safe_p)))
    # phi = arccos(half_det) / 3 in [0, pi/3]
    t = abs(half_det)
    poly = _ACOS7
    poly = poly * t + _ACOS6
    poly = poly * t + _ACOS5
    poly = poly * t + _ACOS4
    poly = poly * t + _ACOS3
    poly = poly * t + _ACOS2
    poly = poly * t + _ACOS1
    poly = poly * t + _ACOS0
    acos_t = math.sqrt(1.0 - t) * poly
    angle = (acos_t if half_det >= 0.0 else math.pi - acos_t) * _THIRD
    # cos and sin of angle by Taylor series (angle <= pi/3: truncation error < 2e-12)
    a2 = angle * angle
    cos_a = 1.0 + a2 * (
        -1.0 / 2
        + a2
        * (
            1.0 / 24
            + a2
            * (
                -1.0 / 720
                + a2
                * (1.0 / 40320 + a2 * (-1.0 / 3628800 + a2 * (1.0 / 479001600 + a2 * (-1.0 / 87178291200))))
            )
        )
    )
    sin_a = angle * (
        1.0
        + a2
        * (
            -1.0 / 6
            + a2
            * (
                1.0 / 120
                + a2 * (-1.0 / 5040 + a2 * (1.0 / 362880 + a2 * (-1.0 / 39916800 + a2 * (1.0 / 6227020800))))
            )
        )
    )
    largest = mean + 2.0 * p * cos_a
    # cos(angle + 2 pi / 3) = -cos/2 - sqrt(3)/2 sin
    smallest = mean - p * (cos_a + _SQRT3 * sin_a)
    # The trace fixes the middle one; clamp so that rounding cannot break the order.
    middle = min(max(3.0 * mean - largest - smallest, smallest), largest)
    return largest, middle, smallest


# Pixels per writer chunk: the chunk's output rows (chunk x F floats) stay in L1.
WRITER_CHUNK = 512


@numba.njit(**_JIT)
def write_features(out, stack, program, chunk):
    """Run ``program`` on every pixel: out (S, H, W, F) view, stack (n, S, H, W) responses."""
    n_s, n_y, n_x = out.shape[0], out.shape[1], out.shape[2]
    values = np.empty((3, chunk), dtype=np.float32)
    total = np.empty(chunk, dtype=np.float64)
    for s in range(n_s):
        for y in range(n_y):
            for x0 in range(0, n_x, chunk):
                x1 = min(n_x, x0 + chunk)
                _write_chunk(out[s, y, x0:x1], stack, s, y, x0, x1, program, values, total)


@numba.njit(**_JIT)
def _write_chunk(out_rows, stack, s, y, x0, x1, program, values, total):
    """The program on pixels x0:x1 of row (s, y): out_rows (m, F) view of the output.

    Response rows are taken as ``stack[slot, s, y, x0:x1]`` of the C-contiguous stack so
    that numba knows they are contiguous (a strided view would not vectorise)."""
    m = out_rows.shape[0]
    for op in range(program.shape[0]):
        code = program[op, 0]
        col = program[op, 1]
        n_in = program[op, 2]
        first = stack[program[op, 3], s, y, x0:x1]
        v0 = values[0, :m]
        n_cols = 1
        if code == OP_COPY:
            for x in range(m):
                v0[x] = first[x]
        elif code == OP_DIFFERENCE:
            second = stack[program[op, 4], s, y, x0:x1]
            for x in range(m):
                v0[x] = first[x] - second[x]
        elif code == OP_SUM:
            for x in range(m):
                v0[x] = first[x]
            for p in range(1, n_in):
                part = stack[program[op, 3 + p], s, y, x0:x1]
                for x in range(m):
                    v0[x] += part[x]
        elif code == OP_MAGNITUDE:
            t = total[:m]
            for x in range(m):
                t[x] = np.float64(first[x]) * np.float64(first[x])
            for p in range(1, n_in):
                part = stack[program[op, 3 + p], s, y, x0:x1]
                for x in range(m):
                    t[x] += np.float64(part[x]) * np.float64(part[x])
            for x in range(m):
                v0[x] = math.sqrt(t[x])
        elif code == OP_EIGEN2:
            _eigen2_row(
                first,
                stack[program[op, 4], s, y, x0:x1],
                stack[program[op, 5], s, y, x0:x1],
                values[0, :m],
                values[1, :m],
            )
            n_cols = 2
        else:  # OP_EIGEN3
            _eigen3_row(
                first,
                stack[program[op, 4], s, y, x0:x1],
                stack[program[op, 5], s, y, x0:x1],
                stack[program[op, 6], s, y, x0:x1],
                stack[program[op, 7], s, y, x0:x1],
                stack[program[op, 8], s, y, x0:x1],
                values[0, :m],
                values[1, :m],
                values[2, :m],
            )
            n_cols = 3
        for k in range(n_cols):
            vk = values[k]
            for x in range(m):
                out_rows[x, col + k] = vk[x]


@numba.njit(**_JIT)
def _eigen2_row(r00, r01, r11, large, small):
    """Eigenvalues (descending) of [[a00, a01], [a01, a11]] along a row."""
    for x in range(r00.shape[0]):
        p = np.float64(r00[x])
        q = np.float64(r01[x])
        r = np.float64(r11[x])
        mean = 0.5 * (p + r)
        half = 0.5 * (p - r)
        spread = math.sqrt(half * half + q * q)
        large[x] = mean + spread
        small[x] = mean - spread


@numba.njit(**_JIT)
def _eigen3_row(r00, r01, r02, r11, r12, r22, e0, e1, e2):
    """Eigenvalues (descending) of the symmetric 3x3 field given by its upper triangle."""
    for x in range(r00.shape[0]):
        v0, v1, v2 = _eigenvalues3(
            np.float64(r00[x]),
            np.float64(r01[x]),
            np.float64(r02[x]),
            np.float64(r11[x]),
            np.float64(r12[x]),
            np.float64(r22[x]),
        )
        e0[x] = v0
        e1[x] = v1
        e2[x] = v2
