"""vigra's "2D Skeleton Features" (`pixelserve.objects.skeleton`): float32-exact against the values
ilastik stored in its 2018 projects, against known answers on small synthetic frames, and (when
Debian's python3-vigra is installed) against vigra itself on random frames."""

from __future__ import annotations

import math
import os
import re
import subprocess
import textwrap

import h5py
import numpy as np
import pytest
from scipy import ndimage

from conftest import fixtures_dir
from pixelserve.errors import UserError
from pixelserve.objects.skeleton import SKELETON_FEATURES, skeleton_features

SQRT2 = math.sqrt(2.0)


# --- ilastik's stored values ------------------------------------------------------------------------

def _stored_label_frames(group: h5py.Group) -> dict[int, np.ndarray]:
    """ilastik's cached label image (`LabelImage_v2/labelimage000/blockNNNN`, (t, x, y, z, c)
    blocks) as {frame: (y, x) array}."""
    frames = {}
    for block in group.values():
        t0, t1 = (int(v) for v in re.findall(r"\d+", block.attrs["blockSlice"])[:2])
        for i, t in enumerate(range(t0, t1)):
            frames[t] = block[i, :, :, 0, 0].T
    return frames


def _objects_from_segmentation(segmentation: np.ndarray) -> np.ndarray:
    """ilastik's object extraction of a segmentation frame (object-classification.md §2.2):
    4-connected components of each non-zero value, numbered by first appearance in C order."""
    objects = np.zeros(segmentation.shape, dtype=np.int64)
    count = 0
    for value in np.unique(segmentation[segmentation != 0]):
        components, n = ndimage.label(segmentation == value)
        objects[components > 0] = components[components > 0] + count
        count += n
    ids, first = np.unique(objects.ravel(), return_index=True)
    by_appearance = ids[np.argsort(first)]
    renumber = np.zeros(count + 1, dtype=np.uint32)
    renumber[by_appearance[by_appearance != 0]] = np.arange(1, count + 1)
    return renumber[objects]


def _assert_frame_matches(stored: h5py.Group, labels: np.ndarray) -> int:
    ours = skeleton_features(labels)
    assert set(stored) <= set(ours)
    for name in stored:
        reference = stored[name][()]
        assert ours[name].dtype == np.float32
        mismatched = np.nonzero((ours[name] != reference).any(axis=1))[0]
        assert mismatched.size == 0, (f"{name}: objects {mismatched.tolist()} differ, ours "
                                      f"{ours[name][mismatched].tolist()} vs ilastik {reference[mismatched].tolist()}")
    return stored["Diameter"].shape[0] - 1


# project -> where its objects come from; the 1.2.2 `_wSeg` projects other than 2d_wSeg keep a
# stale LabelImage_v2, so their objects are rebuilt from the segmentation input
OBJECT_CLASSIFICATION = {
    "ObjectClassification2d_wPred": (None, 109),
    "ObjectClassification2d3c_wPred": (None, 12),
    "ObjectClassification5t2d1c_wPred": (None, 24),
    "ObjectClassification5t2d2c_wPred": (None, 28),
    "ObjectClassification2d_wSeg": (None, 126),
    "ObjectClassification2d3c_wSeg": ("2d3c_Binary_Segmentation.h5", 17),
    "ObjectClassification5t2d1c_wSeg": ("5t2d1c_Binary_Segmentation.h5", 29),
    "ObjectClassification5t2d2c_wSeg": ("5t2d2c_Binary_Segmentation.h5", 42),
}


@pytest.mark.parametrize("project", OBJECT_CLASSIFICATION)
def test_object_classification_projects(test_projects, project):
    segmentation_file, expected_objects = OBJECT_CLASSIFICATION[project]
    with h5py.File(test_projects / f"{project}.ilp", "r") as ilp:
        features = ilp["ObjectExtraction/RegionFeatures/0000"]
        if segmentation_file is None:
            frames = _stored_label_frames(ilp["ObjectExtraction/LabelImage_v2/labelimage000"])
        else:
            with h5py.File(fixtures_dir() / "inputdata" / segmentation_file, "r") as source:
                segmentation = source["exported_data"][()][..., 0]
            segmentation = segmentation.reshape((-1,) + segmentation.shape[-2:])
            frames = {t: _objects_from_segmentation(frame) for t, frame in enumerate(segmentation)}
        checked = sum(_assert_frame_matches(features[f"[[{t}], [{t + 1}]]/2D Skeleton Features"], frames[t])
                      for t in sorted(frames))
    assert checked == expected_objects


TRACKING = {
    "TrackingwLearning5t2d1c_wBin": 29,
    "TrackingwLearning5t2d2c_wBin": 42,
    "TrackingwLearning5t2d1c_wPred": 10,
    "TrackingwLearning5t2d3c_wPred": 10,
    "TrackingwLearning5t2d_wPred": 2,
}


@pytest.mark.parametrize("project", TRACKING)
def test_tracking_projects_with_terminals(test_projects, project):
    with h5py.File(test_projects / f"{project}.ilp", "r") as ilp:
        frames = _stored_label_frames(ilp["TrackingFeatureExtraction/LabelImage_v2/labelimage000"])
        features = ilp["TrackingFeatureExtraction/RegionFeaturesVigra/0000"]
        checked = 0
        for t in sorted(frames):
            stored = features.get(f"[[{t}], [{t + 1}]]/2D Skeleton Features")
            if stored is None or stored["Diameter"].shape[0] != frames[t].max() + 1:
                continue   # frame without features, or a stale label image (5t2d_wPred frame 1)
            assert {"Terminal 1", "Terminal 2"} <= set(stored)
            checked += _assert_frame_matches(stored, frames[t])
    assert checked == TRACKING[project]


# --- known answers ----------------------------------------------------------------------------------

def _one(features: dict[str, np.ndarray], label: int = 1) -> dict[str, list[float]]:
    return {name: values[label].tolist() for name, values in features.items()}


def test_one_pixel_wide_line_splits_into_two_branches_at_its_middle():
    labels = np.zeros((12, 20), np.uint32)
    labels[5, 6:14] = 1
    result = _one(skeleton_features(labels))
    assert result["Diameter"] == result["Euclidean Diameter"] == [7.0]
    assert result["Branch Count"] == [2.0] and result["Average Length"] == [3.5] and result["Total Length"] == [7.0]
    assert result["Terminal 1"] == [13.0, 5.0] and result["Terminal 2"] == [6.0, 5.0]
    assert result["Skeleton Center"] == [9.0, 5.0]   # (x, y)
    assert result["Hole Count"] == [0.0]


def test_bar_skeleton_is_its_centre_line_with_four_corner_branches():
    labels = np.zeros((20, 40), np.uint32)
    labels[5:12, 5:35] = 1   # 7 x 30, centre line at y = 8 from x = 8 to x = 31
    result = _one(skeleton_features(labels))
    assert result["Diameter"] == [np.float32(23 + 6 * SQRT2)]         # corner, centre line, corner
    assert result["Total Length"] == [np.float32(23 + 12 * SQRT2)]     # centre line + 4 diagonals of 3 steps
    assert result["Branch Count"] == [4.0]
    assert result["Euclidean Diameter"] == [29.0]
    assert result["Terminal 1"] == [34.0, 11.0] and result["Terminal 2"] == [5.0, 11.0]
    # a higher pruning threshold keeps fewer branches (vigra 1.11.1: 2, then 1)
    assert skeleton_features(labels, 0.5)["Branch Count"][1, 0] == 2
    assert skeleton_features(labels, 1.0)["Branch Count"][1, 0] == 1


def test_holes_are_counted():
    yy, xx = np.mgrid[:30, :30]
    distance = np.hypot(yy - 15, xx - 15)
    assert skeleton_features((distance < 12).astype(np.uint8))["Hole Count"][1, 0] == 0
    assert skeleton_features(((distance < 12) & (distance > 6)).astype(np.uint8))["Hole Count"][1, 0] == 1
    square = np.zeros((30, 30), np.uint32)
    square[3:27, 3:27] = 1
    square[8:12, 8:12] = 0
    square[17:21, 17:21] = 0
    result = _one(skeleton_features(square))
    assert result["Hole Count"] == [2.0]
    assert result["Diameter"] == [np.float32(39.21320343017578)]   # vigra 1.11.1


def test_empty_frames_give_only_the_background_row():
    for labels in (np.zeros((10, 10), np.uint16), np.zeros((0, 5), np.uint32)):
        result = skeleton_features(labels)
        assert list(result) == list(SKELETON_FEATURES)
        for name, columns in SKELETON_FEATURES.items():
            assert result[name].shape == (1, columns) and not result[name].any()


def test_single_pixel_and_objects_without_skeleton():
    labels = np.zeros((7, 7), np.int32)
    labels[3, 3] = 1
    result = _one(skeleton_features(labels))
    assert result["Skeleton Center"] == result["Terminal 1"] == result["Terminal 2"] == [3.0, 3.0]
    assert result["Diameter"] == result["Total Length"] == result["Branch Count"] == [0.0]
    # an object filling the frame has no other label to measure against: no skeleton, all zero
    assert not skeleton_features(np.ones((8, 9), np.uint8))["Diameter"].any()
    # ids without pixels get zero rows
    labels = np.zeros((10, 10), np.uint32)
    labels[2:5, 2:5] = 4
    result = skeleton_features(labels)
    assert result["Diameter"].shape == (5, 1) and not result["Diameter"][:4].any()
    assert result["Diameter"][4, 0] == np.float32(2 * SQRT2)


def test_image_border_is_not_a_boundary():
    """A 5 x 16 rectangle touching the top edge gets vigra's short, odd skeleton, not the one
    it has away from the border (skeleton-features.md §5; values from vigra 1.11.1)."""
    inside = np.zeros((20, 30), np.uint32)
    inside[6:11, 5:21] = 1
    at_top = np.zeros((20, 30), np.uint32)
    at_top[0:5, 5:21] = 1
    # away from the border: centre line y = 8 from x = 7 to 18, plus a 2-step diagonal at each end
    assert skeleton_features(inside)["Diameter"][1, 0] == np.float32(11 + 4 * SQRT2)
    result = _one(skeleton_features(at_top))
    assert result["Diameter"] == [np.float32(4 * SQRT2)]
    assert result["Terminal 1"] == [20.0, 4.0] and result["Terminal 2"] == [16.0, 0.0]
    corner = np.zeros((7, 7), np.uint32)
    corner[0, 0] = 1
    assert _one(skeleton_features(corner))["Skeleton Center"] == [0.0, 0.0]


def test_touching_objects_are_boundary_for_each_other():
    both = np.zeros((20, 40), np.uint32)
    both[5:12, 5:20] = 1
    both[5:12, 20:35] = 2
    together = skeleton_features(both)
    for label in (1, 2):
        alone = skeleton_features(np.where(both == label, both, 0))
        for name in SKELETON_FEATURES:
            assert np.array_equal(together[name][label], alone[name][label]), name


def test_bad_input_is_refused_with_a_fix():
    with pytest.raises(UserError, match="2D frame"):
        skeleton_features(np.zeros((2, 5, 5), np.uint32))
    with pytest.raises(UserError, match="integer label image"):
        skeleton_features(np.zeros((5, 5), np.float32))
    with pytest.raises(UserError, match="between 0 and"):
        skeleton_features(np.full((5, 5), -1, np.int32))


# --- vigra itself, where Debian's python3-vigra (1.11.1, as in ilastik 1.2-1.3) is installed ---------

VIGRA_PYTHON = os.environ.get("PIXELSERVE_VIGRA_PYTHON", "/usr/bin/python3")
_ORACLE = textwrap.dedent("""
    import sys, numpy as np, vigra
    frames = np.load(sys.argv[1])
    out = {}
    for key in frames.files:
        result = vigra.analysis.extractSkeletonFeatures(np.ascontiguousarray(frames[key].T))   # axis 0 = x
        out.update({f"{key}|{name}": np.asarray(value) for name, value in result.items()})
    np.savez(sys.argv[2], **out)
""")


def _random_frame(rng: np.random.Generator) -> np.ndarray:
    """Blobs of random size and density, split into touching objects, with holes punched in."""
    height, width = rng.integers(2, 80, size=2)
    smooth = ndimage.gaussian_filter(rng.standard_normal((height, width)), rng.uniform(1, 5))
    foreground = smooth > rng.uniform(-0.5, 0.8) * smooth.std()
    seeds = np.zeros((height, width), np.uint32)
    count = int(rng.integers(1, 12))
    seeds[rng.integers(0, height, count), rng.integers(0, width, count)] = np.arange(1, count + 1)
    nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)[1]
    labels = np.where(foreground, seeds[nearest[0], nearest[1]], 0)
    labels[rng.random((height, width)) < 0.03] = 0
    return labels.astype(np.uint32)


def test_random_frames_match_vigra(tmp_path):
    try:
        subprocess.run([VIGRA_PYTHON, "-c", "import vigra"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"no vigra at {VIGRA_PYTHON} (apt-get install python3-vigra, or set PIXELSERVE_VIGRA_PYTHON)")
    rng = np.random.default_rng(7)
    frames = {f"f{i}": _random_frame(rng) for i in range(300)}
    np.savez(tmp_path / "frames.npz", **frames)
    (tmp_path / "oracle.py").write_text(_ORACLE)
    subprocess.run([VIGRA_PYTHON, tmp_path / "oracle.py", tmp_path / "frames.npz", tmp_path / "vigra.npz"],
                   check=True, timeout=300)
    with np.load(tmp_path / "vigra.npz") as vigra_results:
        for key, labels in frames.items():
            ours = skeleton_features(labels)
            for name in SKELETON_FEATURES:
                expected = vigra_results[f"{key}|{name}"].astype(np.float32).reshape(ours[name].shape)
                expected[0] = 0   # ilastik zeroes the background row
                assert np.array_equal(ours[name], expected), (key, name)
