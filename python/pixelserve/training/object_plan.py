"""What an Object Classification training run needs, gathered and checked before any object
is measured: the lanes (raw data and the segmentation source: prediction maps, a binary
segmentation or a label image), the settings (threshold, features, class names) and the
object labels (a sparse label image, a CSV of (frame, object, class), or the labels a
project stores).

The run itself (`objects.py`) segments and measures with the same code as prediction
(`workflows.object_pipeline`), so a project trained here predicts what it was trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import open_dataset
from ..objects import catalog
from ..objects.catalog import FeatureSelection
from ..objects.segmentation import ThresholdSettings
from ..project.ilp import ProjectFile
from ..project.label_sets import SparseLabels
from ..project.object_classification import (
    FROM_PREDICTION,
    SEGMENTATION_ROLE,
    BlockwiseSettings,
    ObjectClassificationProject,
    read_object_project,
)
from ..project.pixel_classification import default_label_colors
from ..project.writer import LAYOUT_VERSION, LaneRecord
from ..workflows.object_classification import check_object_inputs
from ..workflows.volume import Volume
from .label_images import label_volume, read_sparse_labels

RAW = "Raw Data"
#: The workflow of each segmentation source, by role.
VARIANTS = {role: name for name, role in SEGMENTATION_ROLE.items() if role is not None}
#: The features of `--features default`: size, intensity and shape statistics that tell most
#: kinds of objects apart, cheap to compute (no neighbourhood, no skeleton).
DEFAULT_STANDARD = ("Count", "Sum", "Mean", "Variance", "Skewness", "Kurtosis", "Minimum", "Maximum",
                    "RegionRadii")
DEFAULT_HULL = ("InputVolume", "HullVolume", "Convexity", "DefectCount", "DefectVolumeMean")
DEFAULT_MARGIN = 30
DEFAULT_TREES = 100   # opObjectClassification.py:1023


@dataclass
class ObjectLane:
    raw: Volume
    source: Volume
    records: dict[str, LaneRecord]
    labels: dict[int, dict[int, int]]   # frame -> object id -> class (1..K)
    pixel_labels: SparseLabels | None = None   # a label image's labelled pixels, (t, z, y, x)


@dataclass
class ObjectTrainingPlan:
    model: ObjectClassificationProject   # the project being written, forest still missing
    lanes: list[ObjectLane]
    trees: int
    export_settings: dict


@dataclass(frozen=True)
class ObjectTrainingSettings:
    """Settings given for a new project (a continued project keeps its own unless given)."""

    threshold: ThresholdSettings | None = None
    features: str | FeatureSelection | None = None
    margin: tuple[int, ...] | int | None = None
    label_names: list[str] | str | None = None
    trees: int | None = None


def build_object_plan(output, raw, labels, object_labels, inputs: dict[str, list], *, project=None,
                      settings: ObjectTrainingSettings, axes=None) -> ObjectTrainingPlan:
    stored = read_object_project(project) if project is not None else None
    role = _segmentation_role(inputs, stored)
    raw = list(raw or [])
    sources = list(inputs.get(role) or [])
    stored_lanes = stored.project.lanes if stored else []
    count = max(len(raw), len(sources), len(stored_lanes))
    if count == 0:
        raise UserError("No training image given. Fix: pass --raw_data IMAGE with --prediction_maps, "
                        "--segmentation_image or --label_image, or --project P.ilp to retrain a project.")
    axes = list(axes or [])
    if len(axes) > 1 and len(axes) != count:
        raise UserError(f"{len(axes)} --input_axes values for {count} images. Fix: give one value for all "
                        "images, or one per image.")
    project_dir = Path(stored.project.path).resolve().parent if stored else None
    lanes = []
    for index in range(count):
        old = stored_lanes[index] if index < len(stored_lanes) else {}
        lane_axes = axes[0] if len(axes) == 1 else (axes[index] if axes else None)
        raw_volume, raw_record = _open(index, _item(raw, index), old.get(RAW), RAW, lane_axes, project_dir)
        source, source_record = _open(index, _item(sources, index), old.get(role), role, None, project_dir,
                                      like=raw_volume)
        lanes.append(ObjectLane(raw_volume, source, {RAW: raw_record, role: source_record}, {}))
    model = _model(output, role, lanes, stored, settings)
    for lane in lanes:
        check_object_inputs(lane.raw, lane.source, role, model.threshold)
    stored_labels = stored.label_inputs if stored else ()
    for index, lane in enumerate(lanes):
        if index < len(stored_labels):
            lane.labels = {t: {int(i): int(c) for i, c in enumerate(classes) if c > 0}
                           for t, classes in stored_labels[index].items()}
    names = list(model.label_names)
    _add_new_labels(lanes, list(labels or []), list(object_labels or []), names)
    model = replace(model, label_names=tuple(names))
    trees = settings.trees or (sum(f.tree_count for f in stored.forests) if stored and stored.forests else DEFAULT_TREES)
    if int(trees) < 1:
        raise UserError(f"--trees {trees}: a forest needs at least one tree. Fix: use e.g. 100.")
    return ObjectTrainingPlan(model, lanes, int(trees), stored.export_settings if stored else {})


def _item(values: list, index: int):
    value = values[index] if index < len(values) else None
    return None if isinstance(value, str) and value.strip().lower() in ("", "-", "none") else value


def _segmentation_role(inputs: dict[str, list], stored: ObjectClassificationProject | None) -> str:
    given = [role for role, paths in inputs.items() if paths]
    unknown = [role for role in given if role not in VARIANTS]
    if unknown:
        raise UserError(f"'{unknown[0]}' is not an input of Object Classification. Fix: give prediction maps, a "
                        "segmentation image or a label image (--prediction_maps, --segmentation_image, --label_image).")
    if len(given) > 1:
        raise UserError(f"Both {given[0]} and {given[1]} were given. Fix: give the objects one way: prediction maps "
                        "(thresholded), a segmentation image or a label image.")
    if stored is not None:
        role = stored.segmentation_role
        if role is None:
            raise UserError(f"{stored.project.path.name} finds its objects with its own pixel classifier, which "
                            "'pixelserve train' does not retrain. Fix: export its Pixel Probabilities and train "
                            "a new project from them with --prediction_maps.")
        if given and given[0] != role:
            raise UserError(f"{stored.project.path.name} takes its objects from a {role.lower()}, not a "
                            f"{given[0].lower()}. Fix: pass --{role.lower().replace(' ', '_')}, or start a new "
                            "project without --project.")
        return role
    if not given:
        raise UserError("No objects given. Fix: pass --prediction_maps (thresholded into objects), "
                        "--segmentation_image (a binary or labelled segmentation) or --label_image, one per "
                        "--raw_data image.")
    return given[0]


def _open(index: int, given, old, role: str, axes: str | None, project_dir: Path | None, *,
          like: Volume | None = None) -> tuple[Volume, LaneRecord]:
    """Lane `index`'s image for `role`: the given file, else the project's stored one."""
    if isinstance(given, np.ndarray):
        raise UserError("Training images must be files (the project refers to them by path). Fix: save the "
                        "image, e.g. with tifffile.imwrite, and pass its path.")
    if given is None and old is None:
        raise UserError(f"Image {index + 1} has no {role.lower()}. Fix: give one "
                        f"--{role.lower().replace(' ', '_')} file per --raw_data file, in the same order.")
    if given is not None:
        dataset = open_dataset(os.fspath(given))
        name = os.fspath(given)
    else:
        try:
            dataset = open_dataset(old.file_path, base_dir=str(project_dir))
        except UserError as error:
            raise UserError(f"Lane {index} of the project reads its {role.lower()} from '{old.file_path}', which "
                            f"cannot be opened ({error}). Fix: pass the file with "
                            f"--{role.lower().replace(' ', '_')} (one per lane, in lane order).") from None
        name = old.file_path
    if axes is None and old is not None and len(old.axes) == len(dataset.shape) and not dataset.axes_from_file:
        axes = old.axes
    if axes is None and like is not None and not dataset.axes_from_file:
        # a segmentation without channels reads in the raw data's axes without c
        no_channel = like.own_axes.replace("c", "")
        axes = no_channel if len(no_channel) == len(dataset.shape) else None
    volume = Volume.from_dataset(dataset, axes or dataset.axes, name=name)
    record = LaneRecord(
        file_path=os.pathsep.join(dataset.expanded_paths or dataset.paths),
        nickname=(old.nickname if old is not None and given is None and old.nickname else dataset.nickname),
        axes=volume.own_axes if "c" in volume.own_axes else volume.own_axes + "c",
        shape=volume.own_shape + (() if "c" in volume.own_axes else (1,)))
    return volume, record


def _model(output, role: str, lanes: list[ObjectLane], stored: ObjectClassificationProject | None,
           settings: ObjectTrainingSettings) -> ObjectClassificationProject:
    workflow_name = VARIANTS[role]
    dims = 3 if lanes[0].raw.shape[1] > 1 else 2
    channels = lanes[0].raw.channels
    for lane in lanes[1:]:
        if lane.raw.channels != channels or (lane.raw.shape[1] > 1) != (dims == 3):
            raise UserError(f"{lane.raw.name} has {lane.raw.channels} channel(s) and is "
                            f"{'3D' if lane.raw.shape[1] > 1 else '2D'}, but {lanes[0].raw.name} has {channels} and "
                            f"is {dims}D. Fix: train one project on images of one kind.")
    threshold = None
    if workflow_name == FROM_PREDICTION:
        threshold = settings.threshold or (stored.threshold if stored else None) or ThresholdSettings()
    if settings.features is None and stored is not None and stored.features:
        features = stored.features
        if settings.margin is not None:
            features = with_margin(features, settings.margin, dims)
    else:
        features = choose_object_features(settings.features, channels, dims, settings.margin)
    names = _label_names(settings.label_names, stored)
    project = ProjectFile(path=Path(output), workflow_name=workflow_name, ilastik_version=LAYOUT_VERSION,
                          role_names=[RAW, role], lanes=[], export_defaults={})
    colors = stored.label_colors if stored is not None and len(stored.label_colors) else np.zeros((0, 3))
    return ObjectClassificationProject(
        project=project, segmentation_role=role, threshold=threshold, features=features,
        selected_features=features, label_names=tuple(names), label_colors=colors, pmap_colors=colors,
        label_inputs=(), forests=(), known_labels=np.zeros(0, dtype=np.int64),
        blockwise=stored.blockwise if stored else BlockwiseSettings(), export_group=None, export_settings={},
        table_settings=None, table_settings_ignored=False, coord_maximum_exclusive=True, pixel_stage=None)


def _label_names(given, stored) -> list[str]:
    if given:
        names = [n.strip() for n in (given.split(",") if isinstance(given, str) else given)]
        if any(not n for n in names):
            raise UserError(f"Empty class name in {given!r}. Fix: give one name per class, comma-separated, "
                            "e.g. round,elongated.")
        return names
    return list(stored.label_names) if stored is not None else []


def with_names(model: ObjectClassificationProject, highest: int, *, names_given: bool) -> ObjectClassificationProject:
    """The model with a name and a colour for every class up to `highest` ("Label k" for
    classes without a name, unless the names were given)."""
    names = list(model.label_names)
    if highest > len(names) and names_given:
        raise UserError(f"The labels use class {highest} but only {len(names)} class names are known "
                        f"({', '.join(names)}). Fix: give one name per class in --label_names.")
    names += [f"Label {k}" for k in range(len(names) + 1, highest + 1)]
    colors = default_label_colors(len(names))
    colors[:min(len(names), len(model.label_colors))] = np.asarray(model.label_colors)[:len(names)]
    return replace(model, label_names=tuple(names), label_colors=colors, pmap_colors=colors)


# ---- features ------------------------------------------------------------------------------

def choose_object_features(choice, channels: int, dims: int, margin=None) -> FeatureSelection:
    """'default', 'all', names ('Count,Mean,Convexity,Mean in neighborhood') or a selection."""
    offered = catalog.available_features(channels, dims)
    margin_xyz = _margin(margin, dims)
    if isinstance(choice, dict):
        return with_margin(choice, margin_xyz, dims) if margin is not None else choice
    text = (choice or "default").strip()
    if text.lower() == "default":
        hull = catalog.HULL_2D if dims == 2 else catalog.HULL_3D
        return {catalog.STANDARD: {name: () for name in DEFAULT_STANDARD},
                hull: {name: () for name in DEFAULT_HULL}}
    if text.lower() == "all":
        wanted = [name for names in offered.values() for name in names]
    else:
        wanted = [name.strip() for name in text.replace(";", ",").split(",") if name.strip()]
    by_name = {name: plugin for plugin, names in offered.items() for name in names}
    selection: FeatureSelection = {}
    for name in wanted:
        if name not in by_name:
            valid = ", ".join(sorted(by_name))
            raise UserError(f"'{name}' is not an object feature ilastik offers for {channels}-channel {dims}D images. "
                            f"Fix: use 'default', 'all' or names from: {valid}.")
        local = catalog.local_base(name) is not None
        selection.setdefault(by_name[name], {})[name] = margin_xyz if local else ()
    return selection


def with_margin(selection: FeatureSelection, margin, dims: int) -> FeatureSelection:
    margin_xyz = _margin(margin, dims)
    return {plugin: {name: margin_xyz if catalog.local_base(name) else value for name, value in features.items()}
            for plugin, features in selection.items()}


def _margin(margin, dims: int) -> tuple[int, ...]:
    """The neighbourhood margin in ilastik's (x, y[, z]) order."""
    if margin is None:
        return (DEFAULT_MARGIN,) * dims
    values = [int(v) for v in (str(margin).split(",") if isinstance(margin, str) else
                               (margin if isinstance(margin, (tuple, list)) else [margin]))]
    if len(values) == 1:
        values *= dims
    if len(values) != dims or min(values) < 1:
        raise UserError(f"--margin {margin}: give one neighbourhood size for all axes or one per axis (x, y"
                        f"{', z' if dims == 3 else ''}), each at least 1. Fix: e.g. --margin 30.")
    return tuple(values)


# ---- object labels -------------------------------------------------------------------------

def _add_new_labels(lanes: list[ObjectLane], labels: list, object_labels: list, names: list[str]) -> None:
    if len(labels) > len(lanes) or len(object_labels) > len(lanes):
        raise UserError(f"More label files than the {len(lanes)} training image(s). Fix: give one per "
                        "--raw_data image, in the same order ('-' for none).")
    for index, lane in enumerate(lanes):
        given = _item(labels, index)
        if given is not None:
            name = "labels array" if isinstance(given, np.ndarray) else os.fspath(given)
            volume = label_volume(given if isinstance(given, np.ndarray) else os.fspath(given), lane.raw, name=name)
            lane.pixel_labels = read_sparse_labels(volume, lane.raw)
        table = _item(object_labels, index)
        if table is not None:
            for t, objects in read_object_label_table(os.fspath(table), names).items():
                lane.labels.setdefault(t, {}).update(objects)


def read_object_label_table(path: str, names: list[str]) -> dict[int, dict[int, int]]:
    """frame -> object id -> class from a CSV of (time frame, object id, class).

    With a header, the columns are found by name: `timestep` (or `frame`, `t`),
    `labelimage_oid` (or `object`, `id`: the object's id in its frame, as the Object
    Identities image and the table's `labelimage_oid` give it) and `class` (or `label`);
    without one they are the first three columns. A class is its number (1..K) or its name;
    new names join `names`."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [row for row in csv.reader(file) if any(cell.strip() for cell in row)]
    except OSError as error:
        raise UserError(f"The object label table {path} cannot be read ({error.strerror}). Fix: check the path.") from None
    if not rows:
        raise UserError(f"The object label table {path} is empty. Fix: give one row per labelled object: "
                        "time frame, object id, class.")
    columns = (0, 1, 2)
    if not _is_number(rows[0][0]):
        header = [cell.strip().lower() for cell in rows[0]]
        columns = tuple(_column(header, options, path) for options in
                        (("timestep", "frame", "t", "time"), ("labelimage_oid", "object", "id"), ("class", "label")))
        rows = rows[1:]
    labels: dict[int, dict[int, int]] = {}
    for number, row in enumerate(rows, start=2 if columns != (0, 1, 2) else 1):
        try:
            t, object_id, value = (row[i].strip() for i in columns)
            frame, identity = int(t), int(object_id)
        except (IndexError, ValueError):
            raise UserError(f"Row {number} of {path} is not 'time frame, object id, class' ({','.join(row)}). "
                            "Fix: give whole numbers for the frame and the object id.") from None
        if frame < 0 or identity < 1:
            raise UserError(f"Row {number} of {path} names frame {frame}, object {identity}: frames count from 0 "
                            "and object ids from 1 (0 is the background). Fix: use the ids of the Object "
                            "Identities image.")
        labels.setdefault(frame, {})[identity] = _class_number(value, names, path, number)
    return labels


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column(header: list[str], options: tuple[str, ...], path: str) -> int:
    for option in options:
        if option in header:
            return header.index(option)
    hint = " (object_id is the table's running number; the id in the frame is labelimage_oid)" \
        if options[0] == "labelimage_oid" and "object_id" in header else ""
    raise UserError(f"The object label table {path} has no column '{options[0]}'{hint}. Fix: name the columns "
                    "timestep, labelimage_oid, class (or leave the header out and give them in that order).")


def _class_number(value: str, names: list[str], path: str, row: int) -> int:
    if _is_number(value):
        number = float(value)
        if number != int(number) or not 1 <= number <= 255:
            raise UserError(f"Row {row} of {path} gives class {value}; classes are 1..255 or class names. "
                            "Fix: number the classes 1, 2, ...")
        return int(number)
    if value not in names:
        names.append(value)
    return names.index(value) + 1


def objects_of_pixel_labels(coords: np.ndarray, values: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """object id -> class from labelled pixels ((z, y, x) coords) on one frame's object label
    image: an object takes the class most of its labelled pixels have (ties: the lower class);
    pixels on the background label nothing."""
    ids = labels[tuple(coords.T)].astype(np.int64)
    keep = ids > 0
    if not keep.any():
        return {}
    pairs, counts = np.unique(np.stack([ids[keep], values[keep].astype(np.int64)], axis=1), axis=0,
                              return_counts=True)
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))   # per object: most pixels, then lowest class
    pairs = pairs[order]
    first = np.concatenate([[True], pairs[1:, 0] != pairs[:-1, 0]])
    return {int(i): int(c) for i, c in pairs[first]}

