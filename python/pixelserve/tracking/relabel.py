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
"""

from __future__ import annotations

import numpy as np

from .lineage import NO_ID, Lineage, SolvedGraph
from .mergers import MergerFit, ResolvedMergers

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
