"""`pixelserve train --workflow object`: train an Object Classification project.

Per lane and time frame with labelled objects: the objects (thresholded prediction maps, a
labelled segmentation or a renumbered label image, exactly as prediction finds them), their
features (the selection, computed as ilastik does), and a random forest on the labelled
objects' feature rows (scikit-learn, converted to the vigra format ilastik stores). The project
is written in ilastik's layout with the object labels (`LabelInputs`), so ilastik and
pixelserve can continue it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..blocks import default_threads
from ..classifiers import VigraForest
from ..errors import UserError
from ..objects.classify import feature_matrix
from ..project.object_classification import is_object_project
from ..project.object_writer import ObjectProjectRecord, write_object_project
from ..workflows.object_pipeline import LaneSegmenter, ObjectPipeline
from ..workflows.volume import Box
from .object_plan import ObjectTrainingSettings, build_object_plan, objects_of_pixel_labels, with_names
from .plan import output_path
from .progress import Progress
from .trainer import fit_forest

OBJECT = "object"


@dataclass
class ObjectTrainingResult:
    path: Path
    forest: VigraForest
    objects: int        # labelled objects trained on
    classes: int
    seconds: float

    def summary(self) -> str:
        return (f"Trained {self.forest.tree_count} trees on {self.objects} labelled objects of {self.classes} "
                f"classes in {self.seconds:.1f} s; wrote {self.path}")


def is_object_training(workflow: str | None, project) -> bool:
    """Whether a training request is for Object Classification: --workflow object, or
    --project naming an Object Classification project."""
    if workflow is not None:
        return workflow == OBJECT
    return project is not None and is_object_project(project)


def train_object_project(output, raw=None, labels=None, *, inputs: dict[str, list] | None = None,
                         object_labels=None, project=None, settings: ObjectTrainingSettings | None = None,
                         seed: int | None = None, axes=None, threads: int | None = None,
                         progress=None) -> ObjectTrainingResult:
    """Train and write an Object Classification project; see `pixelserve.train`."""
    started = time.monotonic()
    output = output_path(output)
    settings = settings or ObjectTrainingSettings()
    plan = build_object_plan(output, raw, labels, object_labels, inputs or {}, project=project,
                             settings=settings, axes=axes)
    threads = threads or default_threads()
    rows, classes = [], []
    model = plan.model
    pipeline = ObjectPipeline(model, None)
    with Progress("object features", enabled=progress) as bar:
        frames = [(index, t) for index, lane in enumerate(plan.lanes) for t in range(lane.raw.time_points)]
        segmenters = [LaneSegmenter(pipeline, lane.raw, lane.source) for lane in plan.lanes]
        for step, (index, t) in enumerate(frames):
            bar.update(step, len(frames))
            lane = plan.lanes[index]
            found = _frame_rows(lane, t, segmenters[index], threads)
            if found is not None:
                rows.append(found[0])
                classes.append(found[1])
        bar.update(len(frames), len(frames))
        if not rows:
            raise UserError("No object is labelled. Fix: label objects with --labels (a label image: any labelled "
                            "pixel inside an object gives it that class) or --object_labels (a CSV of time frame, "
                            "object id, class).")
        values = np.concatenate(classes)
        model = with_names(model, int(values.max()), names_given=bool(settings.label_names))
        bar.note(f"training {plan.trees} trees on {values.size} objects")
        _, forest = fit_forest(np.concatenate(rows), values, n_trees=plan.trees, seed=seed, threads=threads)
    label_inputs = [{t: _label_array(objects) for t, objects in sorted(lane.labels.items()) if objects}
                    for lane in plan.lanes]
    record = ObjectProjectRecord(
        workflow_name=model.workflow_name, lanes=[lane.records for lane in plan.lanes], features=model.features,
        selected_features=model.selected_features, label_names=list(model.label_names),
        label_colors=model.label_colors, label_inputs=label_inputs, forest=forest, threshold=model.threshold,
        blockwise=model.blockwise, export_settings=plan.export_settings)
    path = write_object_project(output, record)
    return ObjectTrainingResult(path, forest, int(values.size), int(np.unique(values).size),
                                time.monotonic() - started)


def _frame_rows(lane, t: int, segmenter: LaneSegmenter, threads: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(feature rows, classes) of the labelled objects of frame t, None without any; the
    frame's labels in `lane.labels` become object ids -> class (a label image's pixels are
    turned into the objects they fall on)."""
    wanted = dict(lane.labels.get(t, {}))
    pixels = lane.pixel_labels
    here = pixels.coords[:, 0] == t if pixels is not None else np.zeros(0, dtype=bool)
    if not wanted and not here.any():
        return None
    whole = Box.whole(lane.raw.spatial_shape)
    objects = segmenter.objects(t, whole, threads=threads)
    if here.any():
        wanted.update(objects_of_pixel_labels(pixels.coords[here, 1:], pixels.values[here], objects.labels))
    missing = sorted(i for i in wanted if i > objects.count)
    if missing:
        raise UserError(f"Frame {t} of {lane.raw.name} has {objects.count} objects, but the labels name object "
                        f"{missing[0]}. Fix: take the ids from the Object Identities image (or the table's "
                        "labelimage_oid) of this segmentation.")
    lane.labels[t] = wanted
    if not wanted:
        return None
    model = segmenter.pipeline.model
    features = segmenter.pipeline.features(lane.raw.read(t, whole), objects, model.selected_features,
                                           threads=threads)
    ids = np.array(sorted(wanted), dtype=np.int64)
    return feature_matrix(features, model.selected_features)[ids], np.array([wanted[i] for i in ids], np.int64)


def _label_array(objects: dict[int, int]) -> np.ndarray:
    """ilastik's LabelInputs of one frame: float64 indexed by object id, 0 = unlabelled."""
    array = np.zeros(max(objects) + 1)
    for object_id, value in objects.items():
        array[object_id] = value
    return array

