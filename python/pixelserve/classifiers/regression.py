"""Fast prediction with several random-forest regressors at once, through the compiled
forest kernel that classification uses (`_kernel.predict_rows`).

The kernel adds each tree's leaf row to a pixel's accumulator, in float64 and tree after tree,
then divides by a fixed count. A regressor's leaf becomes a row that holds its value in that
regressor's column and zeros elsewhere, so one pass over all trees of R regressors yields R
sums, each accumulated in exactly the order scikit-learn's `RandomForestRegressor.predict`
uses (zeros added to the other columns change nothing). Divided by the trees per regressor
and rounded to float32, every column equals scikit-learn's prediction rounded to float32.

Splits keep scikit-learn's rule (left when x <= t, float32 x compared as float64) by handing
the kernel t' = nextafter(t, +inf) with its rule "left when x < t'": no float64 lies between.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .ensemble import ForestEnsemble
from .regression_trees import RegressionTree, check_tree
from .vigra_forest import ParsedTree


class RegressionForests(ForestEnsemble):
    """R regressors (each a list of trees) compiled into one node table; read-only and
    thread-safe after init. `predict` gives one float32 column per regressor."""

    def __init__(self, regressors: list[list[RegressionTree]], n_features: int):
        counts = {len(trees) for trees in regressors}
        if not regressors or 0 in counts:
            raise UserError("RegressionForests needs at least one regressor with trees. "
                            "Fix: train the regressors first.")
        if len(counts) != 1:
            raise UserError(f"The regressors hold different numbers of trees ({sorted(counts)}); "
                            "pixelserve averages each over the same count. Fix: train every "
                            "regressor with the same n_estimators.")
        width = len(regressors)
        parsed = [_parsed_tree(tree, column, width, n_features, f"regressor {column} tree {i}")
                  for column, trees in enumerate(regressors) for i, tree in enumerate(trees)]
        self._prepare(parsed, int(n_features), width, counts.pop())

    @property
    def n_regressors(self) -> int:
        return self.n_classes

    def predict(self, X: np.ndarray, out: np.ndarray | None = None,
                threads: int = 1) -> np.ndarray:
        """(N, n_regressors) float32: each regressor's mean over its trees for the feature rows
        X (N, n_features), as scikit-learn's `predict` rounded to float32. Rows with NaN get 0.
        Input, `out` and `threads` work as in `ForestEnsemble.predict_proba`."""
        return self.predict_proba(X, out=out, threads=threads)


def _parsed_tree(tree: RegressionTree, column: int, width: int, n_features: int,
                 where: str) -> ParsedTree:
    """The tree renumbered breadth-first (children of a split adjacent, as `ParsedTree`
    requires), with its leaf values in `column` of `width`-wide rows."""
    order, levels = check_tree(tree, n_features, where)
    split = tree.children_left[order] >= 0
    # breadth-first numbering puts the k-th split's children at 1 + 2k and 2 + 2k
    left = np.where(split, 2 * np.cumsum(split) - 1, -1)
    leaf_values = np.zeros((order.size, width))
    leaf_values[~split, column] = tree.value[order][~split]
    return ParsedTree(feature=np.where(split, tree.feature[order], -1),
                      threshold=np.where(split, np.nextafter(tree.threshold[order], np.inf), 0.0),
                      left=left, right=np.where(split, left + 1, -1), leaf_values=leaf_values,
                      leaf_weight=np.ones(order.size), levels=levels)
