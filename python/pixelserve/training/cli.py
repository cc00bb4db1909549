"""`pixelserve train`: create, extend or retrain a Pixel Classification or Autocontext project
from images and sparse label images (0 = unlabelled, 1..K = classes), or a Cell Density
Counting project from dot label images (1 = dots, 2 = background). See docs/training.md and
docs/counting.md."""

from __future__ import annotations

import argparse

from ..errors import UserError
from .stage_labels import STAGE_LABEL_MODES
from .trainer import train_project


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(f"{message}. Run 'pixelserve train --help'.")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pixelserve train", allow_abbrev=False,
                description="Train a pixel classifier from raw images and sparse label images "
                            "(0 = unlabelled, 1..K = classes) and write an ilastik project (.ilp). "
                            "With --project, continue an existing project (pixelserve's or "
                            "ilastik's): add labels, or retrain from its stored labels.")
    p.add_argument("--raw_data", nargs="+", metavar="IMAGE",
                   help="Raw image(s), one per lane (any format and internal path the CLI reads). "
                        "With --project: replaces the stored path of the lane at that position; "
                        "images beyond the project's lanes add lanes.")
    p.add_argument("--labels", nargs="+", metavar="LABELS",
                   help="Label image(s) of the raw images' size, one per --raw_data image in "
                        "order ('-' for none). With --project: drawn on top of the stored labels.")
    p.add_argument("--project", metavar="P.ilp",
                   help="Existing project to continue (its images, features, names and labels).")
    p.add_argument("--output", required=True, metavar="OUT.ilp", help="Project file to write.")
    p.add_argument("--label_names", metavar="a,b,...",
                   help="Class names, comma-separated (default: the project's, or Label 1, ...).")
    p.add_argument("--features", metavar="SELECTION",
                   help="'default' (ilastik's grid of features and scales), 'all', or e.g. "
                        "'gaussian:0.3,1,3.5 hessian:1,3.5'. Default: the project's selection, "
                        "else 'default'.")
    p.add_argument("--max_scale", type=float, default=None,
                   help="Drop feature scales above this (e.g. 3.5 for small structures).")
    p.add_argument("--in_2d", action="store_true",
                   help="Compute the features of 3D data per z-slice (ilastik's 'in 2D').")
    p.add_argument("--trees", type=int, default=None,
                   help="Number of trees (default: the project's, else 100).")
    p.add_argument("--seed", type=int, default=None, help="Random seed for a repeatable result.")
    p.add_argument("--workflow", choices=("pixel", "autocontext", "counting"), default=None,
                   help="pixel: Pixel Classification (default); autocontext: two stages; "
                        "counting: Cell Density Counting from dot labels (1 = a dot on each "
                        "object, 2 = background; see docs/counting.md).")
    p.add_argument("--sigma", type=float, default=None,
                   help="Counting: the smoothing (pixels) that turns dots into a density "
                        "(default 2.5, ilastik's).")
    p.add_argument("--stage_labels", choices=STAGE_LABEL_MODES, default="crossfit",
                   help="Autocontext: every stage gets every label and stage 2 learns from "
                        "out-of-fold stage-1 probabilities (crossfit, default); every label, "
                        "in-sample (copy); or a share of the strokes each (partition).")
    p.add_argument("--input_axes", nargs="+", metavar="AXES",
                   help="Axes of the raw image(s), e.g. yx or zyxc (one for all, or one each).")
    p.add_argument("--threads", type=int, default=None, help="Threads (default: all cores).")
    p.add_argument("--debug", action="store_true")
    return p


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    if not options.raw_data and not options.project:
        raise UserError("No training image given. Fix: pass --raw_data IMAGE --labels LABELS, "
                        "or --project P.ilp to retrain a project from its stored labels.")
    result = train_project(
        options.output, options.raw_data, options.labels, project=options.project,
        label_names=options.label_names, features=options.features,
        in_2d=True if options.in_2d else None, max_scale=options.max_scale,
        trees=options.trees, seed=options.seed, workflow=options.workflow,
        stage_labels=options.stage_labels, axes=options.input_axes, threads=options.threads,
        sigma=options.sigma)
    print(result.summary())
    return 0
