"""The Python API: open a project, predict on numpy arrays (the same workflow objects the
command line, the server and the Fiji plugin run), train."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .blocks import default_threads
from .errors import UserError
from .export import ExportSettings, ResultKind, export_to_array
from .results import Result
from .workflows import LaneRequest, Volume, Workflow, load_workflow, parse_options


class Project:
    """A loaded project: what it expects and what it can export, and `predict`."""

    def __init__(self, path, *, structure_tensor_order: str | None = None, check_stored_file=None):
        self.path = Path(path)
        self.workflow: Workflow = load_workflow(self.path, structure_tensor_order=structure_tensor_order,
                                                check_stored_file=check_stored_file)

    @property
    def workflow_name(self) -> str:
        return self.workflow.workflow_name

    @property
    def input_roles(self):
        return self.workflow.input_roles

    @property
    def export_sources(self) -> list[str]:
        return self.workflow.export_sources

    @property
    def label_names(self) -> list[str]:
        return self.workflow.label_names

    @property
    def min_image_size(self) -> int:
        """Smallest image side (pixels) the project's filters accept."""
        return self.workflow.min_image_size

    @property
    def options(self):
        """The workflow's own options (names and meaning), given to `run` as `options`."""
        return self.workflow.options

    @property
    def tables(self) -> tuple[str, ...]:
        """The names of the tables `run` can give."""
        return self.workflow.table_names

    def predict(self, image: np.ndarray | None = None, axes: str | None = None, *,
                export_source: str | None = None, inputs: dict | None = None, options: dict | None = None,
                threads: int | None = None) -> np.ndarray:
        """Compute an export source for in-memory images.

        `image` with `axes` (letters of "tzyxc", e.g. "yx", "zyxc") is the raw data; other roles
        go in `inputs` as {role name: (array, axes)}; `options` are the workflow's own (see
        `options`). The result's axes are the raw axes without c, followed by c (e.g. "yx" ->
        "yxc").
        """
        return self.run(image, axes, export_source=export_source, inputs=inputs, options=options,
                        tables=False, threads=threads).array

    def run(self, image: np.ndarray | None = None, axes: str | None = None, *, export_source: str | None = None,
            inputs: dict | None = None, options: dict | None = None, tables: bool = True, image_wanted: bool = True,
            threads: int | None = None) -> Result:
        """As `predict`, returning a `Result`: the image with its axes and meaning, and with
        `tables` the workflow's tables by name (`Result.tables[name].columns` is a dict of
        columns, `.to_structured()` one structured array). `image_wanted=False` computes the
        tables only."""
        volumes = {}
        roles = dict(inputs or {})
        if image is not None:
            roles[self.workflow.input_roles[0].name] = (image, axes)
        for role, value in roles.items():
            array, role_axes = value
            if role_axes is None:
                raise UserError(f"Give the axes of the {role} array, e.g. axes='yx' or 'zyxc'.")
            volumes[role] = Volume.from_array(array, role_axes, name=f"{role} array")
        threads = threads or default_threads()
        request = LaneRequest(export_source, image=image_wanted, tables=tables,
                              options=parse_options(self.workflow.options, dict(options or {})))
        lane = self.workflow.open_lane(volumes, request, parallel_blocks=threads)
        result = Result(array=None, export_source=self.workflow.resolve_export_source(export_source))
        lane.check_gives_results(result.export_source)
        lane.prepare(threads=threads)
        if lane.image is not None:
            source = lane.image
            # The raw axes without c, then c: the result keeps the source's own order.
            result.array, result.axes, metadata = export_to_array(
                source, ExportSettings(output_axis_order=source.axes), threads=threads)
            result.shape, result.lane_wide = result.array.shape, lane.kind is ResultKind.LANE_WIDE
            result.channel_names, result.channel_colors = list(metadata.channel_names), list(metadata.channel_colors)
            result.label_colors, result.drange = list(metadata.label_colors), metadata.drange
        result.tables = {table.name: table for table in lane.tables()} if tables else {}
        return result


def open_project(path, *, structure_tensor_order: str | None = None, check_stored_file=None) -> Project:
    """Load an ilastik (or pixelserve) project file for prediction. `check_stored_file(path)
    -> path` passes every other file the project names before it is opened (e.g. training
    images a workflow retrains from) and may refuse it by raising."""
    return Project(path, structure_tensor_order=structure_tensor_order, check_stored_file=check_stored_file)


def _refuse_settings(settings: dict, what: str, fix: str) -> None:
    """A training setting the chosen workflow would ignore is a mistake to name, not to drop."""
    given = [name for name, value in settings.items() if value is not None]
    if given:
        raise UserError(f"{given[0]} is {what}. Fix: {fix}.")


def train(raw=None, labels=None, output=None, *, project=None, label_names=None,
          features=None, trees: int | None = None, seed: int | None = None,
          workflow: str | None = None, stage_labels: str = "crossfit", axes=None,
          in_2d: bool | None = None, max_scale: float | None = None,
          inputs: dict | None = None, object_labels=None, threshold=None, margin=None,
          threads: int | None = None, progress: bool | None = None,
          sigma: float | None = None) -> Project:
    """Train a Pixel Classification, Autocontext, Object Classification or Cell Density
    Counting project and write it in ilastik's layout to `output` (a path ending in .ilp);
    returns it, opened for prediction.

    raw: path(s) of the training image(s), one per lane, any format `open_dataset` reads
        (e.g. "cells.tif", "volume.h5/raw"); with `project`, replaces the stored path of the
        lane at that position.
    labels: label image(s) of the raw image's size, each a path or a numpy array
        (0 = unlabelled, 1..K = class), one per raw image (None to skip one); with `project`,
        drawn on top of the stored labels. For objects, an object takes the class of the
        labelled pixels inside it.
    project: an existing project (pixelserve's or ilastik's) to continue: its images, feature
        selection, class names and stored labels; without new labels it is retrained from
        its stored labels.
    label_names: class names (list or "a,b,c"); default the project's, else "Label k".
    features: "default" (ilastik's feature grid), "all", a selection such as
        "gaussian:0.3,1,3.5 hessian:1,3.5", or {feature: [scales]}; default the project's
        selection, else "default". `in_2d` computes 3D data per slice; `max_scale` drops
        larger scales. For objects: "default", "all", ilastik's feature names
        ("Count,Mean,Convexity") or {plugin: {feature: margin}}; `margin` sets the
        neighbourhood of "... in neighborhood" features.
    trees: forest size (default: the project's, else 100). seed: for a repeatable result.
    workflow: "pixel" (default), "autocontext" (two stages), "object" (Object
        Classification; also chosen by an Object Classification `project`) or "counting"
        (labels 1 = a dot on each object, 2 = background; `sigma` smooths the dots, default
        2.5; trained regressors are stored in the project; with `project` a counting project's
        regressors are trained from its stored labels and stored in `output`, see
        docs/counting.md). `stage_labels` says how new labels reach the stages: "crossfit"
        (default: every stage gets every label, stage 2 learns from out-of-fold stage-1
        probabilities), "copy" (every label, in-sample) or "partition" (each stage gets a
        share of the strokes); see docs/training.md.
    inputs (objects): where the objects come from, one of {"Prediction Maps": [paths]},
        {"Segmentation Image": [paths]} or {"Label Image": [paths]}, one per raw image.
    object_labels (objects): CSV path(s) of (time frame, object id, class), one per raw image.
    threshold (objects, prediction maps): a `pixelserve.objects.segmentation.ThresholdSettings`.
    axes: axes of the raw image(s), e.g. "yx" or "zyxc" (one for all or one each).
    threads: default all cores. progress: a progress bar (default: on a terminal only).

    Bad input raises `UserError` naming the cause and the fix. See docs/training.md and
    docs/object-classification.md.
    """
    from .training.objects import ObjectTrainingSettings, is_object_training, train_object_project
    from .training.trainer import train_project

    if output is None:
        raise UserError("Give the project file to write, e.g. output='MyProject.ilp'.")
    object_settings = {"inputs": inputs, "object_labels": object_labels, "threshold": threshold, "margin": margin}
    other_settings = {"in_2d": in_2d, "max_scale": max_scale, "sigma": sigma}
    if is_object_training(workflow, project):
        _refuse_settings(other_settings, "not an Object Classification setting", "leave it out")
        result = train_object_project(
            output, raw, labels, inputs=inputs, object_labels=object_labels, project=project,
            settings=ObjectTrainingSettings(threshold=threshold, features=features, margin=margin,
                                            label_names=label_names, trees=trees),
            seed=seed, axes=axes, threads=threads, progress=progress)
        return open_project(result.path)
    _refuse_settings(object_settings, "an Object Classification setting", "give workflow='object', or leave it out")
    result = train_project(output, raw, labels, project=project, label_names=label_names,
                           features=features, in_2d=in_2d, max_scale=max_scale, trees=trees,
                           seed=seed, workflow=workflow, stage_labels=stage_labels, axes=axes,
                           threads=threads, progress=progress, sigma=sigma)
    return open_project(result.path)
