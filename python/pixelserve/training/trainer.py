"""Training Pixel Classification and Autocontext classifiers and writing them as projects.

Stage by stage: the feature rows of the stage's labelled pixels (computed around the labels
only, see samples.py), a scikit-learn random forest on all cores, converted to the vigra
format ilastik stores. Stage k's input is the raw data followed by stage k-1's
probabilities, computed with the trained stage k-1 exactly as prediction will.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..blocks import default_threads
from ..classifiers import VigraForest, forest_from_sklearn
from ..errors import UserError
from ..features import FeatureSpec, feature_count
from ..project.pixel_classification import StageModel
from ..project.writer import LaneRecord, StageRecord, write_project
from ..workflows.stages import Stage
from .counting import CountingTrainingResult, train_counting_project, wants_counting
from .plan import TrainingPlan, build_plan, output_path
from .progress import Progress
from .samples import LaneData, labelled_rows
from .stage_labels import FOLDS, fold_of_strokes

# The structure-tensor convention of the ilastik version written into the project (1.4.1).
STRUCTURE_TENSOR_ORDER = "fastfilters"

__all__ = ["TrainedStage", "TrainingResult", "fit_forest",
           "train_project"]


@dataclass
class TrainedStage:
    """One trained stage, with the scikit-learn forest it was converted from."""

    specs: list[FeatureSpec]
    classifier: object              # sklearn.ensemble.RandomForestClassifier
    forest: VigraForest
    label_names: list[str]
    known_labels: np.ndarray
    samples: int
    input_channels: int


@dataclass
class TrainingResult:
    path: Path
    workflow_name: str
    stages: list[TrainedStage]
    lanes: list[LaneRecord]
    seconds: float

    def summary(self) -> str:
        trees = self.stages[0].forest.tree_count
        counts = [f"{s.samples} labelled pixels of {len(s.known_labels)} classes"
                  for s in self.stages]
        if len(counts) == 1:
            what = f"{trees} trees on {counts[0]}"
        else:
            what = f"{trees} trees per stage on " + "; ".join(
                f"stage {i}: {c}" for i, c in enumerate(counts, start=1))
        return f"Trained {what} in {self.seconds:.1f} s; wrote {self.path}"


def fit_forest(features: np.ndarray, labels: np.ndarray, *, n_trees: int = 100,
               seed: int | None = None, threads: int | None = None, progress=None):
    """(scikit-learn forest, its vigra conversion) trained on feature rows and label values.

    ilastik's vigra forest options, as far as scikit-learn has them: sqrt(F) features tried
    per split, bootstrap samples of the training set's size, splits until leaves are pure.
    The trees grow one per thread at a time, `progress(trees done, n_trees)` after each
    round, so that a progress function can stop the training between rounds (the server's
    cancel). Growing a warm-started forest this way gives the very forest one fit gives:
    scikit-learn draws the seeds of the trees in order (BaseForest.fit, warm_start)."""
    from sklearn.ensemble import RandomForestClassifier

    classes = np.unique(labels)
    if classes.size < 2:
        raise UserError(f"Only class {int(classes[0])} is labelled. Fix: label at least two "
                        "classes; a classifier needs something to tell apart.")
    threads = threads or default_threads()
    classifier = RandomForestClassifier(random_state=seed, n_jobs=threads, warm_start=True)
    grown = 0
    while grown < n_trees:
        grown = min(n_trees, grown + threads)
        classifier.set_params(n_estimators=grown)
        classifier.fit(features, labels)
        if progress is not None:
            progress(grown, n_trees)
    return classifier, forest_from_sklearn(classifier, labels=classes.astype(np.uint32))


def train_project(output, raw=None, labels=None, *, project=None, label_names=None,
                  features=None, in_2d: bool | None = None, max_scale: float | None = None,
                  trees: int | None = None, seed: int | None = None,
                  workflow: str | None = None, stage_labels: str = "crossfit", axes=None,
                  threads: int | None = None, progress: bool | None = None,
                  sigma: float | None = None) -> TrainingResult | CountingTrainingResult:
    """Train and write a project; see `pixelserve.train` for the arguments."""
    if wants_counting(workflow, project):
        return train_counting_project(output, raw, labels, project=project, label_names=label_names,
                                      features=features, max_scale=max_scale, sigma=sigma, trees=trees,
                                      seed=seed, axes=axes, threads=threads)
    if sigma is not None:
        raise UserError("--sigma is the dots' smoothing of counting projects. Fix: drop it, or "
                        "train with --workflow counting.")
    started = time.monotonic()
    output = output_path(output)
    plan = build_plan(raw, labels, project=project, label_names=label_names, features=features,
                      in_2d=in_2d, max_scale=max_scale, workflow=workflow,
                      stage_labels=stage_labels, seed=seed, axes=axes, trees=trees)
    threads = threads or default_threads()
    trained = train_stages(plan, seed=seed, threads=threads, progress=progress)
    records = [StageRecord(specs=t.specs, forest=t.forest, label_names=s.label_names,
                           label_colors=s.label_colors, pmap_colors=s.pmap_colors,
                           input_channels=t.input_channels, labels=s.labels)
               for t, s in zip(trained, plan.stages)]
    lanes = [lane.record for lane in plan.lanes]
    with Progress("writing the project", enabled=progress if callable(progress) else False):
        path = write_project(output, lanes=lanes, stages=records,
                             export_settings=plan.export_settings)
    return TrainingResult(path=path, workflow_name=plan.workflow_name, stages=trained,
                          lanes=lanes, seconds=time.monotonic() - started)


def train_stages(plan: TrainingPlan, *, seed: int | None, threads: int,
                 progress: bool | None = None) -> list[TrainedStage]:
    trained: list[TrainedStage] = []
    chain: list[Stage] = []
    depth = plan.lanes[-1].raw.shape[1]
    previous_rows = None
    for index, planned in enumerate(plan.stages, start=1):
        channels = _input_channels(plan, index)
        _check_feature_counts(plan, planned.specs, channels)
        lanes = [LaneData(lane.raw, labels) for lane, labels in zip(plan.lanes, planned.labels)]
        title = f"stage {index} features" if len(plan.stages) > 1 else "features"
        with Progress(title, enabled=progress) as bar:
            if planned.crossfit:
                rows, values = _crossfit_rows(plan, index, lanes, previous_rows, chain, seed,
                                              threads, bar)
            else:
                rows, values = labelled_rows(lanes, planned.specs, previous=chain,
                                             structure_tensor_order=STRUCTURE_TENSOR_ORDER,
                                             threads=threads, progress=bar.update)
            bar.note(f"training {plan.trees} trees on {len(values)} pixels")
            classifier, forest = fit_forest(rows, values.astype(np.int64), n_trees=plan.trees,
                                            seed=_seed(seed, index), threads=threads, progress=bar.update)
        previous_rows = (rows, values)
        trained.append(TrainedStage(specs=planned.specs, classifier=classifier, forest=forest,
                                    label_names=planned.label_names,
                                    known_labels=np.asarray(forest.labels), samples=len(values),
                                    input_channels=channels))
        chain.append(_stage(index, planned, forest, channels, depth))
    return trained


def _seed(seed: int | None, stage: int, fold: int | None = None) -> int | None:
    if seed is None:
        return None
    return seed + stage - 1 + (0 if fold is None else 1000 * (fold + 1))


def _input_channels(plan: TrainingPlan, index: int) -> int:
    """Stage k's input: the raw channels, then one channel per class of stage k-1."""
    previous = len(plan.stages[index - 2].label_names) if index > 1 else 0
    return plan.lanes[0].raw.channels + previous


def _stage(index: int, planned, forest: VigraForest, channels: int, depth: int) -> Stage:
    """A trained stage as prediction runs it, to compute the next stage's input."""
    model = StageModel(index=index, feature_specs=planned.specs, forests=[forest],
                       known_labels=np.asarray(forest.labels, dtype=np.int64),
                       label_names=planned.label_names, label_colors=planned.label_colors,
                       pmap_colors=planned.label_colors, stored_feature_names=[])
    return Stage(model, channels, depth, STRUCTURE_TENSOR_ORDER, "training")


def _crossfit_rows(plan, index, lanes, previous_rows, chain, seed, threads, bar):
    """Stage `index` rows computed on out-of-fold probabilities of stage index-1, which holds
    the same labels: for each fold, stage index-1 is retrained without the fold's strokes and
    computes the input of the fold's pixels (see stage_labels.py)."""
    planned, before = plan.stages[index - 1], plan.stages[index - 2]
    rows_before, values_before = previous_rows
    folds = np.concatenate(fold_of_strokes([lane.labels for lane in lanes], FOLDS, seed))
    offsets = np.cumsum([0] + [len(lane.labels) for lane in lanes])
    channels_before = _input_channels(plan, index - 1)
    depth = plan.lanes[-1].raw.shape[1]
    rows, values = None, np.concatenate([lane.labels.values for lane in lanes])
    for fold in range(FOLDS):
        inside = folds == fold
        if not inside.any():
            continue
        outside = ~inside
        if np.unique(values_before[outside]).size >= 2:
            forest = fit_forest(rows_before[outside], values_before[outside].astype(np.int64),
                                n_trees=plan.trees, seed=_seed(seed, index - 1, fold),
                                threads=threads, progress=lambda *_: bar.tick())[1]
            fold_chain = chain[:-1] + [_stage(index - 1, before, forest, channels_before, depth)]
        else:   # too few labels outside the fold to train without it: use the full stage
            fold_chain = chain
        fold_lanes = [LaneData(lane.raw, lane.labels.subset(inside[a:b]))
                      for lane, a, b in zip(lanes, offsets[:-1], offsets[1:])]
        found, _ = labelled_rows(fold_lanes, planned.specs, previous=fold_chain,
                                 structure_tensor_order=STRUCTURE_TENSOR_ORDER, threads=threads,
                                 progress=lambda done, total, f=fold: bar.update(
                                     f * total + done, FOLDS * total))
        if rows is None:
            rows = np.empty((len(values), found.shape[1]), dtype=np.float32)
        rows[inside] = found
    return rows, values


def _check_feature_counts(plan: TrainingPlan, specs, channels: int) -> None:
    counts = {feature_count(specs, channels, lane.raw.shape[1]) for lane in plan.lanes}
    if len(counts) > 1:
        raise UserError(
            "The training volumes differ so much in depth that the selected 3D features give "
            "different numbers of values per pixel. Fix: train on volumes of similar depth, or "
            "compute the features in 2D (--in_2d).")
