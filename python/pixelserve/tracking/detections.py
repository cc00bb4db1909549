"""From one frame's object features to the detections tracking works on.

ilastik (`OpConservationTracking._generate_traxelstore`, opConservationTracking.py:846-990):

- every object whose bounding box overlaps the x/y/z ranges and whose size lies in
  [max(maxObj, size_min), size_max) becomes a detection ("traxel"); others are filtered;
- its centre is RegionCenter (x, y, z; z = 0 in 2D), as float64 of the float32 feature;
- its detection probabilities are the object count classifier's P(0 objects .. maxObj
  objects), each clamped to [1e-7, 0.99999999]; its division probability is the division
  classifier's P(dividing), clamped the same way.

The classifiers see ilastik's `make_feature_array` matrix (`objects.classify.feature_matrix`);
probabilities of row 0 are zeroed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..classifiers import ForestEnsemble
from ..errors import ProjectError
from ..objects.catalog import DEFAULT
from ..objects.classify import feature_matrix
from ..project.tracking import ObjectClassifier, TrackingParameters

LOWEST_PROBABILITY = 1e-7
HIGHEST_PROBABILITY = 0.99999999


@dataclass
class Detections:
    """The detections of a movie (or of one frame), in ilastik's order: by frame, then label."""

    frame: np.ndarray        # int64 (n,)
    label: np.ndarray        # int64 (n,), the object's id in its frame's label image
    center: np.ndarray       # float64 (n, 3): x, y, z
    detection: np.ndarray    # float64 (n, maxObj + 1): clamped P(0 .. maxObj objects)
    division: np.ndarray     # float64 (n,): clamped P(dividing), NaN without division classifier

    def __len__(self) -> int:
        return int(self.frame.size)

    @property
    def max_objects(self) -> int:
        return self.detection.shape[1] - 1

    def take(self, rows: np.ndarray) -> Detections:
        return Detections(self.frame[rows], self.label[rows], self.center[rows], self.detection[rows],
                          self.division[rows])

    @classmethod
    def concatenate(cls, parts: list[Detections]) -> Detections:
        if not parts:
            raise ValueError("no detections to concatenate")
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("frame", "label", "center", "detection", "division")))


def classifier_probabilities(ensemble: ForestEnsemble, classifier: ObjectClassifier,
                             features: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """(objects + 1, classes) float32 probabilities of one frame's objects, row 0 zero."""
    matrix = feature_matrix(features, classifier.selected_features)
    if matrix.shape[1] != ensemble.n_features:
        raise ProjectError(f"The {classifier.group} classifier reads {ensemble.n_features} object features, but "
                           f"the features it selects give {matrix.shape[1]}: the raw data has another channel "
                           "count than the project's, or the project is inconsistent. Fix: pass raw data like "
                           "the project's, or retrain the classifier in ilastik and save.")
    probabilities = ensemble.predict_proba(matrix)
    probabilities[0] = 0
    return probabilities


def frame_detections(frame: int, features: dict[str, dict[str, np.ndarray]], count_probabilities: np.ndarray,
                     division_probabilities: np.ndarray | None, parameters: TrackingParameters) -> Detections:
    """The detections of one frame from its features (the "Default features" are used) and the
    classifiers' (objects + 1, classes) probabilities; filtered as ilastik filters them."""
    default = features[DEFAULT]
    centers = np.asarray(default["RegionCenter"], dtype=np.float64)[1:]
    lower = np.asarray(default["Coord<Minimum>"], dtype=np.float64)[1:]
    upper = np.asarray(default["Coord<Maximum>"], dtype=np.float64)[1:]
    sizes = np.asarray(default["Count"], dtype=np.float64).reshape(-1)[1:]
    n, ndim = centers.shape
    keep = np.ones(n, dtype=bool)
    for axis, bounds in enumerate((parameters.x_range, parameters.y_range, parameters.z_range)):
        if bounds is None:
            continue
        low = lower[:, axis] if axis < ndim else np.zeros(n)
        high = upper[:, axis] if axis < ndim else np.zeros(n)
        keep &= (high >= bounds[0]) & (low < bounds[1])
    size_min = max(parameters.max_objects, parameters.size_range[0])   # track() raises it to maxObj
    keep &= (sizes >= size_min) & (sizes < parameters.size_range[1])
    rows = np.flatnonzero(keep)
    center = np.zeros((rows.size, 3))
    center[:, :ndim] = centers[rows]
    states = parameters.max_objects + 1
    if count_probabilities.shape[1] < states:
        raise ValueError(f"the object count classifier has {count_probabilities.shape[1]} classes, "
                         f"tracking needs {states}")
    detection = _clamp(count_probabilities[rows + 1, :states])
    if division_probabilities is None:
        division = np.full(rows.size, np.nan)
    else:
        division = _clamp(division_probabilities[rows + 1, 1])
    return Detections(np.full(rows.size, frame, dtype=np.int64), rows.astype(np.int64) + 1, center,
                      detection, division)


def _clamp(probabilities: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(probabilities, dtype=np.float64), LOWEST_PROBABILITY, HIGHEST_PROBABILITY)
