"""Superpixels (DT Watershed) against ilastik's: the 2022 GUI-test reference and the superpixels
cached in the 2018 fixture projects."""

from __future__ import annotations

import numpy as np
import pytest

from multicut_helpers import (
    LEGACY_PROJECTS,
    REFERENCE_WATERSHED,
    legacy_inputs,
    legacy_project,
    mean_segmentation_accuracy,
    read_h5,
    reference_inputs,
)
from pixelserve.errors import UserError
from pixelserve.multicut import _grid_kernels as kernels
from pixelserve.multicut.superpixels import (
    LegacyWatershedSettings,
    WatershedSettings,
    boundary_map,
    legacy_superpixels,
    superpixels,
    whole_image_bytes,
)


@pytest.mark.parametrize("blockwise", [False, True])
def test_superpixels_reach_ilastiks_bar_on_the_reference(multicut_reference, blockwise):
    _, probabilities = reference_inputs()
    reference = read_h5(multicut_reference / "superpixels.h5")[..., 0]
    settings = WatershedSettings(**REFERENCE_WATERSHED, blockwise=blockwise)
    labels = superpixels(boundary_map(probabilities, settings.channels), settings)
    assert labels.dtype == np.uint32 and labels.shape == reference.shape
    assert np.unique(labels).size == np.unique(reference).size == 18
    # ilastik's own cross-platform bar (testEdgeTrainingWithMulticutGui.py); ties in the
    # synthetic data's height map decide ~2 % of the voxels.
    assert mean_segmentation_accuracy(labels, reference) > 0.97


def test_non_blockwise_labels_are_the_seed_numbers_as_ilastik_has_them(multicut_reference):
    _, probabilities = reference_inputs()
    reference = read_h5(multicut_reference / "superpixels.h5")[..., 0]
    settings = WatershedSettings(**REFERENCE_WATERSHED, blockwise=False)
    labels = superpixels(boundary_map(probabilities, settings.channels), settings)
    # Same label values, not only the same partition: 98 % of the voxels carry ilastik's label.
    assert np.mean(labels == reference) > 0.98


@pytest.mark.parametrize("name", LEGACY_PROJECTS)
def test_legacy_watershed_reproduces_the_stored_superpixels_exactly(test_projects, name):
    model, stored, _ = legacy_project(test_projects, name)
    assert isinstance(model.watershed, LegacyWatershedSettings)
    _, probabilities = legacy_inputs(name)
    labels = legacy_superpixels(boundary_map(probabilities, model.watershed.channels),
                                model.watershed)
    np.testing.assert_array_equal(labels, stored)


def test_blockwise_mode_relabels_each_block_and_offsets_the_next():
    rng = np.random.default_rng(0)
    boundary = rng.random((6, 270, 270)).astype(np.float32)
    settings = WatershedSettings(threshold=0.9, min_size=5, sigma=1.0, alpha=0.5)
    labels = superpixels(boundary, settings)
    # 128^3 blocks: the y and x axes are split in three, 9 blocks in C order.
    edges = [(0, 128), (128, 256), (256, 270)]
    previous_max = 0
    for y in edges:
        for x in edges:
            block = labels[:, y[0]:y[1], x[0]:x[1]]
            values = np.unique(block)
            assert values[0] == previous_max + 1
            np.testing.assert_array_equal(values, np.arange(values[0], values[-1] + 1))
            previous_max = int(values[-1])


def test_whole_image_watershed_refuses_an_image_beyond_the_memory_budget():
    settings = WatershedSettings(blockwise=False)
    boundary = np.zeros((64, 64, 64), dtype=np.float32)
    with pytest.raises(UserError, match=r"GiB"):
        superpixels(boundary, settings, memory_budget=whole_image_bytes(boundary.shape) - 1)
    assert superpixels(boundary, settings, memory_budget=whole_image_bytes(boundary.shape)).max() == 1


def test_boundary_map_sums_the_selected_channels_and_inverts_on_request():
    probabilities = np.random.default_rng(1).random((4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(boundary_map(probabilities, [2, 0]),
                                  probabilities[..., 0] + probabilities[..., 2])
    np.testing.assert_array_equal(boundary_map(probabilities, [1], invert=True),
                                  1 - probabilities[..., 1])
    with pytest.raises(UserError, match="channel"):
        boundary_map(probabilities, [3])
    with pytest.raises(UserError, match="channel"):
        boundary_map(probabilities, [])


def test_vigra_local_maxima_keep_plateaus_and_use_6_neighbours_in_3d():
    values = np.zeros((3, 3, 3), dtype=np.float32)
    values[1, 1, 1] = 2
    values[0, 0, 0] = 1            # only diagonal to the peak: a maximum in the 6-neighbourhood
    values[2, 2, 1:3] = 1          # a plateau of two pixels
    mask = kernels.local_maxima(values, kernels.DIRECT_3D)
    assert mask[1, 1, 1] and mask[0, 0, 0] and mask[2, 2, 1] and mask[2, 2, 2]
    assert mask.sum() == 4


def test_vigra_watershed_labels_pixels_in_queue_order():
    # A flat height map: every pixel has the same priority, so the queue order decides; the
    # seed scanned first in vigra's order (first axis fastest) is popped first.
    heights = np.zeros((1, 1, 5), dtype=np.float32)
    seeds = np.array([[[1, 0, 0, 0, 2]]], dtype=np.uint32)
    kernels.seeded_watershed(heights, seeds)
    np.testing.assert_array_equal(seeds.reshape(-1), [1, 1, 1, 2, 2])
