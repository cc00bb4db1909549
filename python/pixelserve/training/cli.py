"""`pixelserve train`: create a Pixel Classification project from an image and its labels."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import open_dataset
from ..project.writer import TrainingImage, write_pixel_classification
from ..workflows.volume import Box, Volume
from ..features import DEFAULT_SCALES, all_features
from .trainer import DEFAULT_COLORS, labelled_samples, train_forest


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(f"{message}. Run 'pixelserve train --help'.")


def main(argv: list[str]) -> int:
    parser = _Parser(prog="pixelserve train", allow_abbrev=False,
                     description="Train a pixel classifier from a raw image and a sparse label "
                                 "image (0 = unlabelled, 1..K = classes) and write an .ilp project.")
    parser.add_argument("--raw_data", required=True, help="Raw image (any format the CLI reads).")
    parser.add_argument("--labels", required=True, help="Label image of the same size.")
    parser.add_argument("--output", required=True, help="Project file to write (.ilp).")
    parser.add_argument("--label_names", help="Class names, comma-separated (default Label 1, ...).")
    parser.add_argument("--trees", type=int, default=100, help="Number of trees (default 100).")
    parser.add_argument("--seed", type=int, default=None, help="Random seed for a repeatable result.")
    parser.add_argument("--input_axes", help="Axes of the raw image, e.g. yx or zyxc.")
    parser.add_argument("--max_scale", type=float, default=10.0,
                        help="Largest feature scale (default 10).")
    parser.add_argument("--debug", action="store_true")
    options = parser.parse_args(argv)

    raw_dataset = open_dataset(options.raw_data)
    label_dataset = open_dataset(options.labels)
    raw_axes = options.input_axes or raw_dataset.axes
    raw = Volume.from_dataset(raw_dataset, raw_axes, name=options.raw_data)
    # A label image without a channel axis is read in the raw image's spatial axes.
    spatial_axes = raw_axes.replace("c", "")
    label_axes = spatial_axes if len(label_dataset.shape) == len(spatial_axes) else label_dataset.axes
    labels = Volume.from_dataset(label_dataset, label_axes, name=options.labels)
    specs = all_features([s for s in DEFAULT_SCALES if s <= options.max_scale],
                         in_2d=raw.shape[1] == 1)
    features, values = labelled_samples(raw, labels, specs)
    names = (options.label_names.split(",") if options.label_names
             else [f"Label {k}" for k in range(1, int(values.max()) + 1)])
    if values.max() > len(names):
        raise UserError(f"The label image uses class {int(values.max())} but only {len(names)} "
                        "names were given. Fix: give one name per class in --label_names.")
    forest = train_forest(features, values, n_trees=options.trees, seed=options.seed)
    axes_with_c = raw_axes if "c" in raw_axes else raw_axes + "c"
    shape_with_c = tuple(raw_dataset.shape) + (() if "c" in raw_axes else (1,))
    label_image = labels.read(0, Box.whole(raw.spatial_shape))[..., 0] if raw.time_points == 1 else None
    training = TrainingImage(
        file_path=raw_dataset.paths[0], nickname=raw_dataset.nickname, axes=axes_with_c,
        shape=shape_with_c,
        labels=_in_axes(label_image, axes_with_c) if label_image is not None else None,
    )
    path = write_pixel_classification(
        options.output, specs=specs, forest=forest, label_names=names,
        label_colors=DEFAULT_COLORS[np.arange(len(names)) % len(DEFAULT_COLORS)],
        training=training,
    )
    print(f"Trained {options.trees} trees on {len(values)} labelled pixels of {len(names)} "
          f"classes; wrote {Path(path)}")
    return 0


def _in_axes(zyx: np.ndarray, axes: str) -> np.ndarray:
    """A (z, y, x) label image in the raw image's spatial axis order, for the project."""
    present = [a for a in "zyx" if a in axes]
    array = zyx if "z" in axes else zyx[0]
    return np.ascontiguousarray(array.transpose([present.index(a) for a in axes if a in "zyx"]))
