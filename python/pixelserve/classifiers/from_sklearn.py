"""Turn a trained scikit-learn random forest into a vigra forest that ilastik can load.

scikit-learn sends a row left when x <= t (float32 features compared with float64 thresholds);
vigra sends it left when x < t'. With t' = nextafter(t, +inf) both rules agree for every x,
because no float64 lies strictly between t and t'. Leaves store the class fractions,
normalised as scikit-learn normalises them in predict_proba, so predictions agree to float32
rounding, including rows sitting exactly on a threshold.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .vigra_forest import LEAF_NODE, THRESHOLD_NODE, VigraForest, check_forest

# The options ilastik's own forests carry (read from the fixture projects); informational only.
ILASTIK_OPTIONS = {
    "min_split_node_size_": 1.0, "mtry_": 0.0, "mtry_func_": 0.0, "mtry_switch_": 6.0,
    "predict_weighted_": 0.0, "prepare_online_learning_": 0.0, "sample_with_replacement_": 1.0,
    "stratification_method_": 3.0, "training_set_calc_switch_": 1.0, "training_set_func_": 0.0,
    "training_set_proportion_": 1.0, "training_set_size_": 0.0,
}


def forest_from_sklearn(clf, labels=None) -> VigraForest:
    """Convert a fitted `RandomForestClassifier` (or `ExtraTreesClassifier`).

    labels: the label value of each class (uint32, ascending), as ilastik numbers them (1, 2, ..).
    Defaults to `clf.classes_`, which must then be non-negative integers.
    """
    estimators = getattr(clf, "estimators_", None)
    if not estimators or not all(hasattr(e, "tree_") for e in estimators):
        raise UserError("forest_from_sklearn needs a fitted scikit-learn RandomForestClassifier "
                        f"(got {type(clf).__name__}). Fix: call fit() first.")
    if getattr(clf, "n_outputs_", 1) != 1:
        raise UserError("The forest predicts several outputs; vigra forests predict one. "
                        "Fix: train on a single label column.")
    n_classes = int(np.asarray(clf.classes_).size)
    labels = _labels(clf.classes_ if labels is None else labels, n_classes)
    n_features = int(clf.n_features_in_)
    trees = [_convert_tree(e.tree_, n_features, n_classes) for e in estimators]
    first = estimators[0].tree_
    samples = float(round(first.weighted_n_node_samples[0]))
    mtry = float(getattr(estimators[0], "max_features_", n_features))
    forest = VigraForest(
        n_features=n_features, n_classes=n_classes, labels=labels, trees=trees,
        options={name: np.array([value]) for name, value in ILASTIK_OPTIONS.items()},
        ext_param={
            "actual_msample_": np.array([samples]), "actual_mtry_": np.array([mtry]),
            "class_weights_": np.ones(n_classes), "is_weighted_": np.array([1.0]),
            "precision_": np.array([0.0]), "problem_type_": np.array([1.0]),
            "response_size_": np.array([1.0]), "row_count_": np.array([samples]),
            "used_": np.array([1.0]),
        },
    )
    check_forest(forest, "converted scikit-learn forest")
    return forest


def _labels(values, n_classes: int) -> np.ndarray:
    array = np.asarray(values).reshape(-1)
    if array.size != n_classes:
        raise UserError(f"{array.size} labels given for {n_classes} classes. Fix: pass one label "
                        "per class, in the order of clf.classes_.")
    if array.dtype.kind not in "iuf" or np.any(array != np.round(array)) or np.any(array < 0) \
            or np.any(array >= 2 ** 32):
        raise UserError(f"The class labels {array.tolist()} are not non-negative integers. "
                        "Fix: pass labels=[1, 2, ...] (ilastik's label numbers).")
    labels = array.astype(np.uint32)
    if np.any(np.diff(labels.astype(np.int64)) <= 0):
        raise UserError(f"The class labels {labels.tolist()} must be ascending and distinct.")
    return labels


def breadth_first_order(left_of: np.ndarray, right_of: np.ndarray) -> tuple[np.ndarray, int]:
    """(scikit-learn node numbers in breadth-first order, number of levels) of a tree given
    as scikit-learn's child arrays (-1 at leaves); each split's children end up adjacent."""
    levels, frontier = [], np.array([0])
    while frontier.size:
        levels.append(frontier)
        inner = frontier[left_of[frontier] >= 0]
        frontier = np.stack([left_of[inner], right_of[inner]], axis=1).reshape(-1)
    return np.concatenate(levels), len(levels)


def _convert_tree(tree, n_features: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """vigra topology/parameters of one sklearn tree, nodes laid out breadth-first."""
    left_of = tree.children_left
    right_of = tree.children_right
    order, _ = breadth_first_order(left_of, right_of)
    split = left_of[order] >= 0
    starts = 2 + np.concatenate([[0], np.cumsum(np.where(split, 5, 2))[:-1]])
    addresses = np.concatenate([[0], np.cumsum(np.where(split, 2, 1 + n_classes))[:-1]])
    start_of = np.empty(tree.node_count, dtype=np.int64)
    start_of[order] = starts
    topology = np.zeros(starts[-1] + (5 if split[-1] else 2), dtype=np.int32)
    topology[0], topology[1] = n_features, n_classes
    parameters = np.zeros(addresses[-1] + (2 if split[-1] else 1 + n_classes), dtype=np.float64)

    node, at, where = order[split], starts[split], addresses[split]
    topology[at] = THRESHOLD_NODE
    topology[at + 1] = where
    topology[at + 2] = start_of[left_of[node]]
    topology[at + 3] = start_of[right_of[node]]
    topology[at + 4] = tree.feature[node]
    parameters[where] = 1.0   # vigra's split weight (1 in every stored ilastik forest)
    parameters[where + 1] = np.nextafter(tree.threshold[node], np.inf)

    node, at, where = order[~split], starts[~split], addresses[~split]
    topology[at] = LEAF_NODE
    topology[at + 1] = where
    values = tree.value[node, 0, :].astype(np.float64)
    totals = values.sum(axis=1)
    if np.any(totals <= 0):
        raise UserError("A tree of the forest has a leaf without training samples; "
                        "it cannot be converted. Fix: retrain the forest.")
    # scikit-learn >= 1.4 stores fractions and predicts them as they are; older versions store
    # counts and divide by their sum. Keep fractions untouched so the sums match bit for bit.
    stored_as_fractions = np.abs(totals - 1.0) < 1e-9
    values = np.where(stored_as_fractions[:, None], values, values / totals[:, None])
    parameters[where] = tree.weighted_n_node_samples[node]
    parameters[where[:, None] + 1 + np.arange(n_classes)] = values
    return topology, parameters
