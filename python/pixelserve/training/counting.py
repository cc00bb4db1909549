"""`pixelserve train` for Cell Density Counting.

Two ways in:
- a new project (`--workflow counting`) from images and dot label images of their size:
  1 = a dot on (near the centre of) each object in the labelled area, 2 = background, 0 =
  unlabelled. It is written in ilastik's layout (ilastik opens it and trains its own
  regressors from the labels) with pixelserve's trained regressors added, so that runs
  start predicting at once;
- an existing counting project (`--project`, ilastik's or pixelserve's): its regressors are
  trained from its stored labels and stored in a copy (`--output`), the rest of the file
  unchanged. `--raw_data` says where its training images are when the stored paths do not.

Regressors follow ilastik's recipe (`pixelserve.counting.training`): 4 x 10 trees, fixed
by ilastik, so `--trees` does not apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..blocks import default_threads
from ..counting import check_counting_input, train_counting, training_images
from ..counting.training import N_REGRESSORS, N_TREES
from ..errors import UserError
from ..features import feature_count
from ..project.counting import (
    BACKGROUND,
    COUNTING,
    DEFAULT_SIGMA,
    DOT,
    is_counting_project,
    read_counting_project,
    write_counting_regressors,
)
from ..project.writer import COUNTING_NAMES, write_counting_project
from .plan import build_plan, output_path

WORKFLOW = "counting"


@dataclass
class CountingTrainingResult:
    path: Path
    dots: int
    background: int
    seconds: float
    workflow_name: str = COUNTING

    def summary(self) -> str:
        return (f"Trained {N_REGRESSORS} regressors of {N_TREES} trees on {self.dots} dots and "
                f"{self.background} background pixels in {self.seconds:.1f} s; wrote {self.path}")


def wants_counting(workflow: str | None, project) -> bool:
    """Whether a training call is for counting: asked for, or continuing a counting project."""
    if workflow is not None:
        return workflow == WORKFLOW
    return project is not None and is_counting_project(project)


def train_counting_project(output, raw=None, labels=None, *, project=None, label_names=None,
                           features=None, max_scale: float | None = None,
                           sigma: float | None = None, trees: int | None = None,
                           seed: int | None = None, axes=None,
                           threads: int | None = None) -> CountingTrainingResult:
    """Train counting regressors and write the project (see the module docstring)."""
    started = time.monotonic()
    output = output_path(output)
    threads = threads or default_threads()
    if trees is not None:
        raise UserError(f"--trees {trees} does not apply to counting: ilastik's recipe fixes "
                        f"{N_REGRESSORS} regressors of {N_TREES} trees. Fix: drop --trees.")
    if project is not None:
        if labels is not None and any(label is not None for label in _as_list(labels)):
            raise UserError("Adding labels to an existing counting project is not supported. "
                            "Fix: add them in ilastik, or train a new project from dot label "
                            "images with --workflow counting (without --project).")
        if sigma is not None or features is not None or label_names is not None:
            raise UserError("--sigma, --features and --label_names make a new counting project; "
                            "with --project the project's own are used. Fix: drop them, or "
                            "leave out --project.")
        model = read_counting_project(project)
        regressors = train_counting(model, training_images(model, _as_list(raw)), seed=seed,
                                    threads=threads)
        path = write_counting_regressors(project, output, regressors)
        return _result(path, model.labels, started)
    if sigma is not None and not sigma > 0:
        raise UserError(f"--sigma {sigma}: the dots' smoothing must be a positive number of "
                        f"pixels. Fix: e.g. --sigma {DEFAULT_SIGMA}.")
    names = _names(label_names)
    plan = build_plan(raw, labels, features=features, in_2d=True, max_scale=max_scale,
                      axes=axes, seed=seed)
    lane_labels, specs = plan.stages[0].labels, plan.stages[0].specs
    for lane, given in zip(plan.lanes, lane_labels):
        check_counting_input(lane.raw, specs, feature_count(specs, lane.raw.channels, 1))
        unknown = np.setdiff1d(given.classes, [DOT, BACKGROUND])
        if unknown.size:
            raise UserError(f"The labels of {lane.raw.name} hold {unknown.tolist()}; counting "
                            "labels are 1 (a dot on each object) and 2 (background). Fix: "
                            "relabel them with 1 and 2 only.")
    if not any(np.any(given.values == DOT) for given in lane_labels):
        raise UserError("The labels hold no dots (1). Fix: put a 1 on each object in the "
                        "labelled areas, and 2 on some background.")
    path = write_counting_project(output, lanes=[lane.record for lane in plan.lanes],
                                  specs=specs, labels=lane_labels,
                                  sigma=DEFAULT_SIGMA if sigma is None else float(sigma),
                                  label_names=names, export_settings=plan.export_settings)
    try:
        model = read_counting_project(path)
        regressors = train_counting(model, [lane.raw for lane in plan.lanes], seed=seed,
                                    threads=threads)
        write_counting_regressors(path, path, regressors)
    except BaseException:
        path.unlink(missing_ok=True)   # no project without its regressors
        raise
    return _result(path, model.labels, started)


def _names(given) -> tuple[str, str]:
    if given is None:
        return COUNTING_NAMES
    names = [n.strip() for n in (given.split(",") if isinstance(given, str) else given)]
    if len(names) != 2 or not all(names):
        raise UserError(f"Counting has two label names (dots, background), not {given!r}. Fix: "
                        "e.g. --label_names cells,background.")
    return names[0], names[1]


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _result(path: Path, labels, started: float) -> CountingTrainingResult:
    return CountingTrainingResult(
        path=path, dots=sum(int(np.sum(lane.values == DOT)) for lane in labels),
        background=sum(int(np.sum(lane.values == BACKGROUND)) for lane in labels),
        seconds=time.monotonic() - started)
