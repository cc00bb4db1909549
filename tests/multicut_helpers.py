"""Shared pieces of the multicut tests: elf's mean segmentation accuracy (ilastik's own pass
criterion for superpixels and multicut results) and the fixture inputs."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy.optimize import linear_sum_assignment

from conftest import fixtures_dir
from pixelserve.project.ilp import open_h5, read_project_file
from pixelserve.project.multicut import (
    read_multicut,
    read_stored_edge_features,
    read_stored_superpixels,
)

# ilastik's GUI test settings for the reference (testEdgeTrainingWithMulticutGui.py).
REFERENCE_WATERSHED = {"channels": (1,), "threshold": 0.6, "min_size": 7, "sigma": 1.1,
                       "alpha": 0.4}
LEGACY_PROJECTS = ("3d", "3d1c", "3d2c")


def mean_segmentation_accuracy(segmentation, groundtruth, ignore_label=0) -> float:
    """elf.evaluation.mean_segmentation_accuracy: IoU matching at thresholds 0.5 .. 0.95,
    accuracy tp / (tp + fp + fn) averaged; objects of `ignore_label` do not count."""
    seg_ids, seg_index = np.unique(np.ravel(segmentation), return_inverse=True)
    gt_ids, gt_index = np.unique(np.ravel(groundtruth), return_inverse=True)
    overlap = np.zeros((seg_ids.size, gt_ids.size))
    np.add.at(overlap, (seg_index.ravel(), gt_index.ravel()), 1)
    union = overlap.sum(axis=0, keepdims=True) + overlap.sum(axis=1, keepdims=True) - overlap
    scores = overlap / np.maximum(union, 1e-7)
    if ignore_label is not None:
        scores = scores[seg_ids != ignore_label][:, gt_ids != ignore_label]
    n_pred, n_true = scores.shape
    matched = min(n_pred, n_true)
    accuracies = []
    for threshold in np.arange(0.5, 1.0, 0.05):
        tp = 0
        if matched and np.any(scores >= threshold):
            costs = -(scores >= threshold).astype(float) - scores / (2 * matched)
            rows, cols = linear_sum_assignment(costs)
            tp = int(np.count_nonzero(scores[rows, cols] >= threshold))
        accuracies.append(tp / (n_pred + n_true - tp) if tp else 0.0)
    return float(np.mean(accuracies))


def read_h5(path: Path, dataset: str = "exported_data") -> np.ndarray:
    with h5py.File(path, "r") as file:
        return file[dataset][()]


def reference_inputs() -> tuple[np.ndarray, np.ndarray]:
    """(raw (z, y, x, 1) uint8, probabilities (z, y, x, 2) float32) of the reference."""
    folder = fixtures_dir() / "inputdata"
    return (read_h5(folder / "3d1c-synthetic.h5", "data"),
            read_h5(folder / "3d1c-synthetic_Probabilities.h5"))


def legacy_inputs(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(raw with a channel axis, probabilities) of a 2018 multicut fixture project."""
    folder = fixtures_dir() / "inputdata"
    raw = read_h5(folder / f"{name}.h5", "data")
    return (raw[..., None] if raw.ndim == 3 else raw), read_h5(folder / f"{name}_Probabilities.h5")


def legacy_project(test_projects: Path, name: str):
    """(model, stored superpixels, stored edge features) of a 2018 fixture project."""
    path = test_projects / f"Boundary-basedSegmentationwMulticut{name}.ilp"
    with open_h5(path) as file:
        model = read_multicut(file, read_project_file(file, path))
        return model, read_stored_superpixels(file, 0), read_stored_edge_features(file, 0)
