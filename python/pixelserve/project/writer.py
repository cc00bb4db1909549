"""Writing Pixel Classification, Autocontext and Cell Density Counting projects in ilastik's
.ilp layout, and the pieces every workflow's project shares (root, input data, forests,
export settings; used by `object_writer.py` too).

Only plain datasets are written (no pickles), in the groups and dtypes ilastik itself uses,
so that pixelserve's reader and ilastik read the same file. The groups ilastik keeps as
pickles (`ClassifierFactory`, `Bookmarks`) are left out: ilastik falls back to its defaults
for them (its default classifier factory is the same parallel vigra random forest).
tests/test_training_layout.py lists every remaining difference to ilastik's own projects.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..classifiers import VigraForest, write_vigra_forest
from ..features import DEFAULT_SCALES, FEATURE_IDS, FeatureSpec, feature_names
from ..io.axes import vigra_axistags_json
from .counting import COUNTING, COUNTING_GROUP, DEFAULT_SIGMA, internal_axis_order
from .ilp import AUTOCONTEXT, EXPORT_KEYS, PIXEL_CLASSIFICATION, DatasetInfo
from .label_sets import SparseLabels, write_label_sets
from .pixel_classification import stage_group_names

# The ilastik version whose layout and feature conventions (fastfilters structure-tensor
# order) these files follow; pixelserve's own version is stored beside it.
LAYOUT_VERSION = "1.4.1"
STRING = h5py.string_dtype()
DEFAULT_EXPORT = {"OutputFilenameFormat": "{dataset_dir}/{nickname}_{result_type}",
                  "OutputFormat": "hdf5", "OutputInternalPath": "exported_data"}
# The applet ilastik shows first when it opens the project (its Training page).
_CURRENT_APPLET = {PIXEL_CLASSIFICATION: 2, AUTOCONTEXT: 4, COUNTING: 2}
# ilastik's counting label colours (red dots, green background) and names.
COUNTING_COLORS = np.array([[255, 0, 0], [0, 255, 0]])
COUNTING_NAMES = ("Foreground", "Background")


@dataclass
class LaneRecord:
    """One input image as the project's `Input Data` remembers it."""

    file_path: str             # stored relative to the project when possible
    nickname: str
    axes: str                  # with c
    shape: tuple[int, ...]     # in `axes`
    dataset_id: str | None = None
    working_scale: str = ""    # the OME-Zarr scale read ("" for data without scales)

    @property
    def depth(self) -> int:
        return int(self.shape[self.axes.index("z")]) if "z" in self.axes else 1

    @property
    def channels(self) -> int:
        return int(self.shape[self.axes.index("c")]) if "c" in self.axes else 1


@dataclass
class StageRecord:
    """One trained stage: `FeatureSelections{suffix}` and `PixelClassification{suffix}`."""

    specs: list[FeatureSpec]
    forest: VigraForest
    label_names: list[str]
    label_colors: np.ndarray
    input_channels: int
    labels: list[SparseLabels | None] = field(default_factory=list)   # per lane
    pmap_colors: np.ndarray | None = None


def write_project(path, *, lanes: list[LaneRecord], stages: list[StageRecord],
                  export_settings: dict | None = None) -> Path:
    """Write a Pixel Classification (one stage) or Autocontext (two stages) project to `path`
    atomically (temporary name, then rename)."""
    workflow = PIXEL_CLASSIFICATION if len(stages) == 1 else AUTOCONTEXT

    def fill(file: h5py.File, project_dir: Path) -> None:
        write_root(file, workflow, _CURRENT_APPLET[workflow])
        write_input_data(file, ["Raw Data", "Prediction Mask"], [{"Raw Data": lane} for lane in lanes],
                         project_dir)
        depth = lanes[-1].depth   # ilastik's training lane is the last one
        lane_axes = [lane.axes for lane in lanes]
        for index, stage in enumerate(stages, start=1):
            features_name, classifier_name = stage_group_names(index)
            _write_feature_selection(file.create_group(features_name), stage.specs,
                                     in_2d_default=depth == 1)
            _write_classifier(file.create_group(classifier_name), stage, depth, lane_axes)
        write_export_settings(file.create_group("Prediction Export"), export_settings or {})

    return write_atomically(path, fill)


def write_counting_project(path, *, lanes: list[LaneRecord], specs: list[FeatureSpec],
                           labels: list[SparseLabels], sigma: float = DEFAULT_SIGMA,
                           label_names=COUNTING_NAMES, export_settings: dict | None = None) -> Path:
    """Write a Cell Density Counting project of 2D lanes with dot (1) and background (2)
    labels, as ilastik's serializer lays it out (`countingSerializer.py`): labels in the
    lane's internal x-y order, empty box-constraint lists, no regressors (ilastik trains its
    own on opening it; pixelserve's go in with `write_counting_regressors`)."""

    def fill(file: h5py.File, project_dir: Path) -> None:
        write_root(file, COUNTING, _CURRENT_APPLET[COUNTING])
        write_input_data(file, ["Raw Data"], [{"Raw Data": lane} for lane in lanes], project_dir)
        _write_feature_selection(file.create_group("FeatureSelections"), specs, in_2d_default=True)
        group = file.create_group(COUNTING_GROUP)
        write_list(group, "LabelNames", [n.encode() for n in label_names], STRING)
        write_list(group, "LabelColors", COUNTING_COLORS)
        write_list(group, "PmapColors", COUNTING_COLORS)
        internal = [internal_axis_order(DatasetInfo(lane.file_path, lane.nickname, lane.axes,
                                                    lane.shape), f"lane {index}")
                    for index, lane in enumerate(lanes)]
        write_label_sets(group, labels, internal)
        for name, entry, placeholder in (("Rois", "rois", "BoxConstraintRois"),
                                         ("Values", "values", "BoxConstraintValues"),
                                         ("ViewRois", "viewrois", "rois")):
            for index in range(len(lanes)):
                # SerialListSlot's empty list: one unused number marked isEmpty
                empty = group.create_dataset(f"{name}/{entry}{index:04d}/{placeholder}", data=np.zeros(1))
                empty.attrs["isEmpty"] = True
        if sigma != DEFAULT_SIGMA:
            group["Sigma"] = np.float64(sigma)
        write_text(group, "StorageVersion", "0.1")
        write_export_settings(file.create_group("Density Export"), export_settings or {})

    return write_atomically(path, fill)


def write_atomically(path, fill) -> Path:
    """Create the HDF5 file `path` with `fill(file, project_dir)` under a temporary name,
    renamed into place when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".ilp.part", dir=path.parent)
    os.close(handle)
    try:
        with h5py.File(temporary, "w") as file:
            fill(file, path.parent)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, data=value.encode(), dtype=STRING)



def write_root(file: h5py.File, workflow: str, current_applet: int) -> None:
    """workflowName, the versions, the time, and the applet ilastik shows first."""
    write_text(file, "workflowName", workflow)
    write_text(file, "ilastikVersion", LAYOUT_VERSION)
    write_text(file, "pixelserveVersion", __version__)
    write_text(file, "time", time.ctime())
    file["currentApplet"] = np.int64(current_applet)


def _stored_path(lane: LaneRecord, project_dir: Path) -> tuple[str, str]:
    """(filePath, __class__): relative to the project when possible, as ilastik prefers; an
    address (file://, http(s)://) as given, as ilastik stores it (MultiscaleUrlDatasetInfo)."""
    if "://" in lane.file_path:
        return lane.file_path, "MultiscaleUrlDatasetInfo"
    parts = lane.file_path.split(os.pathsep)
    try:
        relative = [os.path.relpath(os.path.abspath(p), project_dir.resolve()) for p in parts]
        return os.pathsep.join(relative), "RelativeFilesystemDatasetInfo"
    except ValueError:  # another drive on Windows
        return os.pathsep.join(os.path.abspath(p) for p in parts), "FilesystemDatasetInfo"


def write_input_data(file: h5py.File, role_names: list[str], lanes: list[dict[str, LaneRecord]],
                     project_dir: Path) -> None:
    """`Input Data`: the role names, and per lane one group per role (empty when not given)."""
    group = file.create_group("Input Data")
    group.create_dataset("Role Names", data=[name.encode() for name in role_names], dtype=STRING)
    write_text(group, "StorageVersion", "0.2")
    for index, lane in enumerate(lanes):
        lane_group = group.create_group(f"infos/lane{index:04d}")
        for role in role_names:
            role_group = lane_group.create_group(role)
            if role in lane:
                _write_dataset_info(role_group, lane[role], project_dir)
    group.create_group("local_data")


def _write_dataset_info(group: h5py.Group, lane: LaneRecord, project_dir: Path) -> None:
    stored, kind = _stored_path(lane, project_dir)
    write_text(group, "__class__", kind)
    group["allowLabels"] = True
    write_text(group, "axistags", vigra_axistags_json(lane.axes))
    write_text(group, "datasetId", lane.dataset_id or str(uuid.uuid1()))
    write_text(group, "display_mode", "default")
    write_text(group, "filePath", stored)
    write_text(group, "location", "FileSystem")
    write_text(group, "nickname", lane.nickname)
    group["normalizeDisplay"] = False
    # ilastik locks the scale of a multiscale lane once training starts (scale_locked)
    group["scale_locked"] = bool(lane.working_scale)
    group["shape"] = np.asarray(lane.shape, dtype=np.int64)
    write_text(group, "working_scale", lane.working_scale)


def _write_feature_selection(group: h5py.Group, specs: list[FeatureSpec],
                             in_2d_default: bool) -> None:
    """ilastik's matrix: its six feature ids by its default scales plus any custom ones."""
    scales = sorted(set(DEFAULT_SCALES) | {spec.scale for spec in specs})
    selected = {(spec.feature_id, spec.scale) for spec in specs}
    matrix = np.array([[(fid, s) in selected for s in scales] for fid in FEATURE_IDS])
    flag_of = {spec.scale: spec.in_2d for spec in specs}
    # Unselected scales get the selection's common flag, so ilastik's dialog shows one choice.
    common = set(flag_of.values())
    fallback = common.pop() if len(common) == 1 else in_2d_default
    in_2d = [flag_of.get(s, fallback) for s in scales]
    group.create_dataset("FeatureIds", data=[f.encode() for f in FEATURE_IDS], dtype=STRING)
    group["Scales"] = np.asarray(scales, dtype=np.float64)
    group["SelectionMatrix"] = matrix
    group["ComputeIn2d"] = np.asarray(in_2d, dtype=bool)
    write_text(group, "StorageVersion", "0.1")


def write_list(group: h5py.Group, name: str, data, dtype=None) -> None:
    dataset = group.create_dataset(name, data=data, dtype=dtype)
    dataset.attrs["isEmpty"] = False   # ilastik's SerialListSlot marks empty lists this way


def _write_classifier(group: h5py.Group, stage: StageRecord, depth: int,
                      lane_axes: list[str]) -> None:
    write_list(group, "LabelNames", [n.encode() for n in stage.label_names], STRING)
    colors = np.asarray(stage.label_colors, dtype=np.int64)
    pmap = colors if stage.pmap_colors is None else np.asarray(stage.pmap_colors, np.int64)
    write_list(group, "LabelColors", colors)
    write_list(group, "PmapColors", pmap)
    write_text(group, "StorageVersion", "0.1")
    lanes = list(stage.labels) + [None] * (len(lane_axes) - len(stage.labels))
    write_label_sets(group, lanes, lane_axes)
    names = feature_names(stage.specs, stage.input_channels, depth)
    write_forests(group.create_group("ClassifierForests"), stage.forest, names)


def write_forests(forests: h5py.Group, forest: VigraForest, feature_names: list[str] | None = None) -> None:
    """`ClassifierForests`: one vigra forest, its classes and the classifier type's name."""
    write_vigra_forest(forests.create_group("Forest0000"), forest)
    if feature_names is not None:
        forests.create_dataset("feature_names", data=[n.encode() for n in feature_names], dtype=STRING)
    forests["known_labels"] = np.asarray(forest.labels, dtype=np.uint32)
    # The class name as pickle protocol-0 text: ilastik reads the classifier type from it.
    # It is a name, not an object; pixelserve itself never unpickles it.
    forests.create_dataset("pickled_type", dtype=STRING, data=(
        b"clazyflow.classifiers.parallelVigraRfLazyflowClassifier\n"
        b"ParallelVigraRfLazyflowClassifier\np0\n."))


def write_export_settings(group: h5py.Group, settings: dict) -> None:
    values = dict(DEFAULT_EXPORT)
    values.update({k: v for k, v in settings.items() if k in EXPORT_KEYS})
    for name, value in values.items():
        if isinstance(value, str):
            write_text(group, name, value)
        else:
            group[name] = value
    write_text(group, "StorageVersion", "0.1")
