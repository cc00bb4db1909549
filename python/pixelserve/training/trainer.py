"""A minimal trainer: raw image + sparse label image -> a Pixel Classification project.

Features are computed only around the labelled pixels (their bounding box plus the filter
halo), with the same code prediction uses, so a trained project predicts exactly what was
trained. The forest is scikit-learn's, converted to the vigra format ilastik stores.
"""

from __future__ import annotations

import numpy as np

from ..classifiers import VigraForest, forest_from_sklearn
from ..errors import UserError
from ..features import FeatureSpec, compute_features, halo_zyx
from ..workflows.volume import Box, Volume

DEFAULT_COLORS = np.array([[255, 225, 25], [0, 130, 200], [230, 25, 75], [70, 240, 240],
                           [60, 180, 75], [245, 130, 48], [145, 30, 180], [240, 50, 230]])


def labelled_samples(raw: Volume, labels: Volume, specs: list[FeatureSpec],
                     structure_tensor_order: str = "fastfilters") -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and label values of every labelled pixel, time point by time point."""
    if labels.shape[:4] != raw.shape[:4]:
        raise UserError(
            f"The label image has shape {labels.own_shape} (axes '{labels.own_axes}') but the raw "
            f"image has {raw.own_shape} (axes '{raw.own_axes}'). Fix: draw labels on an image of "
            "the raw image's size (0 = unlabelled, 1..K = classes)."
        )
    depth = raw.shape[1]
    context = halo_zyx(specs, depth, structure_tensor_order)
    rows, values = [], []
    for t in range(raw.time_points):
        whole = Box.whole(raw.spatial_shape)
        label_plane = labels.read(t, whole)[..., 0]
        where = np.nonzero(label_plane)
        if not where[0].size:
            continue
        box = Box(*((int(w.min()), int(w.max()) + 1) for w in where))
        padded = box.grown(context, raw.spatial_shape)
        features = compute_features(raw.read(t, padded), specs, depth=depth,
                                    structure_tensor_order=structure_tensor_order,
                                    interior=box.relative_to(padded))
        local = label_plane[tuple(slice(a, b) for a, b in box.ranges)]
        mask = local != 0
        rows.append(features[mask])
        values.append(local[mask])
    if not rows:
        raise UserError("The label image has no labelled pixels. Fix: mark some pixels of each "
                        "class with its number (1, 2, ...); 0 means unlabelled.")
    return np.concatenate(rows), np.concatenate(values).astype(np.int64)


def train_forest(features: np.ndarray, labels: np.ndarray, *, n_trees: int = 100,
                 seed: int | None = None, threads: int | None = None) -> VigraForest:
    from sklearn.ensemble import RandomForestClassifier

    classes = np.unique(labels)
    if classes.size < 2:
        raise UserError(f"Only class {int(classes[0])} is labelled. Fix: label at least two "
                        "classes; a classifier needs something to tell apart.")
    classifier = RandomForestClassifier(n_estimators=n_trees, random_state=seed,
                                        n_jobs=threads or -1)
    classifier.fit(features, labels)
    return forest_from_sklearn(classifier, labels=classes.astype(np.uint32))
