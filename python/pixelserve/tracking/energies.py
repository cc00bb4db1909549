"""The energies ilastik's tracking minimises, built exactly as hytra builds them.

Features (hytra `IlastikHypothesesGraph.insertEnergies` and `HypothesesGraph.insertEnergies`,
ilastikhypothesesgraph.py:129-262, hypothesesgraph.py:368-470; `negLog` clamps p at 1e-10,
jsongraph.py:207-211). S = maxObj + 1 states per variable:

- detection of a tracklet: sum over its detections of -ln P(k objects), plus for each
  contracted link inside it -ln [1 - p, p, p, ...] of that link (so the solver weighs those
  with the detection weight);
- division (only if P(div) of the tracklet's last detection > divThreshold): -ln [1 - P, P],
  computed through ilastik's double reversal (q = 1 - P, then [q, 1 - q]);
- transition between the last detection of one tracklet and the first of the next:
  p = exp(-distance / 5), -ln [1 - p, p, p, ...] (no transition classifier in ilastik);
- appearance / disappearance: [0, m, m, ...] with m = 0 in the first (appearance) or from the
  last frame on (disappearance, `t >= t_end - 1`), else min(1, distance to the field of view's
  border / borderAwareWidth) (1 when the width is 0). The field of view runs from 0 to
  (range end - 1) * scale per axis (`constructFov`, opConservationTracking.py:296-300);
  in 2D only the four x/y planes count (hytra fieldofview.py `spatial_distance_to_border`).

Every cost vector is then made convex around its minimum (`convexifyCosts`, eps 1e-6,
jsongraph.py:231-262; division vectors are left alone) and multiplied by its weight:
cost of state k = weight * feature[k] (dpct graphreader.cpp:38-61, statesShareWeights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..project.tracking import TrackingParameters, TrackingWeights
from .graph import CandidateGraph, Tracklets

TRANSITION_PARAMETER = 5.0
LOWEST_NEGLOG_ARGUMENT = 1e-10
CONVEXIFY_EPSILON = 1e-6


@dataclass
class FieldOfView:
    """ilastik's field of view: lower and upper corner, x, y, z (FieldOfView in hytra)."""

    lower: np.ndarray     # float64 (3,)
    upper: np.ndarray     # float64 (3,)
    first_frame: int
    end_frame: int        # one past the last frame

    @classmethod
    def from_parameters(cls, parameters: TrackingParameters) -> FieldOfView:
        if None in (parameters.x_range, parameters.y_range, parameters.z_range, parameters.time_range):
            raise ValueError("the field of view needs x/y/z and time ranges; use "
                             "TrackingParameters.for_headless(shape) for a whole movie")
        ends = np.array([parameters.x_range[1], parameters.y_range[1], parameters.z_range[1]], dtype=np.float64)
        upper = np.asarray(parameters.scales, dtype=np.float64) * (ends - 1)
        return cls(np.zeros(3), upper, int(parameters.time_range[0]), int(parameters.time_range[1]) + 1)

    def border_distance(self, centers: np.ndarray) -> np.ndarray:
        """Distance of each (x, y, z) centre to the nearest border plane."""
        planes = [np.abs(centers[:, 1] - self.lower[1]), np.abs(centers[:, 0] - self.upper[0]),
                  np.abs(centers[:, 1] - self.upper[1]), np.abs(centers[:, 0] - self.lower[0])]
        if self.upper[2] - self.lower[2] > 0:
            planes += [np.abs(centers[:, 2] - self.lower[2]), np.abs(centers[:, 2] - self.upper[2])]
        return np.min(planes, axis=0)


@dataclass
class EnergyFeatures:
    """hytra's per-variable features (before weighting) of the solver model.

    Nodes are tracklets; links are the candidate links between them (`links` are indices into
    the candidate graph's links, `source`/`target` tracklet indices)."""

    detection: np.ndarray       # (k, S)
    appearance: np.ndarray      # (k, S)
    disappearance: np.ndarray   # (k, S)
    division: np.ndarray        # (k, 2), NaN rows where the tracklet cannot divide
    transition: np.ndarray      # (l, S)
    source: np.ndarray          # (l,) tracklet index
    target: np.ndarray          # (l,) tracklet index
    links: np.ndarray           # (l,) candidate-graph link index
    first_frame: np.ndarray     # (k,)
    last_frame: np.ndarray      # (k,)


def neg_log(probabilities: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(probabilities, LOWEST_NEGLOG_ARGUMENT))


def transition_probability(graph: CandidateGraph, links: np.ndarray) -> np.ndarray:
    centers = graph.detections.center
    difference = centers[graph.source[links]] - centers[graph.target[links]]
    return np.exp(-np.sqrt(np.sum(difference * difference, axis=1)) / TRANSITION_PARAMETER)


def _transition_features(probability: np.ndarray, states: int) -> np.ndarray:
    return neg_log(np.column_stack([1.0 - probability] + [probability] * (states - 1)))


def energy_features(graph: CandidateGraph, tracklets: Tracklets, parameters: TrackingParameters) -> EnergyFeatures:
    """The unweighted features of every solver variable (see the module docstring)."""
    detections = graph.detections
    states = detections.max_objects + 1
    fov = FieldOfView.from_parameters(parameters)
    detection_per_detection = neg_log(detections.detection)
    detection = detection_per_detection[tracklets.first].copy()
    # longer tracklets add up in hytra's order: each member's detection, then the link into it
    internal_into = np.full(len(detections), -1)
    internal_into[graph.target[tracklets.internal]] = np.arange(tracklets.internal.size)
    internal_features = _transition_features(transition_probability(graph, tracklets.internal), states)
    for row in np.flatnonzero(np.diff(tracklets.start) > 1).tolist():
        for member in tracklets.members[tracklets.start[row] + 1:tracklets.start[row + 1]].tolist():
            detection[row] += detection_per_detection[member]
            detection[row] += internal_features[internal_into[member]]
    first, last = tracklets.first, tracklets.last
    appearance = _border_features(detections, first, fov, parameters.border_width, states, appearing=True)
    disappearance = _border_features(detections, last, fov, parameters.border_width, states, appearing=False)
    division = np.full((len(tracklets), 2), np.nan)
    if parameters.with_divisions:
        complement = 1.0 - detections.division[last]
        divides = (1.0 - complement) > parameters.division_threshold     # NaN compares False
        division[divides] = neg_log(np.column_stack([complement, 1.0 - complement])[divides])
    links = tracklets.links
    return EnergyFeatures(
        detection=detection, appearance=appearance, disappearance=disappearance, division=division,
        transition=_transition_features(transition_probability(graph, links), states),
        source=tracklets.of_detection[graph.source[links]], target=tracklets.of_detection[graph.target[links]],
        links=links, first_frame=detections.frame[first], last_frame=detections.frame[last])


def _border_features(detections, rows: np.ndarray, fov: FieldOfView, width: float, states: int,
                     appearing: bool) -> np.ndarray:
    frames = detections.frame[rows]
    distance = fov.border_distance(detections.center[rows])
    if width > 0:
        multiplier = np.where(distance > width, 1.0, distance / width)
    else:
        multiplier = np.ones(rows.size)
    free = frames <= fov.first_frame if appearing else frames >= fov.end_frame - 1
    multiplier = np.where(free, 0.0, multiplier)
    return np.column_stack([np.zeros(rows.size)] + [multiplier] * (states - 1))


@njit(cache=True)
def _convexify_rows(features, epsilon):
    out = features.copy()
    rows, states = out.shape
    for row in range(rows):
        best = 0
        for state in range(1, states):          # first minimum, as numpy's argmin
            if out[row, state] < out[row, best]:
                best = state
        for direction in (-1, 1):
            position = best + direction
            previous = 0.0
            while 0 <= position < states:
                gradient = out[row, position] - out[row, position - direction]
                if abs(gradient - previous) < epsilon or gradient < previous:
                    previous += epsilon
                    out[row, position] = out[row, position - direction] + previous
                else:
                    previous = gradient
                position += direction
    return out


def convexify(features: np.ndarray, epsilon: float = CONVEXIFY_EPSILON) -> np.ndarray:
    """hytra's `convexify` applied to each row (jsongraph.py:231-262)."""
    return _convexify_rows(np.ascontiguousarray(features, dtype=np.float64), float(epsilon))


@dataclass
class TrackingModel:
    """The weighted, convexified costs the solvers minimise; states 0..S-1 per variable.

    A tracklet has a division variable only when it has division features and at least two
    outgoing links (multiHypothesesTracking segmentationhypothesis.cpp:285-286)."""

    detection: np.ndarray       # (k, S)
    appearance: np.ndarray      # (k, S)
    disappearance: np.ndarray   # (k, S)
    division: np.ndarray        # (k, 2); rows without a division variable are NaN
    transition: np.ndarray      # (l, S)
    source: np.ndarray          # (l,)
    target: np.ndarray          # (l,)
    first_frame: np.ndarray     # (k,) frame of each tracklet's first detection
    last_frame: np.ndarray      # (k,) frame of its last detection

    @property
    def n_nodes(self) -> int:
        return int(self.detection.shape[0])

    @property
    def n_links(self) -> int:
        return int(self.source.size)

    @property
    def states(self) -> int:
        return int(self.detection.shape[1])

    @property
    def can_divide(self) -> np.ndarray:
        return ~np.isnan(self.division[:, 0])


def tracking_model(features: EnergyFeatures, weights: TrackingWeights) -> TrackingModel:
    """Weighted convexified costs (hytra `convexifyCosts`, then dpct/mht's weighted sums)."""
    out_links = np.bincount(features.source, minlength=features.detection.shape[0])
    division = np.where((out_links >= 2)[:, None], features.division, np.nan) * weights.division
    return TrackingModel(
        detection=convexify(features.detection) * weights.detection,
        appearance=convexify(features.appearance) * weights.appearance,
        disappearance=convexify(features.disappearance) * weights.disappearance,
        division=division,
        transition=convexify(features.transition) * weights.transition,
        source=features.source.copy(),
        target=features.target.copy(),
        first_frame=features.first_frame.copy(),
        last_frame=features.last_frame.copy(),
    )
