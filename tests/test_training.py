"""The minimal trainer behind `pixelserve train` (grown further by the training issue)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from pixelserve.headless.cli import main
from pixelserve.synthetic import cells_image, scribbles


@pytest.fixture
def training_images(tmp_path):
    image, truth = cells_image((128, 128), seed=31)
    tifffile.imwrite(tmp_path / "raw.tif", image)
    tifffile.imwrite(tmp_path / "labels.tif", scribbles(truth, seed=31))
    held_out, held_out_truth = cells_image((128, 128), seed=32)
    tifffile.imwrite(tmp_path / "new.tif", held_out)
    return tmp_path, held_out_truth


def test_trained_project_predicts_held_out_pixels(training_images):
    folder, truth = training_images
    assert main(["train", "--raw_data", f"{folder}/raw.tif", "--labels", f"{folder}/labels.tif",
                 "--label_names", "background,cell", "--trees", "30", "--seed", "1",
                 "--max_scale", "3.5", "--output", f"{folder}/cells.ilp"]) == 0
    with h5py.File(folder / "cells.ilp", "r") as project:
        block = project["PixelClassification/LabelSets/labels000/block0000"]
        start_stop = [part.split(":") for part in block.attrs["blockSlice"].strip("[]").split(",")]
        assert block.ndim == 3 and block.shape == tuple(int(b) - int(a) for a, b in start_stop)
        stored = np.zeros((128, 128), np.uint8)
        (y0, y1), (x0, x1) = [(int(a), int(b)) for a, b in start_stop[:2]]
        stored[y0:y1, x0:x1] = block[..., 0]
        np.testing.assert_array_equal(stored, tifffile.imread(folder / "labels.tif"))
    assert main(["--headless", f"--project={folder}/cells.ilp", "--export_source=Simple Segmentation",
                 "--output_format=numpy", f"--output_filename_format={folder}/seg", f"{folder}/new.tif"]) == 0
    segmentation = np.load(folder / "seg.npy")[..., 0]
    assert np.mean(segmentation == truth) >= 0.95


@pytest.mark.parametrize("labels, names, expected", [
    (np.zeros((128, 128), np.uint8), None, "no labelled pixels"),
    (np.pad(np.ones((4, 4), np.uint8), ((0, 124), (0, 124))), None, "Only class 1"),
    (np.zeros((64, 64), np.uint8), None, "shape"),
    (np.pad(np.array([[1, 3]], np.uint8), ((0, 127), (0, 126))), "a,b", "only 2 names"),
])
def test_bad_training_input_is_explained(training_images, capsys, labels, names, expected):
    folder, _ = training_images
    tifffile.imwrite(folder / "bad_labels.tif", labels)
    argv = ["train", "--raw_data", f"{folder}/raw.tif", "--labels", f"{folder}/bad_labels.tif",
            "--trees", "5", "--output", f"{folder}/bad.ilp"]
    if names:
        argv += ["--label_names", names]
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
    assert not (folder / "bad.ilp").exists()
