"""Feature rows of the labelled pixels, computed only around the labels.

The labels are grouped by the cell of a fixed grid they fall in; for each cell with labels,
the features are computed on the labels' bounding box widened by the feature halo (clipped
at the image border), exactly as prediction computes a block, and only the labelled pixels'
rows are kept. Memory is that of a few boxes at a time plus the rows, whatever the image
size. For an autocontext stage, the box's input is the raw data followed by the earlier
stages' probabilities, computed by the same `StageChain` that prediction uses, so training
sees bit for bit the values a prediction of the same pixels sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..blocks import map_blocks
from ..features import FeatureSpec, compute_features, feature_count, halo_zyx
from ..project.label_sets import SparseLabels
from ..workflows.stages import Stage, StageChain
from ..workflows.volume import Box, Volume

# Float32 feature values one box may hold: the grid cell size follows from it.
_BOX_FEATURE_BYTES = 48 << 20


@dataclass
class LaneData:
    """One training image and its labels for one stage."""

    raw: Volume
    labels: SparseLabels


@dataclass
class _Task:
    lane: int
    t: int
    box: Box
    members: np.ndarray   # indices into the lane's labels


def grid_cell(spatial_shape, n_features: int, depth: int) -> tuple[int, int, int]:
    """(z, y, x) cell size of the label grid: boxes of at most _BOX_FEATURE_BYTES."""
    pixels = max(4096, _BOX_FEATURE_BYTES // (4 * max(1, n_features)))
    nz, ny, nx = spatial_shape
    if depth > 1:
        edge = max(16, int(round(pixels ** (1 / 3))))
        return min(nz, edge), min(ny, edge), min(nx, edge)
    edge = max(64, 1 << int(math.log2(math.isqrt(pixels))))
    return 1, min(ny, edge), min(nx, edge)


def _tasks(lanes: list[LaneData], n_features: list[int]) -> list[_Task]:
    tasks = []
    for index, (lane, features) in enumerate(zip(lanes, n_features)):
        labels = lane.labels
        if not len(labels):
            continue
        cell = np.asarray((1,) + grid_cell(lane.raw.spatial_shape, features, lane.raw.shape[1]))
        cells = labels.coords // cell
        keys, inverse = np.unique(cells, axis=0, return_inverse=True)
        order = np.argsort(inverse.reshape(-1), kind="stable")
        bounds = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(keys) + 1))
        for k in range(len(keys)):
            members = order[bounds[k]:bounds[k + 1]]
            points = labels.coords[members]
            low, high = points.min(axis=0), points.max(axis=0) + 1
            box = Box(*((int(low[a]), int(high[a])) for a in (1, 2, 3)))
            tasks.append(_Task(index, int(keys[k][0]), box, members))
    return tasks


def labelled_rows(lanes: list[LaneData], specs: list[FeatureSpec], *,
                  previous: list[Stage] = (), structure_tensor_order: str = "fastfilters",
                  threads: int = 1, progress: Callable[[int, int], None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(rows float32 (N, F), label values (N,)) of every labelled pixel of every lane, in the
    order of the lanes' labels (so the result never depends on `threads`)."""
    stage_index = len(previous) + 1
    chains = [StageChain(list(previous), lane.raw, None, lane.raw.shape[1]) for lane in lanes]
    halos = [halo_zyx(specs, lane.raw.shape[1], structure_tensor_order) for lane in lanes]
    channels = [lane.raw.channels + (previous[-1].n_classes if previous else 0) for lane in lanes]
    counts = [feature_count(specs, c, lane.raw.shape[1]) for c, lane in zip(channels, lanes)]
    tasks = _tasks(lanes, counts)

    def compute(number, _):
        task = tasks[number]
        lane = lanes[task.lane]
        padded = task.box.grown(halos[task.lane], lane.raw.spatial_shape)
        data = chains[task.lane].stage_input(stage_index, task.t, padded)
        features = compute_features(data, specs, structure_tensor_order=structure_tensor_order,
                                    depth=lane.raw.shape[1], interior=task.box.relative_to(padded))
        local = lane.labels.coords[task.members, 1:] - np.asarray([r[0] for r in task.box.ranges])
        return features[local[:, 0], local[:, 1], local[:, 2]]

    offsets = np.cumsum([0] + [len(lane.labels) for lane in lanes])
    rows = np.empty((int(offsets[-1]), counts[0] if counts else 0), dtype=np.float32)
    done = [0]

    def keep(number, _, found):
        task = tasks[number]
        rows[offsets[task.lane] + task.members] = found
        done[0] += 1
        if progress is not None:
            progress(done[0], len(tasks))

    map_blocks(compute, ((number, None) for number in range(len(tasks))), keep, threads)
    values = np.concatenate([lane.labels.values for lane in lanes]) if lanes else np.zeros(0)
    return rows, values.astype(np.uint8)
