"""Label frames of the tracking export sources (opConservationTracking.py execute, 150-230).

- Object-Identities (`RelabeledImage`): the object label image with each resolved merger's
  pixels given to its split objects (`split_mergers`);
- Tracking-Result (`Output`): those labels replaced by the object's lineage id, 1 for false
  detections (no lineage), 0 for background and for objects tracking filtered out
  (`_labelLineageIds`); `ids="track"` gives track ids instead;
- Merger-Result (`MergerOutput`): the same restricted to merger objects: the split objects
  when mergers were resolved, else the detections with value > 1.

A split merger's pixel goes to the mixture component with the largest weighted density
(scikit-learn's GaussianMixture.predict, which hytra's `updateLabelImage` calls on the
stored fit), evaluated at the pixel's x, y, z coordinates in the whole image.

The export plugins see the split objects' features too (`features_with_split_mergers`, ilastik's
OpRelabeledMergerFeatureExtraction): some Standard Object Features and the default features are
computed on the split objects' pixels and stored at their new labels; the other plugins' arrays
keep their rows, so the plugins read 0 there.
"""

from __future__ import annotations

import numpy as np

from ..objects.catalog import STANDARD
from ..objects.features import compute_object_features
from .lineage import NO_ID, Lineage, SolvedGraph
from .mergers import MergerFit, ResolvedMergers

FeatureTable = dict[str, dict[str, np.ndarray]]   # plugin -> feature -> (labels + 1, k) array

#: The Standard Object Features ilastik computes for split objects
#: (opConservationTracking._setupRelabeledFeatureSlot: trackingFeatureExtraction's
#: `vigra_features` and the object count classifier's defaults); its two advanced
#: Coord<Principal<...>> features are left out, since only features the objects already have
#: are merged and tracking never computes those.
SPLIT_OBJECT_FEATURES = ("Count", "RegionCenter", "Mean", "Variance", "RegionRadii", "Maximum", "Minimum",
                         "Skewness", "Sum", "Kurtosis", "RegionAxes")

BACKGROUND = 0
FALSE_DETECTION = 1


def split_mergers(labels: np.ndarray, fits: dict[int, MergerFit], offset_zyx=(0, 0, 0)) -> np.ndarray:
    """A (z, y, x) label block with the resolved mergers' pixels relabelled; `offset_zyx` is the
    block's position in the frame. `fits` are one frame's fits (merger label -> fit)."""
    out = np.array(labels, copy=True)
    for merger, fit in fits.items():
        where = np.nonzero(labels == merger)
        if not where[0].size:
            continue
        xyz = np.stack([where[2] + offset_zyx[2], where[1] + offset_zyx[1], where[0] + offset_zyx[0]],
                       axis=1).astype(np.float64)
        out[where] = fit.new_labels[_most_likely(xyz, fit)]
    return out


def _most_likely(points: np.ndarray, fit: MergerFit) -> np.ndarray:
    # term by term as scikit-learn's _estimate_log_gaussian_prob ("full"), so that near ties at
    # a merger's seam go the same way (the z precision of 2D data is ~1000, so order matters)
    scores = np.empty((points.shape[0], fit.weights.size))
    for k in range(fit.weights.size):
        precision = fit.precisions_cholesky[k]
        whitened = points @ precision - fit.means[k] @ precision
        scores[:, k] = (-0.5 * (points.shape[1] * np.log(2 * np.pi) + np.sum(np.square(whitened), axis=1))
                        + np.sum(np.log(np.diag(precision))) + np.log(fit.weights[k]))
    return np.argmax(scores, axis=1)


def id_table(graph: SolvedGraph, lineage: Lineage, frame: int, max_label: int, *, ids: str = "lineage",
             mergers_only: bool = False, resolved: ResolvedMergers | None = None) -> np.ndarray:
    """Lookup table label -> lineage (or track) id of one frame's (merger-split) labels."""
    if ids not in ("lineage", "track"):
        raise ValueError(f"ids must be 'lineage' or 'track', not {ids!r}")
    values = lineage.lineage if ids == "lineage" else lineage.track
    nodes = np.flatnonzero(graph.frame == frame)
    if mergers_only:
        if resolved:
            split = np.concatenate([fit.new_labels for fit in resolved.get(frame, {}).values()] or [np.zeros(0)])
            nodes = nodes[np.isin(graph.label[nodes], split)]
        else:
            nodes = nodes[graph.value[nodes] > 1]
    table = np.full(max(int(max_label), int(graph.label[nodes].max(initial=0))) + 1, BACKGROUND, dtype=np.int64)
    table[graph.label[nodes]] = np.where(values[nodes] == NO_ID, FALSE_DETECTION, values[nodes])
    return table


def relabel(labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Labels mapped through a lookup table, in the labels' dtype (labels beyond it become 0)."""
    inside = labels < table.size
    return np.where(inside, table[np.where(inside, labels, 0)], BACKGROUND).astype(labels.dtype)


def features_with_split_mergers(features: FeatureTable, raw: np.ndarray, labels: np.ndarray, split: np.ndarray, *,
                                coord_maximum_exclusive: bool, threads: int = 1) -> FeatureTable:
    """One frame's features with rows for its split objects (see the module docstring).

    features: the frame's object features; raw: its (z, y, x, c) raw data; labels: its object
    labels; split: the same with the mergers split (`split_mergers`). Like ilastik, the split
    objects' pixels (where `split` differs from `labels`) are numbered 1..k in order of their
    new label, measured, and each row written at its new label, growing the arrays."""
    changed = split != labels
    new_labels = np.unique(split[changed])
    if not new_labels.size:
        return features
    compact = np.where(changed, np.searchsorted(new_labels, split) + 1, 0).astype(np.uint32)
    measured = compute_object_features(raw, compact, {STANDARD: {name: () for name in SPLIT_OBJECT_FEATURES}},
                                       coord_maximum_exclusive=coord_maximum_exclusive, threads=threads)
    merged = {plugin: dict(arrays) for plugin, arrays in features.items()}
    for plugin, arrays in measured.items():
        for name, values in arrays.items():
            if name not in merged.get(plugin, {}):
                continue
            old = np.asarray(merged[plugin][name])
            grown = np.zeros((max(int(new_labels.max()) + 1, old.shape[0]),) + old.shape[1:], dtype=old.dtype)
            grown[:old.shape[0]] = old
            grown[new_labels] = values[1:].reshape((new_labels.size,) + old.shape[1:])
            merged[plugin][name] = grown
    return merged
