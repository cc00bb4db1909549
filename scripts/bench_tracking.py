"""Tracking: time per stage, solver scaling, exact ILP against the fast solver, accuracy.

Generates a 2D time series with a known ground truth: cells that move (random walk), divide
(children placed on both sides of the mother), leave through the border and enter at random;
each cell gives a detection whose count and division probabilities are noisy versions of the
truth, plus false detections and missed cells. Detections are generated directly with their
probabilities (the object stage belongs to pixelserve.objects); `--movie PATH` also writes a
small rendered movie (raw + segmentation, h5) of the same kind for the full path later.

Prints, for 10x steps of the number of detections: time per stage (graph, energies, solve,
lineage), ILP against the flow solver (time, energy, ratio), and tracking accuracy against the
ground truth (link and division precision/recall).

    .venv/bin/python scripts/bench_tracking.py [--frames 100] [--cells 2 20 200 2000]
           [--ilp-limit 60] [--seed 0] [--movie movie.h5]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve.project.tracking import TrackingParameters
from pixelserve.tracking.detections import Detections

SPEED = 3.0            # px per frame, per axis (random walk)
DIVISION_RATE = 0.01   # per cell and frame
CELL_SPACING = 40.0    # field side = spacing * sqrt(cells)
FALSE_RATE = 0.02      # false detections per cell and frame
MISS_RATE = 0.01       # missed cells per cell and frame


@dataclass
class Truth:
    """Ground truth of synthetic detections: the cell each detection shows (-1: false)."""

    cell: np.ndarray        # (n,) cell id per detection
    parent: dict            # cell id -> mother cell id (children of divisions)


def synthetic_detections(frames: int, cells: int, seed: int = 0) -> tuple[Detections, Truth, int]:
    """Detections of `cells` moving, dividing cells over `frames` frames, with ground truth.

    Returns (detections, truth, field side in pixels)."""
    rng = np.random.default_rng(seed)
    side = int(CELL_SPACING * np.sqrt(cells)) + 20
    position = rng.uniform(10, side - 10, (cells, 2))
    ids = np.arange(cells)
    next_id = cells
    parent: dict[int, int] = {}
    rows = []
    for t in range(frames):
        divides = rng.random(ids.size) < DIVISION_RATE
        # detections of this frame
        seen = rng.random(ids.size) >= MISS_RATE
        count_p = np.clip(rng.normal(0.9, 0.08, ids.size), 0.02, 0.999)
        div_p = np.where(divides, np.clip(rng.normal(0.8, 0.15, ids.size), 0.02, 0.999),
                         np.clip(rng.normal(0.05, 0.05, ids.size), 0.001, 0.98))
        for i in np.flatnonzero(seen):
            rows.append((t, position[i, 0], position[i, 1], count_p[i], div_p[i], ids[i]))
        n_false = rng.poisson(FALSE_RATE * ids.size)
        for x, y, p in zip(rng.uniform(0, side, n_false), rng.uniform(0, side, n_false),
                           np.clip(rng.normal(0.3, 0.15, n_false), 0.01, 0.95)):
            rows.append((t, x, y, p, 0.02, -1))
        # move, divide, leave, enter
        position = position + rng.normal(0, SPEED, position.shape)
        children_pos, children_ids = [], []
        for i in np.flatnonzero(divides):
            offset = rng.normal(0, 1, 2)
            offset *= 6.0 / np.linalg.norm(offset)
            for sign in (-1, 1):
                children_pos.append(position[i] + sign * offset)
                children_ids.append(next_id)
                parent[next_id] = int(ids[i])
                next_id += 1
        keep = ~divides
        position = np.concatenate([position[keep]] + ([np.array(children_pos)] if children_pos else []))
        ids = np.concatenate([ids[keep], np.array(children_ids, dtype=ids.dtype)])
        inside = np.all((position > 0) & (position < side), axis=1)
        position, ids = position[inside], ids[inside]
        n_enter = rng.poisson(max(0.0, cells - ids.size) * 0.1 + 0.02 * cells / 10)
        position = np.concatenate([position, rng.uniform(10, side - 10, (n_enter, 2))])
        ids = np.concatenate([ids, np.arange(next_id, next_id + n_enter)])
        next_id += n_enter
    table = np.array(rows)
    frame = table[:, 0].astype(np.int64)
    label = np.zeros(frame.size, dtype=np.int64)
    for t in np.unique(frame):
        where = np.flatnonzero(frame == t)
        label[where] = np.arange(1, where.size + 1)
    center = np.zeros((frame.size, 3))
    center[:, :2] = table[:, 1:3]
    count_p = np.clip(table[:, 3], 1e-7, 0.99999999)
    detection = np.column_stack([1.0 - count_p, count_p])
    detections = Detections(frame, label, center, detection, np.clip(table[:, 4], 1e-7, 0.99999999))
    return detections, Truth(table[:, 5].astype(np.int64), parent), side


def parameters_for(frames: int, side: int) -> TrackingParameters:
    return TrackingParameters(max_distance=30.0, max_objects=1, division_threshold=0.1, with_divisions=True,
                              with_merger_resolution=False, with_tracklets=False, border_width=10.0,
                              max_nearest_neighbors=2, size_range=(0, 10 ** 9), x_range=(0, side),
                              y_range=(0, side), z_range=(0, 1), time_range=(0, frames - 1),
                              transition_weight=10.0, division_weight=10.0, appearance_cost=100.0,
                              disappearance_cost=100.0)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()
