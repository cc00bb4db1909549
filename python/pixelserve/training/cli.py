"""`pixelserve train`: create, extend or retrain a Pixel Classification or Autocontext project
from images and sparse label images (0 = unlabelled, 1..K = classes), an Object
Classification project from images, their objects and object labels, or a Cell Density
Counting project from dot label images (1 = dots, 2 = background). See docs/training.md,
docs/object-classification.md and docs/counting.md."""

from __future__ import annotations

import argparse

from ..errors import UserError
from ..objects.segmentation import HYSTERESIS, SIMPLE, ThresholdSettings
from .object_plan import ObjectTrainingSettings
from .objects import OBJECT, is_object_training, train_object_project
from .stage_labels import STAGE_LABEL_MODES
from .trainer import train_project

#: Flags of Object Classification training only, with the role each input flag fills.
OBJECT_INPUTS = {"prediction_maps": "Prediction Maps", "segmentation_image": "Segmentation Image",
                 "label_image": "Label Image"}
OBJECT_SETTINGS = ("threshold", "threshold_channel", "high_threshold", "core_channel", "min_size", "max_size",
                   "smoothing", "margin")
OBJECT_FLAGS = (*OBJECT_INPUTS, "object_labels", *OBJECT_SETTINGS)
#: The flags a training request names without dashes (the server's TrainHeader.options): those
#: that set how to train, not which files to train on.
NAMED_OPTIONS = (*OBJECT_SETTINGS, "sigma", "max_scale", "stage_labels")


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
    p.add_argument("--workflow", choices=("pixel", "autocontext", OBJECT, "counting"), default=None,
                   help="pixel: Pixel Classification (default); autocontext: two stages; object: Object "
                        "Classification (see the object options below); counting: Cell Density Counting "
                        "from dot labels (1 = a dot on each object, 2 = background; see docs/counting.md).")
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
    objects = p.add_argument_group(
        "Object Classification (--workflow object)",
        "The objects of each --raw_data image come from one of --prediction_maps (thresholded), "
        "--segmentation_image (every connected region of one value is an object) or --label_image "
        "(one id per object). Objects are labelled by --labels (a label image: an object takes the class "
        "of the labelled pixels inside it) or --object_labels (a CSV of time frame, object id, class). "
        "--features: 'default', 'all' or ilastik's feature names, e.g. 'Count,Mean,Convexity'.")
    for flag, role in OBJECT_INPUTS.items():
        objects.add_argument(f"--{flag}", nargs="+", metavar="IMAGE", help=f"{role}, one per --raw_data image.")
    objects.add_argument("--object_labels", nargs="+", metavar="CSV",
                         help="Object labels, one CSV per --raw_data image ('-' for none): timestep, "
                              "labelimage_oid, class (a number or a class name).")
    objects.add_argument("--threshold", type=float, default=None,
                         help="Prediction maps: objects are pixels >= this (default 0.5).")
    objects.add_argument("--threshold_channel", type=int, default=None,
                         help="Prediction maps: the channel thresholded (default 0).")
    objects.add_argument("--high_threshold", type=float, default=None,
                         help="Prediction maps: hysteresis, keeping objects that reach this value.")
    objects.add_argument("--core_channel", type=int, default=None,
                         help="Prediction maps, hysteresis: the channel --high_threshold applies to.")
    objects.add_argument("--min_size", type=int, default=None, help="Prediction maps: smallest object (pixels).")
    objects.add_argument("--max_size", type=int, default=None, help="Prediction maps: largest object (pixels).")
    objects.add_argument("--smoothing", metavar="SIGMA",
                         help="Prediction maps: Gaussian smoothing before thresholding, one sigma or z,y,x "
                              "(default 1; below 0.1 no smoothing).")
    objects.add_argument("--margin", metavar="N",
                         help="Neighbourhood size of the '... in neighborhood' features, one value or x,y[,z] "
                              "(default 30).")
    return p


def parse_named_options(options: dict[str, str]) -> argparse.Namespace:
    """The flags of `pixelserve train` given as {name without dashes: value as typed}, checked
    as the command line checks them; every other flag has its default."""
    unknown = sorted(set(options) - set(NAMED_OPTIONS))
    if unknown:
        raise UserError(f"'{unknown[0]}' is not a training option. Fix: use one of {', '.join(NAMED_OPTIONS)}.")
    return parser().parse_args(["--output=-", *(f"--{name}={value}" for name, value in sorted(options.items()))])


def threshold_settings(options) -> ThresholdSettings | None:
    """The thresholding the flags ask for (None: none given)."""
    given = {name: getattr(options, name) for name in ("threshold", "threshold_channel", "high_threshold",
                                                       "core_channel", "min_size", "max_size", "smoothing")}
    if all(value is None for value in given.values()):
        return None
    defaults = ThresholdSettings()
    channel = defaults.channel if given["threshold_channel"] is None else given["threshold_channel"]
    sigma = defaults.sigma_zyx
    if given["smoothing"] is not None:
        try:
            values = [float(v) for v in given["smoothing"].split(",")]
        except ValueError:
            values = []
        if len(values) not in (1, 3) or min(values, default=-1) < 0:
            raise UserError(f"--smoothing {given['smoothing']}: give one sigma or three (z,y,x), each >= 0. "
                            "Fix: e.g. --smoothing 1.0.")
        sigma = tuple(values * 3 if len(values) == 1 else values)
    return ThresholdSettings(
        method=HYSTERESIS if given["high_threshold"] is not None else SIMPLE,
        channel=channel,
        core_channel=channel if given["core_channel"] is None else given["core_channel"],
        low_threshold=defaults.low_threshold if given["threshold"] is None else given["threshold"],
        high_threshold=defaults.high_threshold if given["high_threshold"] is None else given["high_threshold"],
        min_size=defaults.min_size if given["min_size"] is None else given["min_size"],
        max_size=defaults.max_size if given["max_size"] is None else given["max_size"],
        sigma_zyx=sigma)


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    if not options.raw_data and not options.project:
        raise UserError("No training image given. Fix: pass --raw_data IMAGE --labels LABELS, "
                        "or --project P.ilp to retrain a project from its stored labels.")
    if is_object_training(options.workflow, options.project):
        pixel_only = [flag for flag in ("in_2d", "max_scale", "sigma") if getattr(options, flag)]
        if pixel_only:
            raise UserError(f"--{pixel_only[0]} is not an Object Classification option. Fix: leave it out for "
                            "Object Classification.")
        result = train_object_project(
            options.output, options.raw_data, options.labels, project=options.project,
            inputs={role: getattr(options, flag) for flag, role in OBJECT_INPUTS.items() if getattr(options, flag)},
            object_labels=options.object_labels,
            settings=ObjectTrainingSettings(threshold=threshold_settings(options), features=options.features,
                                            margin=options.margin, label_names=options.label_names,
                                            trees=options.trees),
            seed=options.seed, axes=options.input_axes, threads=options.threads)
        print(result.summary())
        return 0
    given = [flag for flag in OBJECT_FLAGS if getattr(options, flag) is not None]
    if given:
        raise UserError(f"--{given[0]} is an Object Classification option. Fix: add --workflow object, or "
                        "leave it out for pixel classification.")
    result = train_project(
        options.output, options.raw_data, options.labels, project=options.project,
        label_names=options.label_names, features=options.features,
        in_2d=True if options.in_2d else None, max_scale=options.max_scale,
        trees=options.trees, seed=options.seed, workflow=options.workflow,
        stage_labels=options.stage_labels, axes=options.input_axes, threads=options.threads,
        sigma=options.sigma)
    print(result.summary())
    return 0
