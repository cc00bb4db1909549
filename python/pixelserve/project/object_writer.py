"""Writing Object Classification projects in ilastik's .ilp layout (the groups
`object_classification.py` reads, as ilastik 1.4 writes them; shared/notes/
object-classification.md §1): input data with the variant's roles, `ThresholdTwoLevels`
(prediction-map variant), `ObjectExtraction/Features`, `ObjectClassification` (selected
features, class names and colours, the object labels per lane and frame, the forest),
`Blockwise Object Classification` and `Object Information Export`.

Only plain datasets are written. `ObjectClassification/ExportSettings` holds the bytes of
`(None, None)` as protocol-0 pickle text, the value ilastik writes while no table export has
been configured (a constant, not pickled here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..classifiers import VigraForest
from ..objects.catalog import FeatureSelection
from ..objects.segmentation import ThresholdSettings
from .object_classification import FROM_PREDICTION, SEGMENTATION_ROLE, BlockwiseSettings
from .writer import (
    STRING,
    LaneRecord,
    write_atomically,
    write_export_settings,
    write_forests,
    write_input_data,
    write_list,
    write_root,
    write_text,
)

_NO_TABLE_SETTINGS = b"(NNtp0\n."
_RAW = "Raw Data"


@dataclass
class ObjectProjectRecord:
    """Everything an Object Classification project of ours holds."""

    workflow_name: str                         # one of object_classification.SEGMENTATION_ROLE
    lanes: list[dict[str, LaneRecord]]         # per lane: role -> image
    features: FeatureSelection                 # computed (ObjectExtraction/Features)
    selected_features: FeatureSelection        # read by the classifier
    label_names: list[str]
    label_colors: np.ndarray
    label_inputs: list[dict[int, np.ndarray]]  # per lane: frame -> class per object id
    forest: VigraForest | None
    threshold: ThresholdSettings | None = None
    blockwise: BlockwiseSettings = field(default_factory=BlockwiseSettings)
    export_settings: dict = field(default_factory=dict)


def write_object_project(path, record: ObjectProjectRecord) -> Path:
    """Write `record` to `path` atomically (temporary name, then rename)."""
    roles = [_RAW, SEGMENTATION_ROLE[record.workflow_name]]

    def fill(file: h5py.File, project_dir: Path) -> None:
        write_root(file, record.workflow_name, 0)
        write_input_data(file, roles, record.lanes, project_dir)
        if record.workflow_name == FROM_PREDICTION:
            _write_threshold(file.create_group("ThresholdTwoLevels"), record.threshold or ThresholdSettings())
        extraction = file.create_group("ObjectExtraction")
        _write_selection(extraction.create_group("Features"), record.features)
        write_text(extraction, "StorageVersion", "0.1")
        _write_classification(file.create_group("ObjectClassification"), record)
        _write_blockwise(file.create_group("Blockwise Object Classification"), record.blockwise)
        write_export_settings(file.create_group("Object Information Export"), record.export_settings)

    return write_atomically(path, fill)


def _write_threshold(group: h5py.Group, settings: ThresholdSettings) -> None:
    for name, value in (("CurOperator", settings.method), ("Channel", settings.channel),
                        ("CoreChannel", settings.core_channel), ("MinSize", settings.min_size),
                        ("MaxSize", settings.max_size)):
        group[name] = np.int64(value)
    group["LowThreshold"] = np.float64(settings.low_threshold)
    group["HighThreshold"] = np.float64(settings.high_threshold)
    sigmas = group.create_group("SmootherSigma")
    for axis, sigma in zip("zyx", settings.sigma_zyx):
        sigmas[axis] = np.float64(sigma)
    write_text(group, "StorageVersion", "0.1")


def _write_selection(group: h5py.Group, selection: FeatureSelection) -> None:
    """plugin / feature / margin (only features with a neighbourhood have one)."""
    for plugin, features in selection.items():
        plugin_group = group.create_group(plugin)
        for name, margin in features.items():
            feature_group = plugin_group.create_group(name)
            if margin:
                feature_group["margin"] = np.asarray(margin, dtype=np.int32)


def _write_classification(group: h5py.Group, record: ObjectProjectRecord) -> None:
    _write_selection(group.create_group("SelectedFeatures"), record.selected_features)
    write_list(group, "LabelNames", [name.encode() for name in record.label_names], STRING)
    colors = np.asarray(record.label_colors, dtype=np.int32).reshape(-1, 3)
    write_list(group, "LabelColors", colors)
    write_list(group, "PmapColors", colors)
    inputs = group.create_group("LabelInputs")
    for lane, frames in enumerate(record.label_inputs):
        lane_group = inputs.create_group(f"{lane:04d}")
        for t, classes in sorted(frames.items()):
            lane_group[str(t)] = np.asarray(classes, dtype=np.float64)
    if record.forest is not None:
        write_forests(group.create_group("ClassifierForests"), record.forest)
    group["MaxNumObj"] = np.int32(max(0, len(record.label_names) - 1))
    group.create_dataset("ExportSettings", data=np.void(_NO_TABLE_SETTINGS)).attrs["version"] = np.int32(1)
    write_text(group, "StorageVersion", "0.1")


def _write_blockwise(group: h5py.Group, settings: BlockwiseSettings) -> None:
    for name, sizes in (("BlockShape3dDict", settings.block_shape_zyx), ("HaloPadding3dDict", settings.halo_zyx)):
        sizes_group = group.create_group(name)
        for axis, size in zip("zyx", sizes):
            sizes_group[axis] = np.int32(size)
    write_text(group, "StorageVersion", "0.1")
