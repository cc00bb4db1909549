"""Object segmentation as ilastik does it: thresholding, segmentation labelling, relabelling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from objects_fixtures import LABEL_PROJECT, PREDICTION_PROJECTS, SEGMENTATION_PROJECTS, STALE_LABEL_IMAGES, open_project
from pixelserve.errors import UserError
from pixelserve.objects.segmentation import HYSTERESIS, ThresholdSettings, label_segmentation, relabel_label_image, smooth, threshold
from pixelserve.project.ilp import open_h5
from pixelserve.project.object_classification import read_region_features, read_relabel_data, read_stored_label_image


@pytest.mark.parametrize("name", PREDICTION_PROJECTS + SEGMENTATION_PROJECTS)
def test_objects_equal_ilastiks(test_projects, name):
    """Recomputed objects equal the cached LabelImage_v2 where that is current, and are as many
    as the cached features have rows everywhere (the features test compares them in detail)."""
    project = open_project(test_projects, name)
    for t in range(project.raw.time_points):
        _, labels = project.frame(t)
        assert labels.dtype == np.uint32
        count = read_region_features(project.file, 0, t)["Default features"]["Count"].shape[0] - 1
        assert labels.max() == count
        assert np.array_equal(np.unique(labels), np.arange(count + 1))
        if name not in STALE_LABEL_IMAGES:
            assert np.array_equal(labels, read_stored_label_image(project.file, 0, t)), (name, t)


def test_label_image_project_keeps_its_objects(test_projects):
    """The 1.4 label-image fixture's input (not published) is 2d3c_wPred's object image: its
    cached relabelling is the identity, which relabel_label_image reproduces."""
    with open_h5(test_projects / LABEL_PROJECT) as file:
        cached, cached_map = read_relabel_data(file, 0, 0)
    labels, id_map = relabel_label_image(cached)
    assert np.array_equal(labels, cached)
    assert np.array_equal(id_map, cached_map)
    _, objects = open_project(test_projects, "ObjectClassification2d3c_wPred.ilp").frame(0)
    assert np.array_equal(objects, cached)


def test_segmentation_splits_by_value_with_direct_neighbours():
    segmentation = np.array([[[0, 2, 2, 0, 1],
                              [1, 0, 2, 1, 1],
                              [1, 1, 0, 0, 0],
                              [0, 0, 1, 0, 3]]], dtype=np.uint16)
    expected = np.array([[[0, 1, 1, 0, 2],
                          [3, 0, 1, 2, 2],
                          [3, 3, 0, 0, 0],
                          [0, 0, 4, 0, 5]]])   # diagonal contact joins nothing; 1s and 2s apart
    assert np.array_equal(label_segmentation(segmentation), expected)
    volume = np.zeros((3, 2, 2), dtype=bool)
    volume[0, 0, 0] = volume[1, 0, 0] = volume[2, 1, 1] = True
    assert np.array_equal(np.unique(label_segmentation(volume[..., None])), [0, 1, 2])  # 6-neighbours in 3D


def test_relabelling_keeps_split_labels_in_order_of_appearance():
    image = np.array([[[0, 7, 0, 7],
                       [5, 0, 9, 0]]], dtype=np.uint32)
    labels, id_map = relabel_label_image(image)
    assert labels.tolist() == [[[0, 1, 0, 1], [2, 0, 3, 0]]]
    assert id_map.tolist() == [[0, 0], [7, 1], [5, 2], [9, 3]]


def reference_threshold(data, settings):
    """ilastik's thresholding written again with scipy, without smoothing (sigma 0)."""
    cross = ndimage.generate_binary_structure(3, 1)

    def size_filtered(labels):
        sizes = np.bincount(labels.reshape(-1))
        bad = (sizes < settings.min_size) | (sizes > settings.max_size)
        bad[0] = True
        return np.where(bad[labels], 0, labels)

    if settings.method == HYSTERESIS:
        core_pixels = data[..., settings.core_channel] >= np.float32(settings.high_threshold)
        cores = size_filtered(ndimage.label(core_pixels, cross)[0])
        final = data[..., settings.channel] + data[..., settings.core_channel]
        candidates = ndimage.label(final >= np.float32(settings.low_threshold), cross)[0]
        keep = np.unique(candidates[cores > 0])
        labels = np.where(np.isin(candidates, keep[keep > 0]), candidates, 0)
    else:
        labels = ndimage.label(data[..., settings.channel] >= np.float32(settings.low_threshold), cross)[0]
    return size_filtered(labels)


def test_hysteresis_sums_channels_and_filters_cores():
    rng = np.random.default_rng(3)
    data = ndimage.gaussian_filter(rng.random((1, 120, 130, 2)), (0, 2, 2, 0))
    data = ((data - data.min()) / (data.max() - data.min())).astype(np.float32)
    settings = ThresholdSettings(method=HYSTERESIS, channel=1, core_channel=0, low_threshold=1.1,
                                 high_threshold=0.6, min_size=12, max_size=400, sigma_zyx=(0.0, 0.0, 0.0))
    ours = threshold(data, settings)
    reference = reference_threshold(data, settings)
    assert ours.max() == 22   # of 43 candidates (with or without a core) and 87 cores
    # same objects (as sets of pixels), numbered 1..N by first appearance
    assert np.array_equal(ours > 0, reference > 0)
    _, first = np.unique(reference[reference > 0], return_index=True)
    pixels = np.flatnonzero(reference.reshape(-1) > 0)
    order = np.argsort(first)
    assert np.array_equal(ours.reshape(-1)[pixels[first[order]]], np.arange(1, ours.max() + 1))


def test_threshold_is_inclusive_in_float32_and_size_bounds_inclusive():
    data = np.zeros((1, 6, 9, 1), dtype=np.float32)
    data[0, 1:3, 1:3, 0] = np.float32(0.7)  # 4 pixels exactly at the threshold (0.7 in float32)
    data[0, 4, 4:7, 0] = 0.9                # 3 pixels: below min_size
    settings = ThresholdSettings(low_threshold=0.7, min_size=4, max_size=4, sigma_zyx=(1.0, 0.05, 1.0))
    labels = threshold(data, settings)      # the y sigma < 0.1: no smoothing at all
    assert labels.tolist()[0][1][:4] == [0, 1, 1, 0] and labels.max() == 1


def test_smoothing_is_vigras_gaussian_with_mirror_border():
    image = np.zeros((1, 1, 11), dtype=np.float32)
    image[0, 0, 1] = 1.0
    smoothed = smooth(image, (1.0, 1.0, 1.0))   # 1 pixel high and deep: only x is smoothed
    taps = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    taps /= taps.sum()                           # radius int(2 * sigma + 0.5) = 2
    # x = -1 mirrors x = 1 (the edge pixel itself is not repeated)
    expected = [taps[1] + taps[3], taps[2] + taps[0], taps[1], taps[0]]
    assert np.allclose(smoothed[0, 0, :4], expected, atol=1e-7)
    assert smoothed.dtype == np.float32


def test_bad_inputs_say_what_to_fix():
    with pytest.raises(UserError, match="integers"):
        label_segmentation(np.zeros((1, 4, 4), dtype=np.float32))
    with pytest.raises(UserError, match="negative"):
        relabel_label_image(np.full((1, 2, 2), -1, dtype=np.int16))
    with pytest.raises(UserError, match="channel 2 but the prediction map has 2"):
        threshold(np.zeros((1, 4, 4, 2), np.float32), ThresholdSettings(channel=2))
    with pytest.raises(UserError, match="graph cut"):
        threshold(np.zeros((1, 4, 4, 2), np.float32), ThresholdSettings(method=2))


def test_empty_frames_have_no_objects():
    assert threshold(np.zeros((1, 8, 8, 2), np.float32), ThresholdSettings()).max() == 0
    assert label_segmentation(np.zeros((2, 3, 3), np.uint8)).max() == 0
    labels, id_map = relabel_label_image(np.zeros((1, 3, 3), np.uint32))
    assert labels.max() == 0 and id_map.tolist() == [[0, 0]]
