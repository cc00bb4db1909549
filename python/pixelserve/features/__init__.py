"""ilastik's pixel features (Gaussian smoothing, LoG, gradient magnitude, DoG, structure
tensor and Hessian eigenvalues), reproduced exactly and computed fast.

Public API:
    FEATURE_IDS, FeatureSpec, specs_from_selection, feature_names, feature_count,
    halo, halo_zyx, minimum_size, check_image_size, compute_features,
    DEFAULT_SCALES, all_features

``reference.reference_features`` is the slow, plain scipy statement of the same recipe,
used by the tests and the benchmark.
"""

from .compute import compute_features
from .spec import (
    DEFAULT_SCALES,
    FEATURE_IDS,
    STRUCTURE_TENSOR_ORDERS,
    FeatureSpec,
    all_features,
    check_image_size,
    feature_count,
    feature_names,
    halo,
    halo_zyx,
    minimum_size,
    specs_from_selection,
)

__all__ = [
    "DEFAULT_SCALES",
    "all_features",
    "FEATURE_IDS",
    "STRUCTURE_TENSOR_ORDERS",
    "FeatureSpec",
    "specs_from_selection",
    "feature_names",
    "feature_count",
    "halo",
    "halo_zyx",
    "minimum_size",
    "check_image_size",
    "compute_features",
]
