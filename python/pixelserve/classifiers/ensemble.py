"""Prediction with the forests of one ilastik classifier, compiled into one flat node table.

ilastik stores a classifier as several vigra forests and combines them by tree count:
P = sum_f(trees_f * P_f) / total_trees, where P_f averages the leaf distributions of forest f.
With normalised leaves that is the plain average over all trees of all forests, so every tree
goes into one table and one pass.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import ProjectError, UserError
from . import _kernel
from .vigra_forest import ParsedTree, VigraForest, check_forest

_FIX = "Fix: retrain the classifier in ilastik and save the project again."


def threshold_keys(thresholds: np.ndarray) -> np.ndarray:
    """uint32 keys k(t) such that, for every float32 x that is not NaN,
    `x < t` (x compared as float64, vigra's rule)  <=>  `key(x) < k(t)` (unsigned).

    t is replaced by the smallest float32 >= t (exact for float32 x: no float32 lies between),
    zero by -0.0 (so that -0.0 and +0.0 land on the same side), NaN by -inf (x < NaN is false:
    always right). Rounding thresholds to the *nearest* float32 instead would move pixels that
    sit between the two (up to 0.01 in probability, see the notes).
    """
    t = np.asarray(thresholds, dtype=np.float64).copy()
    t[np.isnan(t)] = -np.inf
    with np.errstate(over="ignore"):
        t32 = t.astype(np.float32)
    below = t32.astype(np.float64) < t
    t32[below] = np.nextafter(t32[below], np.float32(np.inf))
    t32[t32 == 0] = np.float32(-0.0)
    return float_keys(t32)


def float_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving map of float32 to uint32 (the kernel applies the same map to features)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return np.where(bits >> np.uint32(31), ~bits, bits ^ np.uint32(0x80000000)).astype(np.uint32)


def _tile_for(n_features: int) -> int:
    """Rows per tile: a tile's keys (4 bytes per feature and row) should stay within ~256 KB of
    cache; 1024 rows for ~40 features measured best (512..2048 within a few percent)."""
    rows = 262144 // (4 * max(n_features, 1))
    tile = 1 << max(rows.bit_length() - 1, 0)
    return int(min(max(tile, 256), 2048))


class ForestEnsemble:
    """All forests of one classifier, ready to predict; read-only and thread-safe after init."""

    def __init__(self, forests: list[VigraForest]):
        if not forests:
            raise ProjectError(f"The classifier holds no forests. {_FIX}")
        first = forests[0]
        parsed: list[ParsedTree] = []
        for index, forest in enumerate(forests):
            where = f"forest {index}"
            if forest.n_features != first.n_features:
                raise ProjectError(f"{where} takes {forest.n_features} features, forest 0 takes "
                                   f"{first.n_features}. {_FIX}")
            if not np.array_equal(np.asarray(forest.labels), np.asarray(first.labels)):
                raise ProjectError(f"{where} knows labels {np.asarray(forest.labels).tolist()}, "
                                   f"forest 0 knows {np.asarray(first.labels).tolist()}. {_FIX}")
            if forest.predict_weighted:
                raise ProjectError(f"{where} asks for weighted prediction (predict_weighted_), "
                                   "which ilastik never uses and pixelserve does not support. "
                                   + _FIX)
            parsed.extend(check_forest(forest, where))
        for tree in parsed:
            sums = tree.leaf_values[tree.feature < 0].sum(axis=1)
            if np.any(np.abs(sums - 1.0) > 1e-6):
                worst = sums[np.argmax(np.abs(sums - 1.0))]
                raise ProjectError(f"A leaf's class probabilities sum to {worst:.6g} instead of 1; "
                                   f"vigra and ilastik always normalise them. {_FIX}")
        self.labels = np.asarray(first.labels, dtype=np.uint32).copy()
        self._prepare(parsed, int(first.n_features), int(first.n_classes), len(parsed))

    def _prepare(self, trees: list[ParsedTree], n_features: int, n_outputs: int,
                 divisor: int) -> None:
        """Compile `trees` for prediction: each row's output is the sum of its leaves' rows
        (`leaf_values`, n_outputs wide) divided by `divisor`."""
        self.n_features = n_features
        self.n_classes = n_outputs
        self.tree_count = len(trees)
        self._divisor = float(divisor)
        self.tile = _tile_for(self.n_features)
        # Key rows must not lie a power of two apart: 40 rows 4 KiB apart share one set of the
        # 8-way L1 cache and evict each other (measured 1.7x slower).
        self.row_stride = self.tile + 32
        self.dense_min = self.tile // 8   # smaller node sets are walked in lockstep (tuned)
        self._compile(trees)

    def _compile(self, trees: list[ParsedTree]) -> None:
        """All trees in one uint32 table of 4-word nodes (layout in `_kernel.predict_rows`).

        Within a tree, children pairs stay adjacent and every subtree is contiguous (a
        depth-first order of pairs), so that a walk through the lower levels touches few cache
        lines; this measured ~5 % faster than breadth-first order.
        """
        total = sum(t.feature.size for t in trees)
        if total * 4 >= 2 ** 32 or self.n_features * self.row_stride >= 2 ** 32:
            raise ProjectError(f"The classifier has {total} nodes and {self.n_features} features, "
                               "more than pixelserve handles.")
        nodes = np.zeros((total, 4), dtype=np.uint32)
        leaf_blocks, roots = [], []
        first_node = first_leaf = 0
        max_levels = 1
        for tree in trees:
            order, left = _subtree_order(tree.left)
            feature, threshold = tree.feature[order], tree.threshold[order]
            count = feature.size
            split = feature >= 0
            block = nodes[first_node:first_node + count]
            block[split, 0] = feature[split] * self.row_stride
            block[split, 1] = threshold_keys(threshold[split])
            block[~split, 1] = _kernel.LEAF_KEY
            block[:, 2] = 4 * (np.where(split, left, np.arange(count)) + first_node)
            values = tree.leaf_values[order][~split]
            block[~split, 3] = first_leaf + np.arange(values.shape[0])   # row, remapped below
            leaf_blocks.append(values)
            roots.append(4 * first_node)
            max_levels = max(max_levels, tree.levels)
            first_node += count
            first_leaf += values.shape[0]
        if first_leaf * self.n_classes >= 2 ** 32:
            raise ProjectError(f"The classifier has {first_leaf} leaves, more than pixelserve "
                               "handles.")
        # Full-depth trees have mostly pure leaves, so few distinct distributions exist (3 for
        # 32000 leaves of a 3-class forest): sharing rows keeps the table in L1 cache, which
        # made prediction ~30 % faster than one row per leaf. Values are unchanged, bit for bit.
        # Rows are zero-padded to a multiple of 4 classes for the kernel's 4-lane adds.
        rows, row_of_leaf = np.unique(np.concatenate(leaf_blocks), axis=0, return_inverse=True)
        width = (self.n_classes + 3) // 4 * 4
        padded = np.zeros((rows.shape[0], width))
        padded[:, :self.n_classes] = rows
        leaf = nodes[:, 1] == _kernel.LEAF_KEY
        nodes[leaf, 3] = row_of_leaf.reshape(-1)[nodes[leaf, 3]] * width
        self._nodes = nodes.reshape(-1)
        self._leaf_values = padded.reshape(-1)
        self._roots = np.asarray(roots, dtype=np.uint32)
        self._max_depth = max_levels

    @property
    def nbytes(self) -> int:
        """Memory the compiled trees hold."""
        return self._nodes.nbytes + self._leaf_values.nbytes + self._roots.nbytes

    def predict_proba(self, X: np.ndarray, out: np.ndarray | None = None,
                      threads: int = 1) -> np.ndarray:
        """Class probabilities (N, n_classes) float32 of feature rows X (N, n_features).

        X should be float32 and C-contiguous (other input is converted, which costs a copy).
        Rows containing NaN get all-zero probabilities. Runs in the calling thread without the
        GIL; `threads=k` splits the rows over k threads for one big array.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise UserError(f"The classifier expects rows of {self.n_features} features, got an "
                            f"array of shape {X.shape}. Fix: compute the features the project "
                            "selects, one row per pixel.")
        if X.dtype != np.float32 or not X.flags.c_contiguous:
            X = np.ascontiguousarray(X, dtype=np.float32)
        n_rows = X.shape[0]
        if out is None:
            out = np.empty((n_rows, self.n_classes), dtype=np.float32)
        elif (out.shape != (n_rows, self.n_classes) or out.dtype != np.float32
              or not out.flags.c_contiguous or not out.flags.writeable):
            raise UserError(f"`out` must be a writable C-contiguous float32 array of shape "
                            f"{(n_rows, self.n_classes)}, got {out.dtype} {out.shape}.")
        if n_rows == 0:
            return out
        bits = X.view(np.uint32)
        threads = max(1, min(int(threads or 1), math.ceil(n_rows / self.tile)))
        if threads == 1:
            self._run(bits, out)
            return out
        per_thread = math.ceil(math.ceil(n_rows / self.tile) / threads) * self.tile
        bounds = [(a, min(a + per_thread, n_rows)) for a in range(0, n_rows, per_thread)]
        with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
            for done in [pool.submit(self._run, bits[a:b], out[a:b]) for a, b in bounds]:
                done.result()
        return out

    def _run(self, bits: np.ndarray, out: np.ndarray) -> None:
        _kernel.predict_rows(bits, self._nodes, self._leaf_values, self._roots, self._max_depth,
                             self.tile, self.row_stride, self.dense_min,
                             self._divisor, out)


def _subtree_order(left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A renumbering of a breadth-first tree (children of a split at left, left + 1) that keeps
    children pairs adjacent and makes every subtree contiguous. Returns (old node of each new
    position, left child of each new position in new numbers, -1 for leaves)."""
    position = _kernel.subtree_positions(np.ascontiguousarray(left, dtype=np.int64))
    order = np.empty_like(position)
    order[position] = np.arange(position.size)
    old_left = left[order]
    new_left = np.where(old_left >= 0, position[np.maximum(old_left, 0)], -1)
    return order, new_left
