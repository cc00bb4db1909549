"""Everything a training run needs, gathered and checked before any feature is computed:
the images (lanes), and per stage the features, class names and colours and the labels.

Sources: new images and label images, and optionally an existing project (pixelserve's or
ilastik's) whose images, feature selections, names and stored labels are continued. Every
problem a user can fix is reported here as a UserError naming the cause and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..features import FeatureSpec, check_image_size
from ..io import open_dataset
from ..project.ilp import AUTOCONTEXT, PIXEL_CLASSIFICATION
from ..project.label_sets import SparseLabels
from ..project.pixel_classification import StoredProject, default_label_colors, read_stored_project
from ..project.writer import LaneRecord
from ..workflows.volume import Volume
from .feature_choice import choose_features, ordered
from .label_images import label_volume, read_sparse_labels
from .stage_labels import distribute

WORKFLOWS = {"pixel": PIXEL_CLASSIFICATION, "autocontext": AUTOCONTEXT}
STAGES = {PIXEL_CLASSIFICATION: 1, AUTOCONTEXT: 2}
DEFAULT_TREES = 100   # ilastik's default forest size
# ilastik's default label colours, in order (PixelClassification's LabelColors of new projects).


@dataclass
class PlannedLane:
    raw: Volume
    record: LaneRecord


@dataclass
class PlannedStage:
    specs: list[FeatureSpec]
    label_names: list[str]
    label_colors: np.ndarray
    pmap_colors: np.ndarray | None
    labels: list[SparseLabels]   # per lane
    # Train on out-of-sample probabilities of the previous stage (it holds the same labels).
    crossfit: bool = False


@dataclass
class TrainingPlan:
    workflow_name: str
    lanes: list[PlannedLane]
    stages: list[PlannedStage]
    trees: int
    export_settings: dict


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def build_plan(raw=None, labels=None, *, project=None, label_names=None, features=None,
               in_2d: bool | None = None, max_scale: float | None = None,
               workflow: str | None = None, stage_labels: str = "crossfit",
               seed: int | None = None, axes=None, trees: int | None = None) -> TrainingPlan:
    stored = read_stored_project(project) if project is not None else None
    workflow_name = _workflow(workflow, stored)
    n_stages = STAGES[workflow_name]
    lanes = _lanes(_as_list(raw), _as_list(axes), stored)
    new_labels = _new_labels(_as_list(labels), lanes, stored is not None)
    per_stage = distribute(new_labels, n_stages, stage_labels, seed)
    stages = []
    for index in range(n_stages):
        old = stored.stages[index] if stored else None
        stage_labels_now = []
        for lane_number, lane in enumerate(lanes):
            kept = old.labels[lane_number] if old and lane_number < len(old.labels) else None
            added = per_stage[index][lane_number]
            combined = kept.merged(added) if kept is not None and len(kept) else added
            combined.check_inside(lane.raw.shape[:4], f"Lane {lane_number} ({lane.raw.name})")
            stage_labels_now.append(combined)
        stages.append(_plan_stage(index + 1, n_stages, stage_labels_now, old, lanes,
                                  label_names, features, in_2d, max_scale))
        if index and stage_labels == "crossfit":
            stages[-1].crossfit = all(_same(a, b) for a, b in
                                      zip(stages[-2].labels, stages[-1].labels))
    if trees is None:
        stored_trees = [s.tree_count for s in (stored.stages if stored else []) if s.tree_count]
        trees = stored_trees[0] if stored_trees else DEFAULT_TREES
    if int(trees) < 1:
        raise UserError(f"--trees {trees}: a forest needs at least one tree. Fix: use e.g. 100.")
    return TrainingPlan(workflow_name=workflow_name, lanes=lanes, stages=stages,
                        trees=int(trees), export_settings=stored.export_settings if stored else {})


def _same(a: SparseLabels, b: SparseLabels) -> bool:
    return np.array_equal(a.coords, b.coords) and np.array_equal(a.values, b.values)


def _workflow(workflow: str | None, stored: StoredProject | None) -> str:
    if workflow is not None and workflow not in WORKFLOWS:
        raise UserError(f"Unknown workflow '{workflow}'. Fix: use --workflow pixel or "
                        "--workflow autocontext.")
    if stored is None:
        return WORKFLOWS[workflow or "pixel"]
    if workflow is not None and WORKFLOWS[workflow] != stored.workflow_name:
        raise UserError(f"{stored.path.name} is a '{stored.workflow_name}' project, not "
                        f"'{WORKFLOWS[workflow]}'. Fix: leave --workflow out to continue it as "
                        "it is, or start a new project without --project.")
    return stored.workflow_name


def _lanes(raw: list, axes: list, stored: StoredProject | None) -> list[PlannedLane]:
    stored_lanes = stored.lanes if stored else []
    count = max(len(raw), len(stored_lanes))
    if count == 0:
        raise UserError("No training image given. Fix: pass --raw_data IMAGE (and --labels "
                        "LABELS), or --project P.ilp to retrain a project from its labels.")
    if len(axes) > 1 and len(axes) != count:
        raise UserError(f"{len(axes)} --input_axes values for {count} images. Fix: give one "
                        "value for all images, or one per image.")
    lanes = []
    for index in range(count):
        given = raw[index] if index < len(raw) else None
        old = stored_lanes[index] if index < len(stored_lanes) else None
        lane_axes = axes[0] if len(axes) == 1 else (axes[index] if axes else None)
        lanes.append(_open_lane(index, given, old, lane_axes, stored))
    first = lanes[0].raw
    for lane in lanes[1:]:
        if lane.raw.channels != first.channels or (lane.raw.shape[1] > 1) != (first.shape[1] > 1):
            raise UserError(
                f"{lane.raw.name} has {lane.raw.channels} channel(s) and is "
                f"{'3D' if lane.raw.shape[1] > 1 else '2D'}, but {first.name} has "
                f"{first.channels} and is {'3D' if first.shape[1] > 1 else '2D'}. Fix: train one "
                "project on images of one kind (same channels, all 2D or all 3D).")
    return lanes


def _open_lane(index, given, old, axes, stored) -> PlannedLane:
    """Lane `index` from the given image, else from the project's stored path."""
    if isinstance(given, np.ndarray):
        raise UserError("Training images must be files (the project refers to them by path). "
                        "Fix: save the image, e.g. with tifffile.imwrite, and pass its path.")
    if given is not None:
        dataset = open_dataset(os.fspath(given))
        name = os.fspath(given)
    else:
        try:
            dataset = open_dataset(old.info.file_path, base_dir=str(stored.project_dir),
                                   scale=old.info.working_scale or None)
        except UserError as error:
            raise UserError(
                f"Lane {index} of {stored.path.name} reads its raw data from "
                f"'{old.info.file_path}', which cannot be opened ({error}). Fix: pass the image "
                f"with --raw_data (one per lane, in lane order; this is image {index + 1})."
            ) from None
        name = old.info.file_path
    lane_axes = axes or (old.info.axes if old is not None else dataset.axes)
    raw = Volume.from_dataset(dataset, lane_axes, name=name)
    if old is not None and given is not None and old.info.shape is not None:
        _check_same_size(raw, old.info, index, stored.path.name)
    record_axes = raw.own_axes if "c" in raw.own_axes else raw.own_axes + "c"
    record_shape = raw.own_shape + (() if "c" in raw.own_axes else (1,))
    record = LaneRecord(
        file_path=os.pathsep.join(dataset.expanded_paths or dataset.paths),
        nickname=(old.info.nickname if old is not None and given is None and old.info.nickname
                  else dataset.nickname),
        axes=record_axes, shape=record_shape,
        dataset_id=old.dataset_id if old is not None else None,
        working_scale=dataset.scale or "")
    return PlannedLane(raw=raw, record=record)


def _check_same_size(raw: Volume, info, index: int, project_name: str) -> None:
    """The stored labels were drawn on the lane's original image: a replacement must match."""
    stored = dict(zip(info.axes, info.shape))
    given = dict(zip(raw.own_axes, raw.own_shape))
    if any(stored.get(a, 1) != given.get(a, 1) for a in "tzyx"):
        raise UserError(
            f"{raw.name} has shape {raw.own_shape} (axes '{raw.own_axes}') but lane {index} of "
            f"{project_name} was {tuple(info.shape)} (axes '{info.axes}'), the image its labels "
            "were drawn on. Fix: pass that image (--raw_data, one per lane in lane order).")


def _new_labels(labels: list, lanes: list[PlannedLane], continuing: bool) -> list[SparseLabels]:
    if not labels and not continuing:
        raise UserError("No labels given. Fix: pass --labels LABELS, an image of the raw "
                        "image's size with 0 = unlabelled and 1..K = class.")
    if len(labels) > len(lanes):
        raise UserError(f"{len(labels)} label images for {len(lanes)} raw images. Fix: give one "
                        "label image per --raw_data image, in the same order.")
    result = []
    for index, lane in enumerate(lanes):
        given = labels[index] if index < len(labels) else None
        if given is None or (isinstance(given, str) and given.lower() in ("-", "none")):
            result.append(SparseLabels.empty())
            continue
        name = "labels array" if isinstance(given, np.ndarray) else os.fspath(given)
        volume = label_volume(given if isinstance(given, np.ndarray) else os.fspath(given),
                              lane.raw, name=name)
        result.append(read_sparse_labels(volume, lane.raw))
    return result


def _plan_stage(index, n_stages, labels, old, lanes, label_names, features, in_2d,
                max_scale) -> PlannedStage:
    where = f"stage {index}" if n_stages > 1 else "the classifier"
    classes = np.unique(np.concatenate([lane.values for lane in labels]))
    if classes.size == 0:
        raise UserError(
            f"There are no labelled pixels for {where}. Fix: mark some pixels of each class "
            "with its number (1, 2, ...) in --labels; 0 means unlabelled.")
    if classes.size < 2:
        raise UserError(
            f"Only class {int(classes[0])} is labelled for {where}. Fix: label at least two "
            "classes; a classifier needs something to tell apart.")
    names = _names(label_names, old, int(classes.max()))
    colors = _colors(old.label_colors if old is not None else None, len(names))
    pmap = (_colors(old.pmap_colors, len(names))
            if old is not None and old.pmap_colors is not None else None)
    depth = lanes[-1].raw.shape[1]
    flat = depth == 1 if in_2d is None else bool(in_2d) or depth == 1
    if features is None and old is not None and old.specs:
        specs = ordered(old.specs)
        if max_scale is not None:
            specs = [s for s in specs if s.scale <= max_scale] or specs
    else:
        specs = choose_features(features, in_2d=flat, max_scale=max_scale)
    for lane in lanes:
        spatial = tuple(n for n, a in zip(lane.raw.spatial_shape, "zyx")
                        if a in lane.raw.own_axes or n > 1)
        check_image_size(specs, spatial)
    return PlannedStage(specs=specs, label_names=names, label_colors=colors, pmap_colors=pmap,
                        labels=labels)


def _names(given, old, highest: int) -> list[str]:
    if given:
        names = [n.strip() for n in (given.split(",") if isinstance(given, str) else given)]
        if any(not n for n in names):
            raise UserError(f"Empty class name in {given!r}. Fix: give one name per class, "
                            "comma-separated, e.g. background,cell.")
        if highest > len(names):
            raise UserError(
                f"The labels use class {highest} but only {len(names)} names were given "
                f"({', '.join(names)}). Fix: give one name per class in --label_names, or "
                "renumber the labels 1..K.")
        return names
    names = list(old.label_names) if old is not None else []
    return names + [f"Label {k}" for k in range(len(names) + 1, highest + 1)]


def _colors(stored, count: int) -> np.ndarray:
    colors = default_label_colors(count)
    if stored is not None:
        stored = np.asarray(stored, dtype=np.int64).reshape(-1, 3)[:count]
        colors[:len(stored)] = stored
    return colors


def output_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".ilp":
        raise UserError(f"The output {path} should end in .ilp (ilastik's project files do). "
                        "Fix: e.g. --output MyProject.ilp.")
    return path
