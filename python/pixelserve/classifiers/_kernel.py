"""The numba kernel that pushes pixels through a compiled forest (see `compiled.py` for the
node table it reads).

Why it looks like this (measured on 100 full-depth trees, 40 features; notes in
`docs/forest-speed.md` of this package's report):

- A plain per-pixel walk is latency-bound: every step waits for a node load, then a feature load,
  then the comparison; it ran 3x slower than scikit-learn.
- Pixels are handled in tiles of a few hundred to a few thousand rows. A tile's features are
  transposed once into feature-major *keys* (`Xt[f * row_stride + p]`), so that the pixels of a
  tile that sit at the same node can be compared against its threshold 64 at a time with one
  vector compare (`_ge_mask64`, 4 AVX-512 or 8 AVX2 instructions). Near the root of a tree most
  pixels of a tile share a node, so this "mask mode" costs a fraction of a cycle per pixel.
- When a node's pixel set becomes small (fewer than `dense_min` pixels), its pixels are queued and
  later walked to their leaves 12 at a time in lockstep, with the 12 node indices in registers,
  so that 12 independent load chains overlap.
- A leaf is a node whose key is 0xFFFFFFFF and whose left child is itself: walking on from a leaf
  stays there, so lockstep needs no per-pixel branch, only "are all 12 at leaves".
- Keys: a float32 maps to a uint32 whose unsigned order is the float order, so one integer
  compare does the work, and NaN features are replaced by a harmless key (their rows are zeroed).
- Each pixel's leaf is recorded per tree and the leaf values are summed in float64 in tree order,
  which is what scikit-learn and vigra do, so results match them to float32 rounding.
"""

from __future__ import annotations

import llvmlite.ir as ir
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LEAF_KEY = np.uint32(0xFFFFFFFF)
GROUP = 12   # pixels walked in lockstep; 8 left latency exposed, 16 spilled registers

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U64 = np.uint64(64)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_SIGN = np.uint32(0x80000000)
_ABS = np.uint32(0x7FFFFFFF)
_INF = np.uint32(0x7F800000)
_Z32 = np.uint32(0)
_SH31 = np.uint32(31)
_FOUR = np.uint32(4)


@intrinsic
def _ge_mask64(typingctx, keys, start, key):
    """Bit b of the result is keys[start + b] >= key (unsigned), for b = 0..63.

    Written as one <64 x i32> compare so that LLVM emits vector compares into mask registers;
    numba's loop vectoriser produced 4x slower code for the same loop.
    """
    sig = types.uint64(keys, types.uint64, types.uint32)

    def codegen(context, builder, signature, args):
        array, first, value = args
        data = context.make_array(signature.args[0])(context, builder, value=array).data
        vector_type = ir.VectorType(ir.IntType(32), 64)
        pointer = builder.bitcast(builder.gep(data, [first]), vector_type.as_pointer())
        loaded = builder.load(pointer, align=4)
        splat = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value,
                                       ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, ir.Constant(vector_type, ir.Undefined),
                                       ir.Constant(vector_type, [0] * 64))
        return builder.bitcast(builder.icmp_unsigned(">=", loaded, splat), ir.IntType(64))

    return sig, codegen


@intrinsic
def _popcount(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64]),
                                            "llvm.ctpop.i64")
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _trailing_zeros(typingctx, x):
    """Index of the lowest set bit; 64 for zero (callers tolerate that)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64, ir.IntType(1)]), "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

    return sig, codegen


@njit(nogil=True, cache=True)
def _load_tile(x_bits, first, count, row_stride, keys, nan_rows):
    """Transpose rows first..first+count into feature-major order-preserving keys."""
    n_features = x_bits.shape[1]
    for j in range(count):
        bad = False
        for f in range(n_features):
            bits = x_bits[first + j, f]
            is_nan = (bits & _ABS) > _INF
            key = bits ^ ((_Z32 - (bits >> _SH31)) | _SIGN)
            keys[f * row_stride + j] = _Z32 if is_nan else key
            bad |= is_nan
        nan_rows[j] = bad


@njit(nogil=True, cache=True)
def _walk_to_leaves(nodes, keys, pixels, starts, count, leaf_values, acc):
    """Walk queued pixels (pixel `pixels[i]` at node `starts[i]`) to their leaves, GROUP at a
    time in lockstep, and add each leaf's class distribution to the pixel's row of `acc`.
    The last group fills its spare slots with its last pixel and does not add them."""
    last = count - 1
    for q in range(0, count, GROUP):
        p0 = np.uint64(pixels[min(q + 0, last)]); n0 = np.uint64(starts[min(q + 0, last)])
        p1 = np.uint64(pixels[min(q + 1, last)]); n1 = np.uint64(starts[min(q + 1, last)])
        p2 = np.uint64(pixels[min(q + 2, last)]); n2 = np.uint64(starts[min(q + 2, last)])
        p3 = np.uint64(pixels[min(q + 3, last)]); n3 = np.uint64(starts[min(q + 3, last)])
        p4 = np.uint64(pixels[min(q + 4, last)]); n4 = np.uint64(starts[min(q + 4, last)])
        p5 = np.uint64(pixels[min(q + 5, last)]); n5 = np.uint64(starts[min(q + 5, last)])
        p6 = np.uint64(pixels[min(q + 6, last)]); n6 = np.uint64(starts[min(q + 6, last)])
        p7 = np.uint64(pixels[min(q + 7, last)]); n7 = np.uint64(starts[min(q + 7, last)])
        p8 = np.uint64(pixels[min(q + 8, last)]); n8 = np.uint64(starts[min(q + 8, last)])
        p9 = np.uint64(pixels[min(q + 9, last)]); n9 = np.uint64(starts[min(q + 9, last)])
        pa = np.uint64(pixels[min(q + 10, last)]); na = np.uint64(starts[min(q + 10, last)])
        pb = np.uint64(pixels[min(q + 11, last)]); nb = np.uint64(starts[min(q + 11, last)])
        while True:
            # one step for every slot; a leaf steps onto itself (its key is LEAF_KEY, its
            # left child is itself and no key reaches LEAF_KEY)
            k0 = nodes[n0 + _U1]; n0 = np.uint64(nodes[n0 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n0]) + p0] >= k0))
            k1 = nodes[n1 + _U1]; n1 = np.uint64(nodes[n1 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n1]) + p1] >= k1))
            k2 = nodes[n2 + _U1]; n2 = np.uint64(nodes[n2 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n2]) + p2] >= k2))
            k3 = nodes[n3 + _U1]; n3 = np.uint64(nodes[n3 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n3]) + p3] >= k3))
            k4 = nodes[n4 + _U1]; n4 = np.uint64(nodes[n4 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n4]) + p4] >= k4))
            k5 = nodes[n5 + _U1]; n5 = np.uint64(nodes[n5 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n5]) + p5] >= k5))
            k6 = nodes[n6 + _U1]; n6 = np.uint64(nodes[n6 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n6]) + p6] >= k6))
            k7 = nodes[n7 + _U1]; n7 = np.uint64(nodes[n7 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n7]) + p7] >= k7))
            k8 = nodes[n8 + _U1]; n8 = np.uint64(nodes[n8 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n8]) + p8] >= k8))
            k9 = nodes[n9 + _U1]; n9 = np.uint64(nodes[n9 + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[n9]) + p9] >= k9))
            ka = nodes[na + _U1]; na = np.uint64(nodes[na + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[na]) + pa] >= ka))
            kb = nodes[nb + _U1]; nb = np.uint64(nodes[nb + _U2] + _FOUR * np.uint32(keys[np.uint64(nodes[nb]) + pb] >= kb))
            if (k0 & k1 & k2 & k3 & k4 & k5 & k6 & k7 & k8 & k9 & ka & kb) == LEAF_KEY:
                break
        _add_leaf(nodes, leaf_values, acc, p0, n0, q + 0 < count)
        _add_leaf(nodes, leaf_values, acc, p1, n1, q + 1 < count)
        _add_leaf(nodes, leaf_values, acc, p2, n2, q + 2 < count)
        _add_leaf(nodes, leaf_values, acc, p3, n3, q + 3 < count)
        _add_leaf(nodes, leaf_values, acc, p4, n4, q + 4 < count)
        _add_leaf(nodes, leaf_values, acc, p5, n5, q + 5 < count)
        _add_leaf(nodes, leaf_values, acc, p6, n6, q + 6 < count)
        _add_leaf(nodes, leaf_values, acc, p7, n7, q + 7 < count)
        _add_leaf(nodes, leaf_values, acc, p8, n8, q + 8 < count)
        _add_leaf(nodes, leaf_values, acc, p9, n9, q + 9 < count)
        _add_leaf(nodes, leaf_values, acc, pa, na, q + 10 < count)
        _add_leaf(nodes, leaf_values, acc, pb, nb, q + 11 < count)


@njit(nogil=True, cache=True, inline="always")
def _add_leaf(nodes, leaf_values, acc, pixel, node, real):
    """acc[pixel] += the class distribution of leaf `node` (skipped for padding slots)."""
    if real:
        values = np.uint64(nodes[node + _U3])
        for k in range(acc.shape[1]):
            acc[pixel, k] += leaf_values[values + np.uint64(k)]


@njit(nogil=True, cache=True)
def _queue_pixels(masks, offset, word_lo, word_hi, node, pixels, starts, queued):
    """Append the pixels of a mask to the lockstep queue; returns the new queue length.

    Expands four bits per round without a branch per bit; extra slots written past the end
    (trailing-zero count 64 of an empty word) are overwritten later or never read."""
    node32 = np.uint32(node)
    for w in range(word_lo, word_hi):
        bits = masks[offset + w]
        base = np.uint32(w * _U64)
        left = _popcount(bits)
        while True:
            pixels[queued] = base + np.uint32(_trailing_zeros(bits)); starts[queued] = node32
            bits &= bits - _U1
            pixels[queued + 1] = base + np.uint32(_trailing_zeros(bits)); starts[queued + 1] = node32
            bits &= bits - _U1
            pixels[queued + 2] = base + np.uint32(_trailing_zeros(bits)); starts[queued + 2] = node32
            bits &= bits - _U1
            pixels[queued + 3] = base + np.uint32(_trailing_zeros(bits)); starts[queued + 3] = node32
            bits &= bits - _U1
            if left <= _U4:
                queued += np.int64(left)
                break
            queued += 4
            left -= _U4
    return queued


@njit(nogil=True, cache=True)
def _add_leaf_to_mask(masks, offset, word_lo, word_hi, values, leaf_values, acc):
    """Add the class distribution at leaf_values[values:] to every pixel of a mask."""
    for w in range(word_lo, word_hi):
        bits = masks[offset + w]
        while bits != _U0:
            pixel = w * _U64 + _trailing_zeros(bits)
            for k in range(acc.shape[1]):
                acc[pixel, k] += leaf_values[values + np.uint64(k)]
            bits &= bits - _U1


@njit(nogil=True, cache=True)
def predict_rows(x_bits, nodes, leaf_values, roots, max_depth, tile, row_stride, dense_min,
                 total_trees, out):
    """Probabilities of every row of `x_bits` (float32 features viewed as uint32) into `out`.

    nodes: uint32, four words per node: split [feature * row_stride, key, left child, 0],
    leaf [0, LEAF_KEY, itself, offset of its values in leaf_values]; node references are word
    indices. roots: the root word of every tree. tile: a multiple of 64.
    """
    n_rows = x_bits.shape[0]
    n_classes = out.shape[1]
    words = tile // 64
    keys = np.empty(x_bits.shape[1] * row_stride, np.uint32)
    nan_rows = np.empty(tile, np.bool_)
    pixels = np.empty(tile + 4, np.uint32)
    starts = np.empty(tile + 4, np.uint32)
    acc = np.zeros((tile, n_classes))
    depth = max_depth + 2
    masks = np.zeros((depth + 2) * words, np.uint64)
    left_slot = np.uint64(depth * words)
    right_slot = np.uint64((depth + 1) * words)
    stack_node = np.empty(depth, np.uint64)
    stack_lo = np.empty(depth, np.uint64)
    stack_hi = np.empty(depth, np.uint64)
    min_count = np.uint64(dense_min)
    for first in range(0, n_rows, tile):
        count = min(tile, n_rows - first)
        _load_tile(x_bits, first, count, row_stride, keys, nan_rows)
        acc[:] = 0.0
        used_words = (count + 63) // 64
        for t in range(roots.shape[0]):
            root = np.uint64(roots[t])
            queued = 0
            if count < dense_min:   # too few rows for mask mode: walk them all from the root
                for p in range(count):
                    pixels[p] = np.uint32(p)
                    starts[p] = np.uint32(root)
                queued = count
            else:
                for w in range(used_words):
                    rest = count - w * 64
                    masks[w] = _ALL if rest >= 64 else (_U1 << np.uint64(rest)) - _U1
                stack_node[0] = root
                stack_lo[0] = _U0
                stack_hi[0] = np.uint64(used_words)
                top = 1
                while top > 0:
                    top -= 1
                    node = stack_node[top]
                    key = nodes[node + _U1]
                    if key == LEAF_KEY:   # a tree that is a single leaf
                        values = np.uint64(nodes[node + _U3])
                        for p in range(count):
                            for k in range(n_classes):
                                acc[p, k] += leaf_values[values + np.uint64(k)]
                        continue
                    column = np.uint64(nodes[node])
                    child = np.uint64(nodes[node + _U2])
                    mine = np.uint64(top * words)
                    word_lo = stack_lo[top]
                    word_hi = stack_hi[top]
                    n_left = _U0
                    n_right = _U0
                    left_lo = word_hi
                    left_hi = word_lo
                    right_lo = word_hi
                    right_hi = word_lo
                    for w in range(word_lo, word_hi):
                        bits = _ge_mask64(keys, column + w * _U64, key)
                        here = masks[mine + w]
                        goes_left = here & ~bits
                        goes_right = here & bits
                        masks[left_slot + w] = goes_left
                        masks[right_slot + w] = goes_right
                        n_left += _popcount(goes_left)
                        n_right += _popcount(goes_right)
                        # track the words each side occupies (selects, not branches)
                        left_lo = w if (goes_left != _U0 and left_lo == word_hi) else left_lo
                        left_hi = w + _U1 if goes_left != _U0 else left_hi
                        right_lo = w if (goes_right != _U0 and right_lo == word_hi) else right_lo
                        right_hi = w + _U1 if goes_right != _U0 else right_hi
                    for side in range(2):
                        n_side = n_left if side == 0 else n_right
                        if n_side == _U0:
                            continue
                        target = child + np.uint64(4 * side)
                        slot = left_slot if side == 0 else right_slot
                        lo = left_lo if side == 0 else right_lo
                        hi = left_hi if side == 0 else right_hi
                        if nodes[target + _U1] == LEAF_KEY:
                            _add_leaf_to_mask(masks, slot, lo, hi, np.uint64(nodes[target + _U3]),
                                              leaf_values, acc)
                        elif n_side >= min_count:
                            destination = np.uint64(top * words)
                            for w in range(lo, hi):
                                masks[destination + w] = masks[slot + w]
                            stack_node[top] = target
                            stack_lo[top] = lo
                            stack_hi[top] = hi
                            top += 1
                        else:
                            queued = _queue_pixels(masks, slot, lo, hi, target, pixels, starts,
                                                   queued)
            if queued > 0:
                _walk_to_leaves(nodes, keys, pixels, starts, queued, leaf_values, acc)
        for j in range(count):
            if nan_rows[j]:
                for k in range(n_classes):
                    out[first + j, k] = 0.0
            else:
                for k in range(n_classes):
                    out[first + j, k] = acc[j, k] / total_trees
