"""What retraining needs from an existing project (pixelserve's or ilastik's): its input
images, and per stage the feature selection, class names and colours and the stored labels.

A stored classifier is not needed (ilastik's project without one is fine), and nothing is
unpickled: ilastik's pickled groups are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import ProjectError
from ..features import specs_from_selection
from ..project.h5values import as_text_list, read_array, read_text
from ..project.ilp import AUTOCONTEXT, PIXEL_CLASSIFICATION, DatasetInfo, open_h5, read_export_group, read_project_file
from ..project.label_sets import SparseLabels, read_label_sets
from ..project.pixel_classification import stage_group_names

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
                "continues Pixel Classification and Autocontext projects only. Fix: pass such a "
                "project with --project, or leave --project out to start a new one."
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
    specs = None
    selection = file.get(features_name)
    if selection is not None and "SelectionMatrix" in selection and "FeatureIds" in selection:
        specs = specs_from_selection(selection["FeatureIds"][()], selection["Scales"][()],
                                     selection["SelectionMatrix"][()],
                                     read_array(selection, "ComputeIn2d"))
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
