"""pixelserve.features: kernels, every feature against the plain scipy reference, 2D/3D
selection, channel order, structure tensor orders, blockwise == whole image, and feature
names against the names ilastik stored in real projects."""

from __future__ import annotations

import json
import math
import os

import h5py
import numpy as np
import pytest
from scipy import ndimage

from conftest import fixtures_dir
from pixelserve.errors import UserError
from pixelserve.features import (
    FEATURE_IDS,
    FeatureSpec,
    all_features,
    check_image_size,
    compute_features,
    feature_count,
    feature_names,
    halo,
    halo_zyx,
    minimum_size,
    specs_from_selection,
)
from pixelserve.features.kernels import gaussian_kernel, kernel_radius
from pixelserve.features.reference import reference_features
from pixelserve.features.spec import filter_in_2d


def make_image(shape, channels=1, seed=0, scale=255.0) -> np.ndarray:
    """Blobs, a ramp and noise: structure at every scale, values 0..scale, (z, y, x, c)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    result = np.empty(tuple(shape) + (channels,))
    for c in range(channels):
        value = 0.2 * grids[-1] / shape[-1]
        for _ in range(6):
            centre = [rng.uniform(0, n) for n in shape]
            width = rng.uniform(2, 8)
            value += np.exp(-sum((g - m) ** 2 for g, m in zip(grids, centre)) / (2 * width**2))
        value += 0.3 * rng.random(shape)
        result[..., c] = value
    result -= result.min()
    return (result / result.max() * scale).astype(np.float32)


def assert_close(fast: np.ndarray, reference: np.ndarray, image: np.ndarray, names=None):
    """Equal within float32 rounding: 1e-4 of each feature's range, plus float32 noise of
    the (pre-smoothed) image values, which both implementations carry."""
    assert fast.shape == reference.shape and fast.dtype == np.float32
    flat_fast = fast.reshape(-1, fast.shape[-1]).astype(np.float64)
    flat_ref = reference.reshape(-1, reference.shape[-1]).astype(np.float64)
    span = flat_ref.max(axis=0) - flat_ref.min(axis=0)
    error = np.abs(flat_fast - flat_ref).max(axis=0)
    tolerance = 1e-4 * span + 2e-6 * float(np.abs(image).max())
    bad = np.nonzero(error > tolerance)[0]
    labels = names or [str(i) for i in range(fast.shape[-1])]
    assert bad.size == 0, [(labels[i], float(error[i]), float(span[i])) for i in bad]


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("window", [2.0, 3.5])
@pytest.mark.parametrize("sigma", [0.3, 0.5, 0.7, 1.0, 1.249, 3.354, 9.95])
def test_kernels_behave_like_the_operators_they_sample(sigma, window):
    radius = math.floor(window * sigma + 0.5)
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    smooth = gaussian_kernel(sigma, 0, window)
    assert kernel_radius(sigma, window) == radius and smooth.shape == (2 * radius + 1,)
    assert smooth.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(smooth, smooth[::-1]) and np.all(smooth > 0)
    first = gaussian_kernel(sigma, 1, window)
    assert first.sum() == pytest.approx(0.0, abs=1e-12)
    assert np.sum(first * k) == pytest.approx(1.0, abs=1e-12)  # slope 1 on a ramp
    second = gaussian_kernel(sigma, 2, window)
    assert second.sum() == pytest.approx(0.0, abs=1e-12)  # DC removed
    assert np.sum(second * k * k / 2) == pytest.approx(1.0, abs=1e-12)  # d2/dx2 (x^2/2) = 1
    assert np.sum(second * k) == pytest.approx(0.0, abs=1e-12)
    # sampled Gaussian, not scipy's truncated continuous one
    assert smooth[radius + 1] / smooth[radius] == pytest.approx(math.exp(-0.5 / sigma**2))


def test_derivative_too_narrow_to_sample_is_refused():
    image = make_image((1, 40, 40))
    with pytest.raises(UserError, match="too small to sample"):
        compute_features(image, [FeatureSpec("StructureTensorEigenvalues", 0.3, True)])
    compute_features(
        image, [FeatureSpec("StructureTensorEigenvalues", 0.3, True)], structure_tensor_order="vigra"
    )
    compute_features(image, [FeatureSpec("LaplacianOfGaussian", 0.3, True)])


# --------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize("order", ["fastfilters", "vigra"])
def test_2d_features_match_reference(order):
    image = make_image((1, 90, 101), channels=1, seed=1)
    specs = all_features(in_2d=True)
    fast = compute_features(image, specs, structure_tensor_order=order)
    assert fast.flags.c_contiguous and fast.shape == (1, 90, 101, feature_count(specs, 1, 1)) == (
        1,
        90,
        101,
        49,
    )
    reference = reference_features(image, specs, structure_tensor_order=order)
    assert_close(fast, reference, image, feature_names(specs, 1, 1))


def test_3d_features_match_reference():
    image = make_image((38, 40, 42), channels=1, seed=2)
    specs = all_features(in_2d=False)
    fast = compute_features(image, specs)
    assert fast.shape[-1] == feature_count(specs, 1, 38) == 61  # 3 eigenvalues per tensor
    assert_close(fast, reference_features(image, specs), image, feature_names(specs, 1, 38))


def test_in_2d_filters_each_slice_alone():
    volume = make_image((5, 48, 52), channels=2, seed=3)
    specs = all_features(in_2d=True, scales=(0.7, 1.6, 5.0))
    per_slice = np.concatenate([compute_features(volume[z : z + 1], specs) for z in range(5)])
    assert np.array_equal(compute_features(volume, specs), per_slice)
    assert feature_count(specs, 2, 5) == feature_count(specs, 2, 1)


def test_mixed_2d_and_3d_scales_match_reference():
    image = make_image((20, 36, 40), channels=1, seed=4)
    specs = [FeatureSpec(fid, s, s == 1.6) for fid in FEATURE_IDS for s in (0.7, 1.6, 3.5)]
    fast = compute_features(image, specs)
    counts = [2 if s.in_2d else 3 for s in specs if "Eigen" in s.feature_id]
    assert fast.shape[-1] == 4 * 3 + sum(counts)
    assert_close(fast, reference_features(image, specs), image)


def test_depth_decides_2d_or_3d():
    spec = FeatureSpec("HessianOfGaussianEigenvalues", 0.7, False)
    assert filter_in_2d(spec, 1)
    assert filter_in_2d(spec, 2)  # ceil(2 * 0.7) + 1 > 2: ilastik filters thin volumes per slice
    assert not filter_in_2d(spec, 3)
    assert feature_count([spec], 1, 1) == 2 and feature_count([spec], 1, 3) == 3
    # A block of a deep volume is filtered in 3D even when the block itself is thin.
    volume = make_image((12, 30, 30), seed=5)
    whole = compute_features(volume, [spec])
    block = compute_features(volume[:5], [spec], depth=12, interior=(slice(0, 2), slice(None), slice(None)))
    assert block.shape[-1] == 3 and np.array_equal(block, whole[:2])
    # depth 1: 2D even without the flag (projects older than ComputeIn2d)
    image = make_image((1, 40, 40), seed=6)
    assert np.array_equal(
        compute_features(image, [spec]), compute_features(image, [FeatureSpec(spec.feature_id, 0.7, True)])
    )


def test_channels_are_ordered_per_feature_then_channel_then_subchannel():
    image = make_image((1, 40, 44), channels=3, seed=7)
    specs = [
        FeatureSpec("GaussianSmoothing", 1.0, True),
        FeatureSpec("HessianOfGaussianEigenvalues", 1.0, True),
    ]
    joint = compute_features(image, specs)
    single = [compute_features(image[..., c : c + 1], specs) for c in range(3)]
    expected = np.concatenate(
        [single[c][..., 0:1] for c in range(3)] + [single[c][..., 1:3] for c in range(3)], axis=-1
    )
    assert np.array_equal(joint, expected)
    assert feature_names(specs, 3, 1)[3:5] == [
        "Hessian of Gaussian Eigenvalues (σ=1.0) in 2D [0]",
        "Hessian of Gaussian Eigenvalues (σ=1.0) in 2D [1]",
    ]
    hessian = joint[..., 3:]
    assert np.all(hessian[..., 0::2] >= hessian[..., 1::2])  # descending per channel


def _explicit_structure_tensor(image2d, scale, gradient_sigma, tensor_sigma):
    """Structure tensor eigenvalues written out with scipy, for one 2D channel."""
    pre = math.sqrt(scale**2 - 1) if scale > 1 else scale

    def smooth(a, sigma, order_y, order_x, window):
        a = ndimage.correlate1d(a, gaussian_kernel(sigma, order_y, window), axis=0, mode="mirror")
        return ndimage.correlate1d(a, gaussian_kernel(sigma, order_x, window), axis=1, mode="mirror")

    p = smooth(image2d.astype(np.float64), pre, 0, 0, 3.5)
    gy, gx = smooth(p, gradient_sigma, 1, 0, 2.0), smooth(p, gradient_sigma, 0, 1, 2.0)
    tyy, txy, txx = (smooth(v, tensor_sigma, 0, 0, 2.0) for v in (gy * gy, gx * gy, gx * gx))
    mean, spread = (tyy + txx) / 2, np.sqrt(((tyy - txx) / 2) ** 2 + txy**2)
    return np.stack([mean + spread, mean - spread], axis=-1)


def test_structure_tensor_scale_orders():
    image = make_image((1, 60, 64), seed=8)
    spec = [FeatureSpec("StructureTensorEigenvalues", 1.6, True)]
    fast_ff = compute_features(image, spec)[0]
    fast_vigra = compute_features(image, spec, structure_tensor_order="vigra")[0]
    # fastfilters era: gradient at s'/2, tensor smoothed at s'; vigra era: the other way round
    assert_close(
        fast_ff, _explicit_structure_tensor(image[0, ..., 0], 1.6, 0.5, 1.0).astype(np.float32), image
    )
    assert_close(
        fast_vigra, _explicit_structure_tensor(image[0, ..., 0], 1.6, 1.0, 0.5).astype(np.float32), image
    )
    assert np.abs(fast_ff - fast_vigra).max() > 0.05 * np.ptp(fast_ff)


def test_input_is_cast_not_rescaled():
    image = make_image((1, 40, 40), seed=9)
    specs = all_features(in_2d=True, scales=(0.3, 1.0))
    as_float = compute_features(np.round(image), specs)
    assert np.array_equal(compute_features(np.round(image).astype(np.uint8), specs), as_float)
    assert np.array_equal(compute_features(np.round(image).astype(np.float64), specs), as_float)
    assert compute_features(np.round(image).astype(np.uint8), specs)[..., 0].max() > 100


# --------------------------------------------------------------------------- blocks


def _blockwise(volume, specs, block, depth=None):
    depth = volume.shape[0] if depth is None else depth
    context = halo_zyx(specs, depth)
    out = np.empty(volume.shape[:3] + (feature_count(specs, volume.shape[3], depth),), dtype=np.float32)
    for z in range(0, volume.shape[0], block[0]):
        for y in range(0, volume.shape[1], block[1]):
            for x in range(0, volume.shape[2], block[2]):
                inner = [
                    (z, min(z + block[0], volume.shape[0])),
                    (y, min(y + block[1], volume.shape[1])),
                    (x, min(x + block[2], volume.shape[2])),
                ]
                padded = [
                    (max(0, a - h), min(n, b + h)) for (a, b), h, n in zip(inner, context, volume.shape)
                ]
                data = volume[tuple(slice(a, b) for a, b in padded)]
                interior = tuple(slice(a - p, b - p) for (a, b), (p, _) in zip(inner, padded))
                out[tuple(slice(a, b) for a, b in inner)] = compute_features(
                    data, specs, depth=depth, interior=interior
                )
    return out


def test_blocks_with_halo_are_bit_identical_to_the_whole_volume():
    volume = (make_image((40, 64, 58), channels=2, seed=10, scale=1000.0)).astype(np.uint16)
    specs = [FeatureSpec(fid, s, s == 1.6) for fid in FEATURE_IDS for s in (0.7, 1.0, 1.6, 3.5, 10.0)]
    whole = compute_features(volume, specs)
    assert halo(specs) == 38 and halo_zyx(specs, 40) == (38, 38, 38)
    assert np.array_equal(_blockwise(volume, specs, (17, 23, 19)), whole)


def test_2d_blocks_need_no_z_halo_and_are_bit_identical():
    image = make_image((3, 150, 140), seed=11)
    specs = all_features(in_2d=True)
    assert halo_zyx(specs, 3) == (0, 38, 38)
    assert np.array_equal(_blockwise(image, specs, (1, 37, 61)), compute_features(image, specs))


def test_tiling_inside_compute_features_does_not_change_values(monkeypatch):
    from pixelserve.features import compute

    volume = make_image((20, 40, 36), channels=2, seed=13)
    specs = [FeatureSpec(fid, s, s == 1.0) for fid in FEATURE_IDS for s in (0.7, 1.0, 3.5)]
    default = compute_features(volume, specs)
    monkeypatch.setattr(compute, "_STACK_BYTES", 1 << 16)  # tiles of a few rows and slices
    assert compute._tile_shape((20, 40, 36), True, 100)[1] < 40
    assert np.array_equal(compute_features(volume, specs), default)


def test_out_argument_and_interior():
    image = make_image((1, 50, 60), seed=12)
    specs = all_features(in_2d=True, scales=(1.0,))
    out = np.empty((1, 20, 30, feature_count(specs, 1, 1)), dtype=np.float32)
    result = compute_features(image, specs, interior=(slice(None), slice(10, 30), slice(5, 35)), out=out)
    assert result is out
    assert np.array_equal(out, compute_features(image, specs)[:, 10:30, 5:35])
    with pytest.raises(ValueError):
        compute_features(image, specs, out=np.empty((1, 50, 60, 3), dtype=np.float32))


# --------------------------------------------------------------------------- sizes


def test_images_too_small_for_the_scales_are_refused():
    specs = all_features(in_2d=True)
    assert minimum_size(specs) == 36  # ceil(3.5 * 10) + 1, ilastik's own check
    check_image_size(specs, (36, 36))
    with pytest.raises(UserError, match=r"σ=10\.0.*36 pixels.*smaller scales.*bigger image"):
        check_image_size(specs, (35, 200))
    volume_specs = all_features(in_2d=False, scales=(1.0, 3.5))
    check_image_size(volume_specs, (14, 50, 50))
    with pytest.raises(UserError, match=r"z-slices.*σ=3\.5.*14 slices.*2D"):
        check_image_size(volume_specs, (13, 50, 50))
    check_image_size(all_features(in_2d=True, scales=(3.5,)), (2, 50, 50))  # per-slice scales ignore z
    with pytest.raises(UserError, match="too small"):
        compute_features(make_image((1, 30, 30)), specs)


# --------------------------------------------------------------------------- names


def test_specs_and_names_follow_ilastik_order():
    ids = np.array([b"GaussianSmoothing", b"StructureTensorEigenvalues"])
    matrix = np.array([[True, False, True], [False, True, True]])
    specs = specs_from_selection(ids, np.array([0.3, 1.0, 3.5]), matrix, np.array([True, False, True]))
    assert specs == [
        FeatureSpec("GaussianSmoothing", 0.3, True),
        FeatureSpec("GaussianSmoothing", 3.5, True),
        FeatureSpec("StructureTensorEigenvalues", 1.0, False),
        FeatureSpec("StructureTensorEigenvalues", 3.5, True),
    ]
    assert feature_names(specs, 1, 10) == [
        "Gaussian Smoothing (σ=0.3) in 2D",
        "Gaussian Smoothing (σ=3.5) in 2D",
        "Structure Tensor Eigenvalues (σ=1.0) [0]",
        "Structure Tensor Eigenvalues (σ=1.0) [1]",
        "Structure Tensor Eigenvalues (σ=1.0) [2]",
        "Structure Tensor Eigenvalues (σ=3.5) in 2D [0]",
        "Structure Tensor Eigenvalues (σ=3.5) in 2D [1]",
    ]
    # Projects older than ComputeIn2d: no flags, no ' in 2D' (as they stored their names)
    old = specs_from_selection(ids, [0.3, 1.0, 3.5], matrix, None)
    assert feature_names(old, 2, 1)[:2] == [
        "Gaussian Smoothing (σ=0.3) [0]",
        "Gaussian Smoothing (σ=0.3) [1]",
    ]
    with pytest.raises(UserError):
        specs_from_selection(ids, [0.3, 1.0], matrix, None)


def _lane_geometry(project: h5py.File, inputs):
    """Axis sizes of the project's first lane, from the project or its input file (or None)."""
    info = project["Input Data/infos/lane0000/Raw Data"]
    if "axistags" in info:
        keys = [axis["key"] for axis in json.loads(info["axistags"][()])["axes"]]
    else:
        keys = list(info["axisorder"][()].decode())
    shape = [int(n) for n in info["shape"][()]] if "shape" in info else None
    path = info["filePath"][()].decode()
    if shape is None and ".h5/" in path:
        file_part, internal = path.split(".h5/", 1)
        local = inputs / (os.path.basename(file_part) + ".h5")
        if local.exists():
            with h5py.File(local, "r") as data:
                shape = list(data[internal].shape)
    return keys, (dict(zip(keys, shape)) if shape else None)


def test_feature_names_equal_those_stored_in_ilastik_projects(api_projects, test_projects):
    inputs = fixtures_dir() / "inputdata"
    checked = 0
    for path in sorted(list(api_projects.glob("*.ilp")) + list(test_projects.glob("*.ilp"))):
        with h5py.File(path, "r") as project:
            if project["workflowName"][()].decode() not in ("Pixel Classification", "AutocontextTwoStage"):
                continue
            if "Input Data/infos" not in project:
                continue
            keys, sizes = _lane_geometry(project, inputs)
            stages = sorted(k for k in project if k.startswith("FeatureSelections"))
            for index, selection_name in enumerate(stages):
                classifier = project.get("PixelClassification" + selection_name[len("FeatureSelections") :])
                if classifier is None or "ClassifierForests/feature_names" not in classifier:
                    continue
                selection = project[selection_name]
                specs = specs_from_selection(
                    selection["FeatureIds"][()],
                    selection["Scales"][()],
                    selection["SelectionMatrix"][()],
                    selection["ComputeIn2d"][()] if "ComputeIn2d" in selection else None,
                )
                stored = [n.decode() for n in classifier["ClassifierForests/feature_names"][()]]
                depth = sizes.get("z", 1) if sizes else (16 if "z" in keys else 1)
                if sizes:  # stage k's input: raw channels + every earlier stage's classes
                    earlier = [
                        project["PixelClassification" + s[len("FeatureSelections") :]] for s in stages[:index]
                    ]
                    channels = sizes.get("c", 1) + sum(len(g["LabelNames"][()]) for g in earlier)
                else:  # input file not among the fixtures: channel count from the stored total
                    channels, rest = divmod(len(stored), feature_count(specs, 1, depth))
                    assert rest == 0, path.name
                assert feature_names(specs, channels, depth) == stored, (path.name, selection_name)
                checked += 1
    assert checked >= 20
