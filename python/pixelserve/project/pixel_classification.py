"""Reading the trained stages of Pixel Classification and Autocontext projects.

A Pixel Classification project has one stage; an Autocontext project has one per
`FeatureSelections`/`PixelClassification` group pair (stage k >= 2 uses the suffix k-1 as
two digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from ..classifiers import VigraForest, read_vigra_forest
from ..errors import ProjectError
from ..features import FeatureSpec, specs_from_selection
from .h5values import as_text, as_text_list, read_array, read_text
from .ilp import ProjectFile

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


def read_feature_specs(group: h5py.Group, project_name: str) -> list[FeatureSpec]:
    if "SelectionMatrix" not in group or "FeatureIds" not in group:
        raise ProjectError(f"{project_name} has no feature selection. Fix: select features in "
                           "ilastik's Feature Selection applet and save the project.")
    feature_ids = as_text_list(group["FeatureIds"])
    scales = np.asarray(group["Scales"][()], dtype=np.float64)
    matrix = np.asarray(group["SelectionMatrix"][()], dtype=bool)
    # None for projects older than the ComputeIn2d switch: 2D data is filtered per slice anyway.
    compute_in_2d = read_array(group, "ComputeIn2d")
    specs = specs_from_selection(feature_ids, scales, matrix, compute_in_2d)
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


def _colors(group: h5py.Group, name: str, count: int) -> np.ndarray:
    colors = read_array(group, name)
    if colors is None or len(colors) < count:
        palette = np.array([[255, 225, 25], [0, 130, 200], [230, 25, 75], [70, 240, 240],
                            [60, 180, 75], [245, 130, 48], [145, 30, 180], [240, 50, 230]])
        return palette[np.arange(count) % len(palette)]
    return np.asarray(colors, dtype=np.int64)[:count]
