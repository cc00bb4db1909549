"""Edge probabilities (P(edge is a real boundary)) and the multicut weights ilastik makes of them.

Facts from ilastik:

- With an edge classifier (`opEdgeTraining.py` OpPredictEdgeProbabilities): the forests'
  probability of label 2 ("cut"); a classifier that only knows label 1 gives 0 everywhere,
  one that only knows label 2 gives 1.
- Without (`TrainRandomForest` off): `standard_edge_mean` of the watershed's boundary map,
  minus its minimum, divided by its maximum (ilastik's `normalize1`: the maximum of the
  shifted values, i.e. the range).
- Weights (`opMulticut.py` compute_edge_weights), in float32 as numpy 1.x computes them:
  p clipped to [0.001, 0.999], rescaled piecewise so that ProbabilityThreshold t maps to 0.5
  (p / 2t below t, 0.5 + (p - t) / 2(1 - t) above), w = ln(1/p - 1) + ln(1/beta - 1);
  every edge touching node 0 gets -1000 (label 0 stays on its own).
"""

from __future__ import annotations

import math

import numpy as np

from ..classifiers import ForestEnsemble
from ..errors import UserError

CUT_LABEL = 2
NODE_ZERO_WEIGHT = -1000.0


def no_classifier_probabilities(boundary_edge_mean: np.ndarray) -> np.ndarray:
    """ilastik's edge probabilities without an edge classifier (float32); all zero when every
    edge has the same mean (ilastik would divide by zero)."""
    mean = np.asarray(boundary_edge_mean, dtype=np.float32)
    if mean.size == 0:
        return mean.copy()
    shifted = mean - mean.min()
    top = shifted.max()
    if top == 0:
        return np.zeros_like(mean)
    return shifted / top


def classifier_probabilities(features: np.ndarray, ensemble: ForestEnsemble | None,
                             known_labels, threads: int = 1) -> np.ndarray:
    """P(label 2) per edge from the stored forests (float32). `known_labels`: the labels the
    classifier was trained with (ilastik's `known_labels`)."""
    known = {int(label) for label in np.asarray(known_labels).reshape(-1)}
    n_edges = np.asarray(features).shape[0]
    if known <= {1}:
        return np.zeros(n_edges, dtype=np.float32)
    if known == {CUT_LABEL}:
        return np.ones(n_edges, dtype=np.float32)
    if known != {1, CUT_LABEL} or ensemble is None:
        raise UserError(f"The edge classifier knows labels {sorted(known)}; ilastik's edge "
                        "labels are 1 (merge) and 2 (cut). Fix: retrain the edge classifier.")
    column = np.flatnonzero(ensemble.labels == CUT_LABEL)
    if column.size != 1:
        raise UserError("The stored edge classifier has no output for label 2 (cut). Fix: "
                        "retrain the edge classifier in ilastik.")
    return ensemble.predict_proba(features, threads=threads)[:, column[0]].copy()


def edge_weights(edges: np.ndarray, probabilities: np.ndarray, beta: float = 0.5,
                 threshold: float = 0.5) -> np.ndarray:
    """ilastik's multicut weights (float64 of float32 values; positive = attractive)."""
    if not 0.0 < beta < 1.0:
        raise UserError(f"Beta must lie strictly between 0 and 1, got {beta}. Fix: set the "
                        "multicut's Beta (ilastik's default is 0.5).")
    if not 0.0 < threshold < 1.0:
        raise UserError(f"ProbabilityThreshold must lie strictly between 0 and 1, got "
                        f"{threshold}. Fix: set it (ilastik's default is 0.5).")
    p = np.clip(np.asarray(probabilities, dtype=np.float32), np.float32(0.001),
                np.float32(0.999))
    t = np.float32(threshold)
    below = p / np.float32(2 * threshold)
    above = np.float32(0.5) + (p - t) / np.float32(2 * (1 - threshold))
    p = np.where(p <= t, below, above)
    weights = np.log(np.reciprocal(p) - np.float32(1)) + np.float32(math.log(1 / beta - 1))
    weights = weights.astype(np.float64)
    weights[np.asarray(edges)[:, 0] == 0] = NODE_ZERO_WEIGHT
    return weights
