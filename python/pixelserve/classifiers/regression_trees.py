"""Regression trees in scikit-learn's node layout, and their HDF5 form (no pickles).

ilastik's Cell Density Counting stores its trained regressors as pickled Python objects
(`Counting/CountingWrappers`), which pixelserve never loads. pixelserve keeps trained
regressors as plain arrays instead, one group per tree, in scikit-learn's own numbering:

- `children_left`, `children_right` (int32): child node numbers, -1 at leaves;
- `feature` (int32): the feature a split compares (ignored at leaves);
- `threshold` (float64): a row goes left when `x[feature] <= threshold` (x as float32,
  compared as float64: scikit-learn's rule);
- `value` (float64): the node's prediction (used at leaves).

A forest is a group with attribute `n_features` holding `tree_00`, `tree_01`, ... (zero-padded
to the digits of the last index, as vigra names its trees); it predicts the mean of its trees.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import ProjectError, UserError
from .from_sklearn import breadth_first_order

_FIX = "Fix: train the regressors again (pixelserve retrains them from the project's labels)."


@dataclass
class RegressionTree:
    """One fitted regression tree (scikit-learn's `tree_` arrays, one scalar output)."""

    children_left: np.ndarray    # int64, -1 at leaves
    children_right: np.ndarray   # int64
    feature: np.ndarray          # int64
    threshold: np.ndarray        # float64; left when x <= threshold
    value: np.ndarray            # float64

    @property
    def node_count(self) -> int:
        return int(self.value.size)


def trees_from_sklearn(regressor) -> list[RegressionTree]:
    """The trees of a fitted single-output `sklearn.ensemble.RandomForestRegressor`."""
    try:
        estimators = regressor.estimators_
    except AttributeError:
        raise UserError(f"trees_from_sklearn needs a fitted scikit-learn RandomForestRegressor "
                        f"(got {type(regressor).__name__}). Fix: call fit() first.") from None
    trees = []
    for estimator in estimators:
        tree = estimator.tree_
        if tree.value.shape[1:] != (1, 1):
            raise UserError("The regressor predicts several outputs; pixelserve's regression "
                            "forests predict one. Fix: fit it on a one-dimensional target.")
        trees.append(RegressionTree(
            children_left=np.asarray(tree.children_left, dtype=np.int64).copy(),
            children_right=np.asarray(tree.children_right, dtype=np.int64).copy(),
            feature=np.asarray(tree.feature, dtype=np.int64).copy(),
            threshold=np.asarray(tree.threshold, dtype=np.float64).copy(),
            value=np.asarray(tree.value, dtype=np.float64).reshape(-1).copy(),
        ))
    return trees


def check_tree(tree: RegressionTree, n_features: int, where: str) -> tuple[np.ndarray, int]:
    """Raise ProjectError unless `tree` is a well-formed binary tree rooted at node 0 whose
    splits use features 0..n_features-1; returns (its nodes in breadth-first order, levels)."""
    n = tree.value.size
    arrays = (tree.children_left, tree.children_right, tree.feature, tree.threshold)
    if n == 0 or any(a.shape != (n,) for a in arrays):
        raise ProjectError(f"{where}: the node arrays are empty or of different lengths. {_FIX}")
    left, right = tree.children_left, tree.children_right
    leaf = left < 0
    if np.any(leaf != (right < 0)) or np.any(left >= n) or np.any(right >= n) \
            or np.any(left[~leaf] == 0) or np.any(right[~leaf] == 0):
        raise ProjectError(f"{where}: a split has a missing or invalid child. {_FIX}")
    if np.any((tree.feature[~leaf] < 0) | (tree.feature[~leaf] >= n_features)):
        raise ProjectError(f"{where}: a split uses a feature outside 0..{n_features - 1}. {_FIX}")
    if not np.all(np.isfinite(tree.value[leaf])):
        raise ProjectError(f"{where}: a leaf holds a value that is not a finite number. {_FIX}")
    # Every node has at most one parent and the walk from the root reaches all of them.
    children = np.concatenate([left[~leaf], right[~leaf]])
    if np.unique(children).size != children.size or children.size != n - 1:
        raise ProjectError(f"{where}: the child links do not form a tree. {_FIX}")
    order, levels = breadth_first_order(left, right)
    if order.size != n:
        raise ProjectError(f"{where}: the child links do not form a tree. {_FIX}")
    return order, levels


def tree_group_names(count: int) -> list[str]:
    width = len(str(max(count - 1, 0)))
    return [f"tree_{i:0{width}d}" for i in range(count)]


def write_regression_forest(group: h5py.Group, trees: list[RegressionTree],
                            n_features: int) -> None:
    """Write one forest into an empty group (layout in the module docstring)."""
    for index, tree in enumerate(trees):
        check_tree(tree, n_features, f"tree {index} to write")
    group.attrs["n_features"] = np.int64(n_features)
    for name, tree in zip(tree_group_names(len(trees)), trees):
        node = group.create_group(name)
        node.create_dataset("children_left", data=tree.children_left.astype(np.int32))
        node.create_dataset("children_right", data=tree.children_right.astype(np.int32))
        node.create_dataset("feature", data=tree.feature.astype(np.int32))
        node.create_dataset("threshold", data=tree.threshold.astype(np.float64))
        node.create_dataset("value", data=tree.value.astype(np.float64))


def read_regression_forest(group: h5py.Group) -> tuple[list[RegressionTree], int]:
    """(trees, feature count) of a group written by `write_regression_forest`; anything else
    raises ProjectError."""
    where = f"regression forest {group.name}"
    n_features = group.attrs.get("n_features")
    if n_features is None or np.asarray(n_features).size != 1 or int(n_features) < 1:
        raise ProjectError(f"{where} has no valid n_features attribute. {_FIX}")
    n_features = int(n_features)
    names = sorted(group)
    if not names or names != tree_group_names(len(names)):
        raise ProjectError(f"{where}: its groups {names[:4]} are not tree_0 .. tree_N. {_FIX}")
    trees = []
    for name in names:
        node = group[name]
        fields = ("children_left", "children_right", "feature", "threshold", "value")
        if not isinstance(node, h5py.Group) or any(not isinstance(node.get(f), h5py.Dataset)
                                                    for f in fields):
            raise ProjectError(f"{where}/{name} lacks one of {', '.join(fields)}. {_FIX}")
        integer = [np.asarray(node[f][()]).reshape(-1) for f in fields[:3]]
        if any(a.dtype.kind not in "iu" for a in integer):
            raise ProjectError(f"{where}/{name}: child and feature arrays must be integers. {_FIX}")
        tree = RegressionTree(*(a.astype(np.int64) for a in integer),
                              threshold=np.asarray(node["threshold"][()], np.float64).reshape(-1),
                              value=np.asarray(node["value"][()], np.float64).reshape(-1))
        check_tree(tree, n_features, f"{where}/{name}")
        trees.append(tree)
    return trees, n_features
