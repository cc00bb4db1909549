"""Blockwise computation with halos gives the whole-image result."""

from __future__ import annotations

import numpy as np

from pixelserve import open_project
from pixelserve.blocks import compute_array
from pixelserve.synthetic import cells_image
from pixelserve.workflows import LaneRequest, Volume


def test_blockwise_equals_whole_volume_in_3d(project_3d):
    project = open_project(project_3d)
    volume, _ = cells_image((37, 61, 70), seed=9)
    source = project.workflow.open_lane({"Raw Data": Volume.from_array(volume, "zyx")},
                                        LaneRequest("Probabilities")).image
    whole = source.compute((0, 0, 0, 0), source.shape)
    source.block_shape = (9, 13, 17, source.shape[-1])   # many blocks, none aligned to the halo
    blockwise = compute_array(source, threads=2)
    assert blockwise.shape == (37, 61, 70, 2)
    np.testing.assert_array_equal(blockwise, whole)


def test_features_blockwise_equal_whole_volume(project_3d):
    project = open_project(project_3d)
    volume, _ = cells_image((30, 41, 45), seed=10)
    source = project.workflow.open_lane({"Raw Data": Volume.from_array(volume, "zyx")}, LaneRequest("Features")).image
    whole = source.compute((0, 0, 0, 0), source.shape)
    source.block_shape = (7, 11, 13, source.shape[-1])
    np.testing.assert_array_equal(compute_array(source, threads=2), whole)
