"""The classifier's input and output for objects, as ilastik builds them.

`make_feature_array` (`ilastik/applets/objectClassification/opObjectClassification.py:943-992`)
takes the computed plugins in sorted name order (skipping "Default features" and unselected
plugins), within a plugin the computed feature names in sorted order (only the selected
ones), and every row including the background row 0; NaN and infinities become 0 (`replace_missing`, :995-1001).
Prediction (:1280-1336) averages the forests' leaf distributions (`ForestEnsemble`), zeroes
the background row, and the predicted class is 1 + argmax (ties: lowest class), 0 for the
background.
"""

from __future__ import annotations

import numpy as np

from ..classifiers import ForestEnsemble
from ..errors import ProjectError
from .catalog import DEFAULT, FeatureSelection


def feature_matrix(features: dict[str, dict[str, np.ndarray]], selected: FeatureSelection) -> np.ndarray:
    """float32 (n_objects + 1, F) classifier input of one frame's features: the computed
    features the classifier selects, as `make_feature_array` walks them (a selected name that
    was not computed is left out, as in ilastik: tracking projects select features their
    plugins no longer compute, e.g. the convex hull's "Area"; a classifier then missing a
    column is caught by the feature count)."""
    columns = []
    for plugin in sorted(features):
        if plugin == DEFAULT or plugin not in selected:
            continue
        for name in sorted(features[plugin]):
            if name in selected[plugin]:
                value = np.asarray(features[plugin][name])
                columns.append(value.reshape(value.shape[0], -1))
    if not columns:
        raise ProjectError("The project's classifier reads none of the computed object features. Fix: "
                           "select features in ilastik's Object Feature Selection, retrain and save.")
    matrix = np.concatenate(columns, axis=1).astype(np.float32)
    matrix[~np.isfinite(matrix)] = 0
    return matrix


def predict_objects(ensemble: ForestEnsemble, matrix: np.ndarray, known_labels: np.ndarray,
                    n_classes: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities float32 (n + 1, n_classes), classes (n + 1,)) of one frame.

    The forest's column for class k (its `known_labels`, 1-based) lands in column k - 1;
    classes without a column stay 0. Row 0 (background) gets probability 0 and class 0."""
    known = np.asarray(known_labels, dtype=np.int64).reshape(-1)
    if matrix.shape[1] != ensemble.n_features:
        raise ProjectError(f"The classifier expects {ensemble.n_features} object features per "
                           f"object, but the project's feature selection gives {matrix.shape[1]}. "
                           "The project is inconsistent. Fix: retrain it in ilastik and save.")
    if known.size != ensemble.n_classes or (known.size and (known.min() < 1 or known.max() > n_classes)):
        raise ProjectError(f"The classifier knows classes {known.tolist()}, but the project names "
                           f"{n_classes} classes. The project is inconsistent. Fix: retrain it in "
                           "ilastik and save.")
    probabilities = np.zeros((matrix.shape[0], n_classes), dtype=np.float32)
    if matrix.shape[0] > 1:
        probabilities[:, known - 1] = ensemble.predict_proba(matrix, threads=threads)
    probabilities[0] = 0
    return probabilities, predicted_classes(probabilities)


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """1 + argmax per object (ties: the lowest class), 0 for the background row."""
    dtype = np.uint8 if probabilities.shape[1] < 256 else np.uint16
    classes = (1 + np.argmax(probabilities, axis=1)).astype(dtype) if probabilities.shape[1] else \
        np.zeros(probabilities.shape[0], dtype=dtype)
    classes[:1] = 0
    return classes
