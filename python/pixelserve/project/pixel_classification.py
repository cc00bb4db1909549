"""Reading the trained stages of Pixel Classification and Autocontext projects.

A Pixel Classification project has one stage; an Autocontext project has one per
`FeatureSelections`/`PixelClassification` group pair (stage k >= 2 uses the suffix k-1 as
two digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..classifiers import VigraForest, read_vigra_forest
from ..errors import ProjectError
from ..features import FeatureSpec, specs_from_selection
from .h5values import as_text, as_text_list, read_array, read_text
from .ilp import AUTOCONTEXT, PIXEL_CLASSIFICATION, DatasetInfo, ProjectFile, open_h5, read_export_group, read_project_file
from .label_sets import SparseLabels, read_label_sets

# ilastik's first label colours (ilastik/applets/labeling/labelingGui.py's default list).
DEFAULT_LABEL_COLORS = np.array([[255, 225, 25], [0, 130, 200], [230, 25, 75], [70, 240, 240],
                                 [60, 180, 75], [245, 130, 48], [145, 30, 180], [240, 50, 230]])

# ilastik < 1.3.3 computed features with vigra, whose structure tensor takes its scales in the
# opposite order to the fastfilters call ilastik has made since.
FASTFILTERS_SINCE = (1, 3, 3)


@dataclass
class StageModel:
    """Everything needed to predict one stage: features, forests and label bookkeeping."""

    index: int                       # 1-based stage number
    feature_specs: list[FeatureSpec]
    forests: list[VigraForest]
    known_labels: np.ndarray         # which label each forest output column belongs to
    label_names: list[str]
    label_colors: np.ndarray         # (K, 3) uint8-ranged ints
    pmap_colors: np.ndarray
    stored_feature_names: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.label_names)


def stage_group_names(stage_index: int) -> tuple[str, str]:
    suffix = "" if stage_index == 1 else f"{stage_index - 1:02d}"
    return f"FeatureSelections{suffix}", f"PixelClassification{suffix}"


def count_stages(file: h5py.File) -> int:
    count = 0
    while all(name in file for name in stage_group_names(count + 1)):
        count += 1
    return count


def structure_tensor_order_for(project: ProjectFile) -> str:
    return "fastfilters" if project.version_tuple() >= FASTFILTERS_SINCE else "vigra"


def read_stage(file: h5py.File, stage_index: int, project: ProjectFile) -> StageModel:
    feature_group_name, classifier_group_name = stage_group_names(stage_index)
    specs = read_feature_specs(file[feature_group_name], project.path.name)
    group = file[classifier_group_name]
    forests_group = group.get("ClassifierForests")
    where = f"{project.path.name} ({classifier_group_name})"
    if forests_group is None or not any(name.startswith("Forest") for name in forests_group):
        _refuse_pickled_classifier(forests_group, where)
        raise ProjectError(
            f"{where} has no trained classifier. Fix: open the project in ilastik, go to Training, "
            "let it train once (Live Update), and save the project."
        )
    _refuse_pickled_classifier(forests_group, where)
    forests = [read_vigra_forest(forests_group[name])
               for name in sorted(forests_group) if name.startswith("Forest")]
    label_names = as_text_list(group["LabelNames"]) if "LabelNames" in group else []
    known_labels = read_array(forests_group, "known_labels")
    if known_labels is None:
        known_labels = forests[0].labels
    known_labels = np.asarray(known_labels, dtype=np.int64).reshape(-1)
    if not label_names:
        label_names = [f"Label {label}" for label in range(1, int(known_labels.max()) + 1)]
    if known_labels.max() > len(label_names):
        raise ProjectError(
            f"{where}: the classifier knows label {int(known_labels.max())} but only "
            f"{len(label_names)} label names are stored. The project is inconsistent; "
            "retrain it in ilastik and save again."
        )
    names = read_array(forests_group, "feature_names")
    return StageModel(
        index=stage_index,
        feature_specs=specs,
        forests=forests,
        known_labels=known_labels,
        label_names=label_names,
        label_colors=_colors(group, "LabelColors", len(label_names)),
        pmap_colors=_colors(group, "PmapColors", len(label_names)),
        stored_feature_names=as_text_list(names) if names is not None else [],
    )


def _selected_specs(group: h5py.Group | None) -> list[FeatureSpec] | None:
    """The features a FeatureSelections group selects; None when it has no selection."""
    if group is None or "SelectionMatrix" not in group or "FeatureIds" not in group:
        return None
    feature_ids = as_text_list(group["FeatureIds"])
    scales = np.asarray(group["Scales"][()], dtype=np.float64)
    matrix = np.asarray(group["SelectionMatrix"][()], dtype=bool)
    # None for projects older than the ComputeIn2d switch: 2D data is filtered per slice anyway.
    return specs_from_selection(feature_ids, scales, matrix, read_array(group, "ComputeIn2d"))


def read_feature_specs(group: h5py.Group, project_name: str) -> list[FeatureSpec]:
    specs = _selected_specs(group)
    if specs is None:
        raise ProjectError(f"{project_name} has no feature selection. Fix: select features in "
                           "ilastik's Feature Selection applet and save the project.")
    if not specs:
        raise ProjectError(f"{project_name} selects no features. Fix: select features in "
                           "ilastik's Feature Selection applet and save the project.")
    return specs


def _refuse_pickled_classifier(forests_group: h5py.Group | None, where: str) -> None:
    if forests_group is None:
        return
    pickled_type = read_text(forests_group, "pickled_type", "") or ""
    if "pickled_classifier" in forests_group or "sklearn" in pickled_type.lower():
        kind = pickled_type.replace("\n", " ").strip() or "a pickled classifier"
        raise ProjectError(
            f"{where} stores its classifier as a Python pickle ({as_text(kind)[:80]}). pixelserve "
            "never unpickles project content, because a pickle can run arbitrary code. Fix: in "
            "ilastik choose the default (vigra) random forest classifier, retrain and save, or "
            "retrain with 'pixelserve train'."
        )


def default_label_colors(count: int) -> np.ndarray:
    """The first `count` of ilastik's label colours (repeated beyond its eight)."""
    return DEFAULT_LABEL_COLORS[np.arange(count) % len(DEFAULT_LABEL_COLORS)].copy()


def _colors(group: h5py.Group, name: str, count: int) -> np.ndarray:
    colors = read_array(group, name)
    if colors is None or len(colors) < count:
        return default_label_colors(count)
    return np.asarray(colors, dtype=np.int64)[:count]


# -- what retraining reads ----------------------------------------------------------------
# An existing project (pixelserve's or ilastik's) to continue: its input images, and per
# stage the feature selection, class names and colours and the stored labels. A stored
# classifier is not needed (ilastik's project without one is fine); pickled groups are ignored.

TRAINABLE_WORKFLOWS = (PIXEL_CLASSIFICATION, AUTOCONTEXT)


@dataclass
class StoredLane:
    info: DatasetInfo
    dataset_id: str | None


@dataclass
class StoredStage:
    specs: list | None            # None: the project selected no features yet
    label_names: list[str]
    label_colors: np.ndarray | None
    pmap_colors: np.ndarray | None
    labels: list[SparseLabels]    # per lane
    tree_count: int | None        # trees of the stored classifier, if any


@dataclass
class StoredProject:
    path: Path
    workflow_name: str
    lanes: list[StoredLane]
    stages: list[StoredStage]
    export_settings: dict

    @property
    def project_dir(self) -> Path:
        return self.path.resolve().parent


def read_stored_project(path) -> StoredProject:
    path = Path(path)
    with open_h5(path) as file:
        project = read_project_file(file, path)
        if project.workflow_name not in TRAINABLE_WORKFLOWS:
            raise ProjectError(
                f"{path.name} is a '{project.workflow_name}' project; 'pixelserve train' "
                "continues Pixel Classification, Autocontext, Object Classification and Cell Density "
                "Counting projects only. Fix: pass such a project with --project, or leave --project "
                "out to start a new one."
            )
        raw_role = project.role_names[0] if project.role_names else "Raw Data"
        lanes = [_stored_lane(file, index, raw_role, lane[raw_role])
                 for index, lane in enumerate(project.lanes) if raw_role in lane]
        lane_axes = [lane.info.axes for lane in lanes]
        stages = []
        index = 1
        while stage_group_names(index)[1] in file:
            stages.append(_stored_stage(file, index, lane_axes, path.name))
            index += 1
        if not stages:
            raise ProjectError(f"{path.name} has no PixelClassification group: it is not a "
                               "pixel classification project ilastik saved.")
        return StoredProject(path=path, workflow_name=project.workflow_name, lanes=lanes,
                             stages=stages, export_settings=read_export_group(file))


def _stored_lane(file: h5py.File, index: int, role: str, info: DatasetInfo) -> StoredLane:
    infos = file["Input Data/infos"]
    raw = infos[sorted(infos)[index]][role]
    return StoredLane(info=info, dataset_id=read_text(raw, "datasetId"))


def _stored_stage(file: h5py.File, index: int, lane_axes: list[str], name: str) -> StoredStage:
    features_name, classifier_name = stage_group_names(index)
    group = file[classifier_name]
    where = f"{name} ({classifier_name})"
    specs = _selected_specs(file.get(features_name))
    names = _stored_list(group, "LabelNames")
    return StoredStage(
        specs=specs or None,
        label_names=[] if names is None else as_text_list(names),
        label_colors=_stored_colors(group, "LabelColors"),
        pmap_colors=_stored_colors(group, "PmapColors"),
        labels=read_label_sets(group, lane_axes, where),
        tree_count=_tree_count(group.get("ClassifierForests")),
    )


def _stored_list(group: h5py.Group, name: str):
    """A list ilastik stored, or None: an empty list is a placeholder marked `isEmpty`."""
    if name not in group or bool(group[name].attrs.get("isEmpty", False)):
        return None
    return group[name][()]


def _stored_colors(group: h5py.Group, name: str) -> np.ndarray | None:
    colors = _stored_list(group, name)
    if colors is None or np.asarray(colors).dtype.kind not in "iuf" or np.size(colors) % 3:
        return None
    return np.asarray(colors, dtype=np.int64).reshape(-1, 3)


def _tree_count(forests: h5py.Group | None) -> int | None:
    if forests is None:
        return None
    total = 0
    for name, forest in forests.items():
        if name.startswith("Forest") and isinstance(forest, h5py.Group):
            total += sum(1 for tree in forest if not tree.startswith("_"))
    return total or None
