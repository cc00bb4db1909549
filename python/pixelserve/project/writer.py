"""Writing Pixel Classification projects in ilastik's .ilp layout.

Only plain datasets are written (no pickles), in the groups and dtypes ilastik itself uses,
so that pixelserve's reader and ilastik read the same file.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..classifiers import VigraForest, write_vigra_forest
from ..features import FEATURE_IDS, FeatureSpec, feature_names
from ..io.axes import vigra_axistags_json
from .ilp import PIXEL_CLASSIFICATION

# The ilastik version whose layout and feature conventions (fastfilters structure-tensor
# order) these files follow; pixelserve's own version is stored beside it.
LAYOUT_VERSION = "1.4.1"
STRING = h5py.string_dtype()


@dataclass
class TrainingImage:
    """What the project remembers about the training image."""

    file_path: str             # as given; stored relative to the project when possible
    nickname: str
    axes: str
    shape: tuple[int, ...]
    labels: np.ndarray | None = None   # label image in the spatial axes of `axes`, no c


def write_pixel_classification(path, *, specs: list[FeatureSpec], forest: VigraForest,
                               label_names: list[str], label_colors: np.ndarray,
                               training: TrainingImage) -> Path:
    """Write the project to `path` atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".ilp.part", dir=path.parent)
    os.close(handle)
    try:
        with h5py.File(temporary, "w") as file:
            _write_root(file)
            _write_input_data(file, training, path.parent)
            _write_feature_selection(file.create_group("FeatureSelections"), specs)
            _write_classifier(file.create_group("PixelClassification"), specs, forest,
                              label_names, label_colors, training)
            export = file.create_group("Prediction Export")
            export["OutputFilenameFormat"] = "{dataset_dir}/{nickname}_{result_type}"
            export["OutputFormat"] = "hdf5"
            export["OutputInternalPath"] = "exported_data"
            export["StorageVersion"] = "0.1"
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _write_root(file: h5py.File) -> None:
    file["workflowName"] = PIXEL_CLASSIFICATION.encode()
    file["ilastikVersion"] = LAYOUT_VERSION.encode()
    file["pixelserveVersion"] = __version__.encode()
    file["time"] = time.ctime().encode()
    file["currentApplet"] = np.int64(2)


def _write_input_data(file: h5py.File, training: TrainingImage, project_dir: Path) -> None:
    group = file.create_group("Input Data")
    group.create_dataset("Role Names", data=[b"Raw Data", b"Prediction Mask"], dtype=STRING)
    group["StorageVersion"] = b"0.2"
    lane = group.create_group("infos/lane0000")
    lane.create_group("Prediction Mask")
    raw = lane.create_group("Raw Data")
    file_path = Path(training.file_path)
    try:
        stored = os.path.relpath(file_path.resolve(), project_dir.resolve())
        kind = "RelativeFilesystemDatasetInfo"
    except ValueError:  # another drive on Windows
        stored, kind = str(file_path.resolve()), "FilesystemDatasetInfo"
    raw["__class__"] = kind.encode()
    raw["allowLabels"] = True
    raw["axistags"] = vigra_axistags_json(training.axes).encode()
    raw["datasetId"] = str(uuid.uuid1()).encode()
    raw["display_mode"] = b"default"
    raw["filePath"] = stored.encode()
    raw["location"] = b"FileSystem"
    raw["nickname"] = training.nickname.encode()
    raw["normalizeDisplay"] = False
    raw["shape"] = np.asarray(training.shape, dtype=np.int64)
    group.create_group("local_data")


def _write_feature_selection(group: h5py.Group, specs: list[FeatureSpec]) -> None:
    scales = sorted({spec.scale for spec in specs})
    selected = {(spec.feature_id, spec.scale) for spec in specs}
    matrix = np.array([[(fid, s) in selected for s in scales] for fid in FEATURE_IDS])
    in_2d = [any(spec.in_2d for spec in specs if spec.scale == s) for s in scales]
    group.create_dataset("FeatureIds", data=[f.encode() for f in FEATURE_IDS], dtype="S28")
    group["Scales"] = np.asarray(scales, dtype=np.float64)
    group["SelectionMatrix"] = matrix
    group["ComputeIn2d"] = np.asarray(in_2d, dtype=bool)
    group["StorageVersion"] = b"0.1"


def _write_classifier(group: h5py.Group, specs, forest: VigraForest, label_names, label_colors,
                      training: TrainingImage) -> None:
    names = [name.encode() for name in label_names]
    group.create_dataset("LabelNames", data=names, dtype=STRING)
    group["LabelColors"] = np.asarray(label_colors, dtype=np.int64)
    group["PmapColors"] = np.asarray(label_colors, dtype=np.int64)
    group["StorageVersion"] = b"0.1"
    label_sets = group.create_group("LabelSets/labels000")
    if training.labels is not None and training.labels.any():
        _write_label_block(label_sets, training.labels, training.axes)
    forests = group.create_group("ClassifierForests")
    write_vigra_forest(forests.create_group("Forest0000"), forest)
    depth = training.shape[training.axes.index("z")] if "z" in training.axes else 1
    channels = training.shape[training.axes.index("c")] if "c" in training.axes else 1
    forests.create_dataset("feature_names", dtype=STRING,
                           data=[n.encode() for n in feature_names(specs, channels, depth)])
    forests["known_labels"] = np.asarray(forest.labels, dtype=np.uint32)
    forests["pickled_type"] = (b"clazyflow.classifiers.parallelVigraRfLazyflowClassifier\n"
                               b"ParallelVigraRfLazyflowClassifier\np0\n.")


def _write_label_block(group: h5py.Group, labels: np.ndarray, axes: str) -> None:
    """The labels' bounding box as one block, with ilastik's blockSlice text (c last).

    `labels` has the lane's spatial axes (its `axes` without c), in that order."""
    present = np.nonzero(labels)
    start = [int(p.min()) for p in present] + [0]
    stop = [int(p.max()) + 1 for p in present] + [1]
    block = labels[..., None][tuple(slice(a, b) for a, b in zip(start, stop))].astype(np.uint8)
    block_axes = axes.replace("c", "") + "c"
    dataset = group.create_dataset("block0000", data=block, compression="gzip")
    dataset.attrs["blockSlice"] = "[" + ",".join(f"{a}:{b}" for a, b in zip(start, stop)) + "]"
    dataset.attrs["axistags"] = vigra_axistags_json(block_axes)
