"""Which features a project selected, their names, counts and geometry (halo, minimum size).

Everything here follows ilastik's ``OpPixelFeaturesPresmoothed`` / ``filterOperators``:
feature rows in the stored ``FeatureIds`` order, scales in stored order, names like
``'Gaussian Smoothing (σ=0.3) in 2D'`` with ``' [i]'`` appended when the feature has more
than one output channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pixelserve.errors import UserError

from .kernels import (
    FILTER_WINDOW,
    PRESMOOTH_WINDOW,
    filter_sigma,
    kernel_radius,
    presmoothing_sigma,
    structure_tensor_sigmas,
)

FEATURE_IDS = (
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)

_DISPLAY_NAMES = {
    "GaussianSmoothing": "Gaussian Smoothing",
    "LaplacianOfGaussian": "Laplacian of Gaussian",
    "GaussianGradientMagnitude": "Gaussian Gradient Magnitude",
    "DifferenceOfGaussians": "Difference of Gaussians",
    "StructureTensorEigenvalues": "Structure Tensor Eigenvalues",
    "HessianOfGaussianEigenvalues": "Hessian of Gaussian Eigenvalues",
}

_EIGENVALUE_FEATURES = ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")
_DERIVATIVE_FEATURES = (
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)
STRUCTURE_TENSOR_ORDERS = ("fastfilters", "vigra")


@dataclass(frozen=True)
class FeatureSpec:
    """One selected (feature, scale) cell of ilastik's feature selection matrix."""

    feature_id: str  # one of FEATURE_IDS
    scale: float
    in_2d: bool  # the project's ComputeIn2d flag for this scale


def _decode(value) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def specs_from_selection(feature_ids, scales, selection_matrix, compute_in_2d=None) -> list[FeatureSpec]:
    """Turn a project's stored ``FeatureSelections`` arrays into specs in ilastik's order.

    ``feature_ids``: the stored ``FeatureIds`` (bytes or str), one per matrix row;
    ``scales``: the stored ``Scales``; ``selection_matrix``: bool (rows = features,
    columns = scales); ``compute_in_2d``: the stored ``ComputeIn2d`` per scale, or None for
    projects saved before ilastik had it. Pass None for those: old ilastik neither computed
    nor named features "in 2D" (a z == 1 image is filtered in 2D anyway), so all flags are
    False and the names match what those projects stored.
    """
    ids = [_decode(f) for f in np.asarray(feature_ids).reshape(-1)]
    scale_list = [float(s) for s in np.asarray(scales, dtype=np.float64).reshape(-1)]
    matrix = np.asarray(selection_matrix, dtype=bool)
    if matrix.ndim != 2 or matrix.shape != (len(ids), len(scale_list)):
        raise UserError(
            f"The project's feature selection matrix has shape {matrix.shape}, but it lists "
            f"{len(ids)} features and {len(scale_list)} scales: the project file is damaged; "
            "re-save it in ilastik."
        )
    if compute_in_2d is None:
        flags = [False] * len(scale_list)
    else:
        flags = [bool(f) for f in np.asarray(compute_in_2d, dtype=bool).reshape(-1)]
        if len(flags) != len(scale_list):
            raise UserError(
                f"The project stores {len(flags)} ComputeIn2d flags for {len(scale_list)} scales: "
                "the project file is damaged; re-save it in ilastik."
            )
    specs = []
    for row, feature_id in enumerate(ids):
        for col, scale in enumerate(scale_list):
            if matrix[row, col]:
                specs.append(FeatureSpec(feature_id, scale, flags[col]))
    validate_specs(specs)
    return specs


def validate_specs(specs: Sequence[FeatureSpec], structure_tensor_order: str | None = None) -> None:
    """Raise UserError for feature ids, scales or options pixelserve cannot compute.

    With a structure tensor order, also reject derivative features whose kernels would be a
    single tap (scale too small), which only compute_features() can decide."""
    if structure_tensor_order is not None and structure_tensor_order not in STRUCTURE_TENSOR_ORDERS:
        raise UserError(
            f"Unknown structure tensor order {structure_tensor_order!r}: use one of "
            f"{', '.join(STRUCTURE_TENSOR_ORDERS)}."
        )
    for spec in specs:
        if not isinstance(spec, FeatureSpec):
            raise UserError(
                f"Expected FeatureSpec objects, got {type(spec).__name__}: "
                "build them with specs_from_selection()."
            )
        if spec.feature_id not in FEATURE_IDS:
            raise UserError(
                f"Unknown pixel feature {spec.feature_id!r}: pixelserve computes only ilastik's standard "
                f"features ({', '.join(FEATURE_IDS)}); remove it from the project's feature selection."
            )
        if not (math.isfinite(spec.scale) and spec.scale > 0):
            raise UserError(
                f"Feature scale {spec.scale!r} of {spec.feature_id} must be a positive number: "
                "fix the project's scales."
            )
        if structure_tensor_order is not None and spec.feature_id in _DERIVATIVE_FEATURES:
            smallest = _smallest_derivative_sigma(spec, structure_tensor_order)
            if kernel_radius(smallest, FILTER_WINDOW) == 0:
                raise UserError(
                    f"{_DISPLAY_NAMES[spec.feature_id]} at σ={spec.scale} needs a derivative kernel at "
                    f"sigma {smallest:.3g}, which is too small to sample (ilastik itself gives NaN there): "
                    "select this feature only at larger scales (0.7 or more)."
                )


def _smallest_derivative_sigma(spec: FeatureSpec, order: str) -> float:
    if spec.feature_id == "StructureTensorEigenvalues":
        return structure_tensor_sigmas(spec.scale, order)[0]
    return filter_sigma(spec.scale)


# ---------------------------------------------------------------------------------------
# 2D / 3D decisions


def presmooth_in_2d(spec: FeatureSpec, depth: int) -> bool:
    """ilastik pre-smooths per z-slice exactly when ComputeIn2d is set (or there is one slice)."""
    return bool(spec.in_2d) or depth <= 1


def filter_in_2d(spec: FeatureSpec, depth: int) -> bool:
    """The feature filter runs per z-slice when ComputeIn2d is set, the volume has one slice,
    or the volume is thinner than the filter needs: ceil(2 s') + 1 > depth (ilastik's
    ``OpBaseFilter`` rule, evaluated on the whole volume's depth)."""
    if spec.in_2d or depth <= 1:
        return True
    return math.ceil(filter_sigma(spec.scale) * FILTER_WINDOW) + 1 > depth


def subchannel_count(spec: FeatureSpec, depth: int) -> int:
    """Output channels per input channel: 2 or 3 eigenvalues, else 1."""
    if spec.feature_id in _EIGENVALUE_FEATURES:
        return 2 if filter_in_2d(spec, depth) else 3
    return 1


def feature_count(specs: Sequence[FeatureSpec], n_channels: int, depth: int) -> int:
    """Number of feature columns compute_features() returns."""
    return sum(subchannel_count(s, depth) for s in specs) * int(n_channels)


def _scale_text(scale: float) -> str:
    # ilastik formats the stored float64 with Python's str(): 0.3, 1.0, 10.0
    return str(float(scale))


def feature_names(specs: Sequence[FeatureSpec], n_channels: int, depth: int) -> list[str]:
    """ilastik's channel names, as projects store them in ClassifierForests/feature_names.

    ' in 2D' follows the ComputeIn2d flag only (ilastik names it so even when a thin volume
    forces 2D filtering); ' [i]' numbers the input channels x sub-channels of one feature.
    """
    names = []
    for spec in specs:
        base = f"{_DISPLAY_NAMES[spec.feature_id]} (σ={_scale_text(spec.scale)})"
        if spec.in_2d:
            base += " in 2D"
        count = subchannel_count(spec, depth) * int(n_channels)
        if count == 1:
            names.append(base)
        else:
            names.extend(f"{base} [{i}]" for i in range(count))
    return names


# ---------------------------------------------------------------------------------------
# Geometry: kernel radii, halo, minimum image size


def presmooth_radius(spec: FeatureSpec) -> int:
    return kernel_radius(presmoothing_sigma(spec.scale), PRESMOOTH_WINDOW)


def filter_chain_radius(spec: FeatureSpec, structure_tensor_order: str = "fastfilters") -> int:
    """How far the feature filter (after pre-smoothing) reaches along one axis.

    The structure tensor cascades two filters (gradient, then tensor smoothing), so their
    radii add up; every other feature is a single separable filter at s' (DoG's second
    Gaussian is narrower)."""
    if spec.feature_id == "StructureTensorEigenvalues":
        grad_sigma, smooth_sigma = structure_tensor_sigmas(spec.scale, structure_tensor_order)
        return kernel_radius(grad_sigma, FILTER_WINDOW) + kernel_radius(smooth_sigma, FILTER_WINDOW)
    return kernel_radius(filter_sigma(spec.scale), FILTER_WINDOW)


def halo(specs: Sequence[FeatureSpec], structure_tensor_order: str = "fastfilters") -> int:
    """Context pixels needed on each side of a block so that computing on the padded block
    and cropping equals computing on the whole image (pre-smoothing + filter reach)."""
    return max(
        (presmooth_radius(s) + filter_chain_radius(s, structure_tensor_order) for s in specs), default=0
    )


def halo_zyx(
    specs: Sequence[FeatureSpec], depth: int, structure_tensor_order: str = "fastfilters"
) -> tuple[int, int, int]:
    """Like halo(), per axis (z, y, x): features computed per slice need no z context."""
    z = 0
    for s in specs:
        reach = 0 if presmooth_in_2d(s, depth) else presmooth_radius(s)
        if not filter_in_2d(s, depth):
            reach += filter_chain_radius(s, structure_tensor_order)
        z = max(z, reach)
    xy = halo(specs, structure_tensor_order)
    return z, xy, xy


def _ilastik_minimum_length(scale: float) -> int:
    # ilastik's OpPixelFeaturesPresmoothed.getInvalidScales(): ceil(scale * 3.5) + 1
    return int(math.ceil(float(scale) * PRESMOOTH_WINDOW)) + 1


def minimum_size(specs: Sequence[FeatureSpec]) -> int:
    """Smallest image side ilastik accepts for these specs (its own feature-selection check).

    It is at least one more than every kernel radius, which mirror borders need."""
    return max((_ilastik_minimum_length(s.scale) for s in specs), default=1)


def check_image_size(specs: Sequence[FeatureSpec], spatial_shape: tuple) -> None:
    """Raise UserError when the image is too small for the selected scales.

    ``spatial_shape`` is (y, x) or (z, y, x) of the whole image. Same rule as ilastik: every
    selected scale s needs ceil(3.5 s) + 1 pixels along y and x, and along z too unless that
    scale is computed in 2D (or the image has a single slice).
    """
    shape = tuple(int(n) for n in spatial_shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3:
        raise UserError(f"Expected a spatial shape (y, x) or (z, y, x), got {spatial_shape!r}.")
    depth, height, width = shape
    worst_xy = None
    worst_z = None
    for spec in specs:
        needed = _ilastik_minimum_length(spec.scale)
        if needed > height or needed > width:
            if worst_xy is None or spec.scale > worst_xy[0]:
                worst_xy = (spec.scale, needed)
        if depth > 1 and not spec.in_2d and needed > depth:
            if worst_z is None or spec.scale > worst_z[0]:
                worst_z = (spec.scale, needed)
    size_text = " x ".join(str(n) for n in (shape if depth > 1 else shape[1:]))
    if worst_xy is not None:
        scale, needed = worst_xy
        raise UserError(
            f"The image ({size_text} pixels) is too small for the selected features: scale "
            f"σ={_scale_text(scale)} needs at least {needed} pixels along x and y. Choose smaller scales "
            "in the project's feature selection, or use a bigger image."
        )
    if worst_z is not None:
        scale, needed = worst_z
        raise UserError(
            f"The volume ({size_text} pixels) has too few z-slices for the selected 3D features: scale "
            f"σ={_scale_text(scale)} needs at least {needed} slices. Choose smaller scales, compute these "
            "scales in 2D in the project's feature selection, or use a bigger volume."
        )


# ilastik's scales; its GUI offers only smoothing at the smallest one (derivatives at 0.3
# sample too coarsely).
DEFAULT_SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)


def all_features(scales: Sequence[float] = DEFAULT_SCALES, in_2d: bool = False) -> list[FeatureSpec]:
    """Every feature at every scale that ilastik offers it at, in ilastik's order."""
    return [FeatureSpec(feature_id, float(scale), in_2d)
            for feature_id in FEATURE_IDS for scale in scales
            if scale >= 0.5 or feature_id == "GaussianSmoothing"]
