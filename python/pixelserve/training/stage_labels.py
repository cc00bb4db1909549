"""Handing one set of labels to the stages of an Autocontext project.

In ilastik every autocontext stage has its own labels, and stage k is trained on the
probabilities of stage k-1's classifier, which was trained on all of stage k-1's labels
(`ilastik/workflows/newAutocontext/newAutocontextWorkflow.py`: the stages' label inputs are
deliberately not connected). Where stage k labels the same pixels as stage k-1, it therefore
learns from in-sample probabilities, which are over-confident there. ilastik's "Distribute
Labels" menu copies one stage's labels to the others, or partitions them at random, pixel by
pixel.

pixelserve offers three choices for new label images (`--stage_labels`):

- `crossfit` (default): every stage stores every label (as `copy`), but stage 2 is trained
  on out-of-sample stage-1 probabilities: the strokes (connected groups of equally labelled
  pixels) are dealt into FOLDS folds, and the stage-2 rows of a fold's strokes are computed
  with a stage-1 forest trained without that fold ("out-of-sample-ish": neighbouring strokes
  of other folds were seen). Prediction uses the stage-1 forest trained on all labels. This is
  cross-validated stacking; it keeps every label in both stages.
- `copy`: every stage gets every label, and stage 2 learns from in-sample probabilities
  (ilastik's "Distribute Labels" without partition).
- `partition`: each stroke goes to one stage (dealt out per class at random, seeded), so stage
  2 sees stage-1 probabilities on strokes stage 1 never saw, at the price of half the labels
  per stage. A class with fewer strokes than stages is split pixel by pixel, as ilastik's
  partition does.

Projects whose stages hold different labels (ilastik's) are retrained as ilastik trains
them; stages holding the same labels are cross-fitted unless `copy` is asked for.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import UserError
from ..project.label_sets import SparseLabels

STAGE_LABEL_MODES = ("crossfit", "copy", "partition")
FOLDS = 3


def distribute(lanes: list[SparseLabels], n_stages: int, mode: str,
               seed: int | None) -> list[list[SparseLabels]]:
    """[stage][lane] labels for `n_stages` stages."""
    if mode not in STAGE_LABEL_MODES:
        raise UserError(f"Unknown stage label mode '{mode}'. Fix: use one of "
                        f"{', '.join(STAGE_LABEL_MODES)}.")
    if mode in ("copy", "crossfit") or n_stages == 1:
        return [list(lanes) for _ in range(n_stages)]
    rng = np.random.default_rng(seed)
    stages: list[list[SparseLabels]] = [[] for _ in range(n_stages)]
    for labels in lanes:
        assignment = _assign_strokes(labels, n_stages, rng)
        for stage in range(n_stages):
            stages[stage].append(labels.subset(assignment == stage))
    return stages


def strokes(labels: SparseLabels) -> np.ndarray:
    """Component number of each labelled pixel: neighbours along z, y or x (one time point)
    with the same class belong to one stroke. Memory follows the number of labels."""
    count = len(labels)
    if count == 0:
        return np.zeros(0, np.int64)
    shape = labels.coords.max(axis=0) + 2   # a margin so that neighbours never wrap
    linear = np.ravel_multi_index(labels.coords.T, shape)
    order = np.argsort(linear)
    ordered = linear[order]
    rows, cols = [], []
    for axis in (1, 2, 3):
        step = int(np.prod(shape[axis + 1:]))
        target = linear + step
        at = np.searchsorted(ordered, target)
        at[at == count] = 0
        hit = (ordered[at] == target)
        neighbour = order[at[hit]]
        source = np.flatnonzero(hit)
        same = labels.values[source] == labels.values[neighbour]
        rows.append(source[same])
        cols.append(neighbour[same])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def fold_of_strokes(lanes: list[SparseLabels], folds: int, seed: int | None) -> list[np.ndarray]:
    """Per lane, the fold (0..folds-1) of each labelled pixel, whole strokes at a time."""
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    return [_assign_strokes(labels, folds, rng) for labels in lanes]


def _assign_strokes(labels: SparseLabels, parts: int, rng) -> np.ndarray:
    """Deal each class's strokes into `parts` parts in turn (shuffled)."""
    assignment = np.zeros(len(labels), np.int64)
    components = strokes(labels)
    for value in np.unique(labels.values):
        members = np.flatnonzero(labels.values == value)
        ids, local = np.unique(components[members], return_inverse=True)
        if ids.size >= parts:
            part_of = np.empty(ids.size, np.int64)
            part_of[rng.permutation(ids.size)] = np.arange(ids.size) % parts
            assignment[members] = part_of[local.reshape(-1)]
        else:
            # Too few strokes to share: split the pixels, each part getting some.
            assignment[members] = rng.permutation(members.size) % parts
    return assignment
