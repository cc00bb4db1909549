"""Shared pieces of the multicut tests: elf's mean segmentation accuracy (ilastik's own pass
criterion for superpixels and multicut results) and the fixture inputs."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy.optimize import linear_sum_assignment

from conftest import fixtures_dir
from pixelserve.classifiers import write_vigra_forest
from pixelserve.io.axes import vigra_axistags_json
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
# The exact optimum of Boundary-basedSegmentationwMulticut3d's stored problem (its stored
# features, forests and multicut settings): the ILP needs about a minute for its 2023 edges,
# so tests compare with this value, which a slow test checks.
OPTIMUM_3D = -1632.7250983715057


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


def write_multicut_project(path: Path, *, lanes: list[dict], watershed: dict, forest=None,
                           feature_names: dict | None = None, classifier_columns=(),
                           solver: str = "kernighan-lin", beta: float = 0.5, threshold: float = 0.5,
                           stored_superpixels: np.ndarray | None = None) -> Path:
    """A Boundary-based Segmentation with Multicut project in ilastik 1.4's layout (current
    watershed keys). `lanes`: per lane {role: (file path, axes, shape)}; `forest`: a
    VigraForest reading `classifier_columns`, or None for ilastik's no-classifier mode."""
    text = h5py.string_dtype()
    with h5py.File(path, "w") as file:
        file.create_dataset("workflowName", data=b"Edge Training With Multicut", dtype=text)
        file.create_dataset("ilastikVersion", data=b"1.4.1", dtype=text)
        file.create_dataset("Input Data/Role Names", data=[b"Raw Data", b"Probabilities", b"Superpixels",
                                                           b"Groundtruth"], dtype=text)
        for index, lane in enumerate(lanes):
            for role, (file_path, axes, shape) in lane.items():
                group = file.create_group(f"Input Data/infos/lane{index:04d}/{role}")
                group.create_dataset("axistags", data=vigra_axistags_json(axes).encode(), dtype=text)
                group.create_dataset("filePath", data=str(file_path).encode(), dtype=text)
                group.create_dataset("location", data=b"FileSystem", dtype=text)
                group.create_dataset("nickname", data=Path(file_path).stem.encode(), dtype=text)
                group["shape"] = np.asarray(shape, dtype=np.int64)
        ws = file.create_group("DT Watershed")
        ws["ChannelSelections"] = np.asarray(watershed["channels"], dtype=np.int64)
        ws["ChannelSelections"].attrs["isEmpty"] = False
        for key, name in (("threshold", "Threshold"), ("min_size", "MinSize"), ("sigma", "Sigma"), ("alpha", "Alpha")):
            ws[name] = watershed[key]
        ws["BlockwiseWatershed"] = watershed.get("blockwise", True)
        ws.create_dataset("StorageVersion", data=b"0.2", dtype=text)
        if stored_superpixels is not None:
            block = ws.create_dataset("Superpixels/superpixels000/block0000", data=stored_superpixels[..., None])
            block.attrs["blockSlice"] = "[" + ",".join(f"0:{n}" for n in block.shape) + "]"
        training = file.create_group("Training and Multicut")
        training["TrainRandomForest"] = forest is not None
        training["Beta"] = beta
        training["ProbabilityThreshold"] = threshold
        training.create_dataset("SolverName", data=solver.encode(), dtype=text)
        for channel, names in (feature_names or {"Raw Data": ["standard_edge_mean"]}).items():
            training.create_dataset(f"FeatureNames/{channel}", data=[n.encode() for n in names], dtype=text)
        if forest is not None:
            write_vigra_forest(training.create_group("Output/Forest0000"), forest)
            training["Output/known_labels"] = np.asarray(forest.labels, dtype=np.int64)
            training.create_dataset("Output/feature_names", data=[n.encode() for n in classifier_columns],
                                    dtype=text)
        export = file.create_group("Data Export")
        for name, value in (("OutputFilenameFormat", "{dataset_dir}/{nickname}_{result_type}"),
                            ("OutputFormat", "hdf5"), ("OutputInternalPath", "exported_data")):
            export.create_dataset(name, data=value.encode(), dtype=text)
    return path


def voronoi_2d(shape=(96, 120), cells=30, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(raw uint8, boundary probabilities float32 (y, x, 2): background, boundary) of
    Voronoi cells with noisy membranes."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 1, (cells, 2)) * shape
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    truth = np.argmin(((grid[..., None, :] - points) ** 2).sum(-1), axis=-1)
    border = np.zeros(shape, bool)
    border[:-1] |= truth[:-1] != truth[1:]
    border[:, :-1] |= truth[:, :-1] != truth[:, 1:]
    boundary = np.clip(border + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)
    raw = (200 - 150 * boundary).astype(np.uint8)
    return raw, np.stack([1 - boundary, boundary], axis=-1)


#: Watershed settings for voronoi_2d's membranes (channel 1 is the boundary).
WATERSHED_2D = {"channels": (1,), "threshold": 0.5, "min_size": 10, "sigma": 1.0, "alpha": 0.9}
