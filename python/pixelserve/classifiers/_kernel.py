"""The numba kernel that pushes pixels through a compiled forest (`ensemble.py` builds the
node table it reads; the layout is described in `predict_rows`).

Why it looks like this (each point measured on 100 full-depth trees, 40 features, against
scikit-learn's predict_proba on the same rows; `scripts/bench_forest.py`):

- A plain per-pixel walk is latency-bound (node load, then feature load, then compare, then the
  next node) and ran 3x slower than scikit-learn. A level-synchronous pass over all pixels, a
  compacting work list and partitioning pixel lists by node were all slower than what follows.
- Pixels are handled in tiles of ~1000 rows. A tile's features are transposed once into
  feature-major *keys*, so that the pixels of a tile sitting at one node are compared with its
  threshold 64 at a time by one vector compare (`_ge_mask64`: 4 AVX-512 or 8 AVX2 compares).
  Near the root most pixels of a tile share a node, so this "mask mode" costs a fraction of a
  cycle per pixel and node.
- When a node's pixel set gets small (fewer than `dense_min`), its pixels are queued and later
  walked to their leaves 12 at a time in lockstep, the 12 node indices held in registers, so
  that 12 independent load chains overlap (8 left latency exposed; 16 spilled registers).
- A leaf is a node whose key is 0xFFFFFFFF and whose left child is itself: walking on from a
  leaf stays there, so lockstep needs no per-pixel branch, only "are all 12 at leaves".
- Keys: a float32 maps to a uint32 whose unsigned order is the float order, so one integer
  compare decides a split. NaN features get a harmless key (their rows are zeroed at the end).
- Leaf distributions are added in float64, tree after tree in the stored order, as
  scikit-learn does, so results match it (and vigra) to float32 rounding. The distinct
  distributions are few (leaves of full-depth trees are pure), so their table stays in L1.
"""

from __future__ import annotations

import llvmlite.ir as ir
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LEAF_KEY = np.uint32(0xFFFFFFFF)
GROUP = 12   # pixels walked in lockstep (the code below is unrolled for exactly 12)

# Index arithmetic is kept unsigned with typed constants: in numba, uint64 mixed with int64
# becomes float64, and signed indices add a negative-index check to every array access
# (which made the inner loops ~2x longer).
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
    found = np.empty(GROUP, np.uint64)
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
        while True:   # one step for every slot, until all 12 stand on leaves
            # (AND-ing the keys as we go: keeping 12 keys live for one AND at the end spilled
            # registers and cost 8 %)
            all_keys = LEAF_KEY
            n0, all_keys = _step(nodes, keys, n0, p0, all_keys)
            n1, all_keys = _step(nodes, keys, n1, p1, all_keys)
            n2, all_keys = _step(nodes, keys, n2, p2, all_keys)
            n3, all_keys = _step(nodes, keys, n3, p3, all_keys)
            n4, all_keys = _step(nodes, keys, n4, p4, all_keys)
            n5, all_keys = _step(nodes, keys, n5, p5, all_keys)
            n6, all_keys = _step(nodes, keys, n6, p6, all_keys)
            n7, all_keys = _step(nodes, keys, n7, p7, all_keys)
            n8, all_keys = _step(nodes, keys, n8, p8, all_keys)
            n9, all_keys = _step(nodes, keys, n9, p9, all_keys)
            na, all_keys = _step(nodes, keys, na, pa, all_keys)
            nb, all_keys = _step(nodes, keys, nb, pb, all_keys)
            if all_keys == LEAF_KEY:
                break
        # leaves of the group's real pixels (spare slots repeat the last one)
        found[0] = n0; found[1] = n1; found[2] = n2; found[3] = n3; found[4] = n4; found[5] = n5
        found[6] = n6; found[7] = n7; found[8] = n8; found[9] = n9; found[10] = na; found[11] = nb
        for g in range(min(GROUP, count - q)):
            pixel = pixels[q + g]
            _add_row(acc, pixel, leaf_values, np.uint64(nodes[found[g] + _U3]))


@njit(nogil=True, cache=True, inline="always")
def _step(nodes, keys, node, pixel, all_keys):
    """(next node of `pixel`, all_keys AND the key of `node`). A leaf steps onto itself: its
    key is LEAF_KEY, which no feature key reaches, and its left child is itself."""
    key = nodes[node + _U1]
    right = np.uint32(keys[np.uint64(nodes[node]) + pixel] >= key)
    return np.uint64(nodes[node + _U2] + _FOUR * right), all_keys & key


@njit(nogil=True, cache=True, inline="always")
def _add_row(acc, pixel, leaf_values, values):
    """acc[pixel] += leaf_values[values:values + acc.shape[1]], four lanes at a time so that
    LLVM emits one vector add per four classes (rows are zero-padded to a multiple of 4)."""
    for chunk in range(0, acc.shape[1], 4):
        base = values + np.uint64(chunk)
        for k in range(4):
            acc[pixel, chunk + k] += leaf_values[base + np.uint64(k)]


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
            for i in range(4):   # constant trip count: unrolled, no branch per bit
                pixels[queued + i] = base + np.uint32(_trailing_zeros(bits))
                starts[queued + i] = node32
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
            _add_row(acc, w * _U64 + _trailing_zeros(bits), leaf_values, values)
            bits &= bits - _U1


@njit(nogil=True, cache=True)
def predict_rows(x_bits, nodes, leaf_values, roots, max_depth, tile, row_stride, dense_min,
                 total_trees, out):
    """Probabilities of every row of `x_bits` (float32 features viewed as uint32) into `out`.

    nodes: uint32, four words per node, nodes referenced by the index of their first word:
    a split is [feature * row_stride, threshold key, left child, 0] and its right child is the
    node after the left one (left + 4); a leaf is [0, LEAF_KEY, itself, offset of its
    distribution in leaf_values (rows zero-padded to a multiple of 4)]. roots: the first
    node of every tree. tile: a multiple of 64; row_stride >= tile; rows that contain NaN get
    zeros; the rest get the sum of their leaves' distributions divided by total_trees.
    """
    n_rows = x_bits.shape[0]
    n_classes = out.shape[1]
    words = tile // 64
    keys = np.empty(x_bits.shape[1] * row_stride, np.uint32)
    nan_rows = np.empty(tile, np.bool_)
    pixels = np.empty(tile + 4, np.uint32)
    starts = np.empty(tile + 4, np.uint32)
    acc = np.zeros((tile, (n_classes + 3) // 4 * 4))
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
                # Mask mode, depth first. Stack entry i holds a node and the range of 64-pixel
                # words its pixel set occupies; the set itself is masks[i * words:...]. A popped
                # node's two child sets go to scratch slots, then a big child is copied into the
                # freed stack slot, a small one is queued for the lockstep walk.
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
                            _add_row(acc, p, leaf_values, values)
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


@njit(nogil=True, cache=True)
def subtree_positions(left):
    """New position of every node of a breadth-first tree (`left[n]` = first child or -1) in a
    depth-first order of children pairs: root, then each split's pair followed by the subtrees
    of its left and then its right child."""
    count = left.shape[0]
    position = np.empty(count, np.int64)
    position[0] = 0
    stack = np.empty(count + 1, np.int64)
    stack[0] = 0
    top = 1
    free = 1
    while top > 0:
        top -= 1
        child = left[stack[top]]
        if child >= 0:
            position[child] = free
            position[child + 1] = free + 1
            free += 2
            stack[top] = child + 1
            stack[top + 1] = child
            top += 2
    return position
