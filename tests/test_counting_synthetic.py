"""Counting trained from dots on generated blobs with a known count, and the project reader's
edge cases (ilastik's forced axis orders, box constraints in both historic layouts)."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from pixelserve.counting import DensityCounter, DensityPredictor, train_regressors
from pixelserve.errors import ProjectError, UserError
from pixelserve.features import all_features
from pixelserve.project.counting import (
    BoxConstraint,
    internal_axis_order,
    read_counting_project,
)
from pixelserve.project.ilp import DatasetInfo
from pixelserve.project.label_sets import SparseLabels
from pixelserve.synthetic import blobs_image, dot_labels
from pixelserve.workflows.volume import Box, Volume


@pytest.mark.parametrize("seed", [0, 1])
def test_count_of_held_out_blobs(seed):
    specs = all_features((0.7, 1.6, 3.5, 5.0))
    image, centres = blobs_image((256, 256), seed=seed)
    labels = SparseLabels.from_dense(dot_labels(centres, image.shape, seed=seed)[None, None])
    regressors = train_regressors([Volume.from_array(image, "yx")], [labels], specs,
                                  "fastfilters", seed=seed, threads=2)
    predictor = DensityPredictor(regressors, specs, "fastfilters")
    test_image, truth = blobs_image((256, 256), seed=100 + seed)
    raw = Volume.from_array(test_image, "yx")
    counter = DensityCounter((256, 256))
    for y0 in (0, 128):
        box = Box((0, 1), (y0, y0 + 128), (0, 256))
        counter.add(box.y, box.x, predictor.density(raw, box))
    assert abs(counter.total() / len(truth) - 1) <= 0.10, (counter.total(), len(truth))


def test_training_refuses_unusable_input():
    specs = all_features((1.0,))
    image, _ = blobs_image((64, 64), n_blobs=5, seed=0)
    with pytest.raises(UserError, match="no counting labels"):
        train_regressors([Volume.from_array(image, "yx")], [SparseLabels.empty()], specs,
                         "fastfilters")
    few = SparseLabels.from_pixels([[0, 0, 30, 30], [0, 0, 1, 1]], [2, 2])
    with pytest.raises(UserError, match="too few"):
        train_regressors([Volume.from_array(image, "yx")], [few], specs, "fastfilters")
    stack = np.stack([image, image])
    with pytest.raises(UserError, match="2D images"):
        train_regressors([Volume.from_array(stack, "zyx")], [few], specs, "fastfilters")


@pytest.mark.parametrize("axes, shape, expected", [
    ("yxc", (73, 187, 3), "xyc"), ("xyc", (5, 6, 1), "xyc"), ("tyx", (1, 8, 9), "xyc"),
    ("zyx", (1, 8, 9), "xyc"), ("zxc", (7, 9, 2), "xzc"), ("zyx", (7, 9, 1), "yzc"),
    ("yx", None, "xyc"),
])
def test_internal_axis_order(axes, shape, expected):
    assert internal_axis_order(DatasetInfo("f.h5", "f", axes, shape), "lane 0") == expected


@pytest.mark.parametrize("axes, shape, message", [
    ("tyx", (3, 8, 9), "time series"), ("zyxc", (4, 8, 9, 1), "2D images only")])
def test_internal_axis_order_refusals(axes, shape, message):
    with pytest.raises(ProjectError, match=message):
        internal_axis_order(DatasetInfo("f.h5", "f", axes, shape), "lane 0")


def _with_boxes(source, target, version: bytes, rois, values, empty=False):
    shutil.copyfile(source, target)
    with h5py.File(target, "a") as file:
        file["ilastikVersion"][()] = version
        for group, name, data in (("Rois/rois0000", "BoxConstraintRois", rois),
                                  ("Values/values0000", "BoxConstraintValues", values)):
            del file[f"Counting/{group}/{name}"]
            dataset = file.create_dataset(f"Counting/{group}/{name}", data=data)
            dataset.attrs["isEmpty"] = empty
    return target


def test_box_constraints_in_both_layouts(test_projects, tmp_path):
    source = test_projects / "CellDensityCounting2d3c.ilp"
    # ilastik 1.3.0 wrote (t, x, y, ., .) corners for its x-y-c image; 1.4 writes (t, z, y, x, c)
    old = _with_boxes(source, tmp_path / "old.ilp", b"1.3.0",
                      [[[0, 42, 43, 0, 0], [1, 69, 61, 1, 1]]], [3.0])
    new = _with_boxes(source, tmp_path / "new.ilp", b"1.4.0",
                      [[[0, 0, 43, 42, 0], [1, 1, 61, 69, 1]], [[0, 0, 9, 9, 0], [1, 1, 5, 5, 1]]],
                      [3.0, 1.0])
    expected = [BoxConstraint(0, (43, 61), (42, 69), 3.0)]
    assert read_counting_project(old).box_constraints == expected
    assert read_counting_project(new).box_constraints == expected   # the inverted box is skipped
    garbage = _with_boxes(source, tmp_path / "garbage.ilp", b"1.4.0", [1.0, 2.0, 3.0], [1.0])
    assert read_counting_project(garbage).box_constraints == []
    empty = _with_boxes(source, tmp_path / "empty.ilp", b"1.4.0",
                        [[[0, 0, 43, 42, 0], [1, 1, 61, 69, 1]]], [3.0], empty=True)
    assert read_counting_project(empty).box_constraints == []


def test_reader_refusals(test_projects, tmp_path):
    source = test_projects / "CellDensityCounting2d3c.ilp"
    with pytest.raises(ProjectError, match="not a Cell Density Counting project"):
        read_counting_project(test_projects / "PixelClassification2d.ilp")
    bad = tmp_path / "bad.ilp"
    shutil.copyfile(source, bad)
    with h5py.File(bad, "a") as file:
        file["Counting/Sigma"] = -1.0
        file["Counting/LabelSets/labels0/block0000"][5, 5, 0] = 3
    with pytest.raises(ProjectError, match="labels are 1 \\(dot\\) and 2"):
        read_counting_project(bad)
    with h5py.File(bad, "a") as file:
        file["Counting/LabelSets/labels0/block0000"][5, 5, 0] = 0
    with pytest.raises(ProjectError, match="Sigma -1"):
        read_counting_project(bad)
    with h5py.File(bad, "a") as file:
        file["Counting/Sigma"][()] = 4.0
    assert read_counting_project(bad).sigma == 4.0
