"""The object features ilastik offers: plugin and feature names, and their display names.

Names are ilastik's (they key the project file and the classifier's feature order); display
names are what ilastik's tables print (`fill_properties` of `ilastik/plugins_default/
vigra_objfeats.py`, `convex_hull_feature_description.py`, `vigra_objfeats_skeleton.py`).

"Standard Object Features" offers vigra's non-advanced region features (names without `<`,
plus the two bounding-box corners): Histogram and Quantiles only for single-channel images
(vigra's multiband accumulator has none), Covariance and PrincipalAxes for multi-channel
ones; and an `X in neighborhood` variant of the local statistics (`vigra_objfeats.py:67-71`).
"""

from __future__ import annotations

# plugin -> feature -> neighbourhood margin (x, y[, z] as ilastik stores it; () for none)
FeatureSelection = dict[str, dict[str, tuple[int, ...]]]

STANDARD = "Standard Object Features"
HULL_2D = "2D Convex Hull Features"
HULL_3D = "3D Convex Hull Features"
SKELETON = "2D Skeleton Features"
DIVISION = "Cell Division Features"   # tracking only: how an object relates to the next frame
DEFAULT = "Default features"   # always computed, never fed to the classifier by that name

NEIGHBORHOOD = " in neighborhood"
OBJECT_AND_NEIGHBORHOOD = " in object and neighborhood"

# Statistics ilastik also computes in the object's neighbourhood.
LOCAL_FEATURES = ("Mean", "Variance", "Skewness", "Kurtosis", "Histogram", "Covariance",
                  "Minimum", "Maximum", "Sum")
DEFAULT_FEATURES = ("Count", "RegionCenter", "Coord<Minimum>", "Coord<Maximum>")
_SINGLE_CHANNEL_ONLY = ("Histogram", "Quantiles")
_MULTI_CHANNEL_ONLY = ("Covariance", "PrincipalAxes")
STANDARD_FEATURES = ("Count", "Sum", "Mean", "Variance", "Skewness", "Kurtosis", "Minimum",
                     "Maximum", "Histogram", "Quantiles", "Covariance", "PrincipalAxes",
                     "RegionCenter", "RegionRadii", "RegionAxes", "Coord<Minimum>",
                     "Coord<Maximum>")
HULL_FEATURES = ("InputVolume", "HullVolume", "Convexity", "DefectVolumeMean",
                 "DefectVolumeVariance", "DefectVolumeSkewness", "DefectVolumeKurtosis",
                 "DefectCount", "DefectDisplacementMean", "InputCenter", "HullCenter",
                 "DefectCenter")
SKELETON_FEATURES = ("Diameter", "Euclidean Diameter", "Total Length", "Average Length",
                     "Branch Count", "Hole Count", "Skeleton Center", "Terminal 1", "Terminal 2")

_STANDARD_DISPLAY = {
    "Count": "Size in pixels", "Maximum": "Maximum intensity", "Minimum": "Minimum intensity",
    "Coord<Minimum>": "Bounding Box Minimum", "Coord<Maximum>": "Bounding Box Maximum",
    "Mean": "Mean Intensity", "Variance": "Variance of Intensity",
    "Skewness": "Skewness of Intensity", "Kurtosis": "Kurtosis of Intensity",
    "RegionCenter": "Center of the object", "RegionRadii": "Radii of the object",
    "RegionAxes": "Principal components of the object", "Quantiles": "Quantiles of Intensity",
    "Histogram": "Histogram of Intensity", "Covariance": "Covariance of Channel Intensity",
    "Sum": "Total Intensity",
}
_HULL_DISPLAY = {
    "InputVolume": "Object Area", "HullVolume": "Convex Hull Area", "Convexity": "Convexity",
    "DefectVolumeMean": "Mean Defect Area", "DefectVolumeVariance": "Variance of Defect Area",
    "DefectVolumeSkewness": "Skewness of Defect Area",
    "DefectVolumeKurtosis": "Kurtosis of Defect Area", "DefectCount": "Number of Defects",
    "DefectDisplacementMean": "Mean Defect Displacement", "InputCenter": "Object Center",
    "HullCenter": "Convex Hull Center", "DefectCenter": "Defect Center",
}
_SKELETON_DISPLAY = {
    "Branch Count": "Number of Branches", "Hole Count": "Number of Holes",
    "Skeleton Center": "Center of the Skeleton", "Total Length": "Length of the Skeleton",
    "Average Length": "Average Branch Length",
}
_DISPLAY = {STANDARD: _STANDARD_DISPLAY, DEFAULT: _STANDARD_DISPLAY, HULL_2D: _HULL_DISPLAY,
            HULL_3D: _HULL_DISPLAY, SKELETON: _SKELETON_DISPLAY}


def local_base(feature: str) -> str | None:
    """`Mean` for `Mean in neighborhood` or `Mean in object and neighborhood`, else None."""
    for suffix in (NEIGHBORHOOD, OBJECT_AND_NEIGHBORHOOD):
        if feature.endswith(suffix) and feature[: -len(suffix)] in LOCAL_FEATURES:
            return feature[: -len(suffix)]
    return None


def standard_features(n_channels: int) -> tuple[str, ...]:
    """The non-advanced Standard Object Features ilastik offers for this many channels."""
    skip = _MULTI_CHANNEL_ONLY if n_channels == 1 else _SINGLE_CHANNEL_ONLY
    plain = tuple(name for name in STANDARD_FEATURES if name not in skip)
    return plain + tuple(name + NEIGHBORHOOD for name in LOCAL_FEATURES if name in plain)


def available_features(n_channels: int, dims: int) -> dict[str, tuple[str, ...]]:
    """plugin -> features ilastik offers for images with this many channels and dimensions
    (the skeleton's advanced Terminal 1/2 included)."""
    plugins = {STANDARD: standard_features(n_channels),
               HULL_2D if dims == 2 else HULL_3D: HULL_FEATURES}
    if dims == 2:
        plugins[SKELETON] = SKELETON_FEATURES
    return plugins


def display_name(plugin: str, feature: str) -> str:
    """The column title ilastik's tables give a feature."""
    base = local_base(feature)
    if base is not None and feature.endswith(NEIGHBORHOOD):
        return _STANDARD_DISPLAY.get(base, base) + NEIGHBORHOOD
    return _DISPLAY.get(plugin, {}).get(feature, feature)
