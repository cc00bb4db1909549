"""ilastik's "Cell Division Features": how an object relates to its likely children in the next frame.

Facts from ilastik's `applets/trackingFeatureExtraction/trackingFeatures.py` (FeatureManager,
`computeFeatures_at`) and `config.py` (window 50, 3 candidates, candidates of >= 4 pixels,
default distance 9999), checked against the features the tracking fixtures cache:

- candidates: the objects of frame t+1 that have a pixel inside the window
  [round(c) - 25, round(c) + 25) around the object's RegionCenter c (clipped to the image), whose
  size is >= 4; sorted by the Euclidean distance of their centres (despite the feature name,
  the distance is not squared; ties keep label order); the nearest three are kept.
- `SquaredDistances_i`: the i-th smallest distance (9999 when there are fewer candidates).
- `ParentChildrenRatio_<f>`: f(parent) / (f(child 0) + f(child 1)), `ChildrenRatio_<f>`:
  f(child 0) / f(child 1) inverted when > 1, `ParentChildrenAngle_RegionCenter`: the largest
  angle (degrees) between the vectors from the parent to two candidates; 0 when there are fewer
  than two candidates, NaN results become 0.
- names containing "SquaredDistances" other than `SquaredDistances_i` (ilastik's GUI offers
  `ChildrenRatio_SquaredDistances`) are skipped by ilastik and produce no column.

Coordinates are in ilastik's x, y(, z) order; label frames here are numpy (z, y, x) arrays.
Arithmetic follows ilastik's dtypes (float32 features; distances rounded to float32, ratios
computed in float32, angles in float64; the arrays are float64 as ilastik caches them).
"""

from __future__ import annotations

import math

import numpy as np

WINDOW = 50
CANDIDATES = 3
MIN_CHILD_SIZE = 4
NO_DISTANCE = 9999.0
_OPERATORS = ("ParentChildrenRatio", "ChildrenRatio", "ParentChildrenAngle")


def cell_division_features(current: dict[str, np.ndarray], following: dict[str, np.ndarray] | None,
                           labels_following: np.ndarray | None, names: list[str], frame: int,
                           n_frames: int) -> dict[str, np.ndarray]:
    """The division features of every object of frame `frame`, as (objects + 1, k) float64 arrays.

    current, following: this frame's and the next frame's "Standard Object Features"
    (RegionCenter and Count are needed, plus every feature the names refer to), row 0 =
    background; labels_following: the next frame's object labels, (z, y, x). ilastik looks at
    the next frame only when frame + 2 < n_frames (OpDivisionFeatures.execute asks for frame + 1
    only if `roi.stop + 1 < shape[t]`), so the last two frames never have candidates; the
    next frame's data is ignored (and may be None) there.
    """
    if frame + 2 >= n_frames:
        following = labels_following = None
    centers = np.asarray(current["RegionCenter"], dtype=np.float32)
    rows, ndim = centers.shape
    operators = []
    for name in names:
        if "SquaredDistances" in name.split("_"):
            continue
        operator, _, feature = name.partition("_")
        if operator not in _OPERATORS or not feature or "_" in feature:
            raise ValueError(f"unknown cell division feature {name!r}")
        width = np.asarray(current[feature]).reshape(rows, -1).shape[1]
        operators.append((name, operator, feature, width))
    result = {name: np.zeros((rows, 1 if operator == "ParentChildrenAngle" else width))
              for name, operator, _, width in operators}
    for i in range(CANDIDATES):
        result[f"SquaredDistances_{i}"] = np.full((rows, 1), NO_DISTANCE)
    for label in range(1, rows):
        children, distances = _nearest_children(centers[label], following, labels_following, ndim)
        for i, distance in enumerate(distances):
            result[f"SquaredDistances_{i}"][label, 0] = distance
        for name, operator, feature, width in operators:
            parent = np.asarray(current[feature], dtype=np.float32).reshape(rows, -1)[label]
            kids = (np.asarray(following[feature], dtype=np.float32).reshape(-1, width)[children]
                    if len(children) else np.zeros((0, width), np.float32))
            result[name][label] = _OPERATOR_FUNCTIONS[operator](parent, kids)
    return result


def _nearest_children(center: np.ndarray, following, labels_following, ndim: int):
    """Labels of the nearest candidates in frame t+1 and the float32 distances of all three slots."""
    distances = np.full(CANDIDATES, NO_DISTANCE, dtype=np.float32)
    if following is None or labels_following is None:
        return np.zeros(0, dtype=np.int64), distances
    # RegionCenter is x, y(, z); label frames are (z, y, x). Python 3's round() is half-to-even.
    shape_xyz = labels_following.shape[::-1]
    window = []
    for axis in range(ndim):
        middle = int(np.rint(center[axis]))
        window.append(slice(max(middle - WINDOW // 2, 0), min(middle + WINDOW // 2, shape_xyz[axis])))
    window += [slice(None)] * (3 - ndim)
    found = np.unique(labels_following[tuple(window[::-1])])
    found = found[found != 0]
    sizes = np.asarray(following["Count"]).reshape(-1)[found]
    found = found[sizes >= MIN_CHILD_SIZE]
    if found.size == 0:
        return np.zeros(0, dtype=np.int64), distances
    child_centers = np.asarray(following["RegionCenter"], dtype=np.float32)[found]
    # float32 centres, float64 difference and norm, as numpy computes them in ilastik
    gaps = np.sqrt(np.sum((child_centers.astype(np.float64) - center.astype(np.float64)) ** 2, axis=1))
    order = np.argsort(gaps, kind="stable")[:CANDIDATES]
    distances[:order.size] = gaps[order]
    return found[order].astype(np.int64), distances


def _parent_children_ratio(parent: np.ndarray, children: np.ndarray) -> np.ndarray:
    if len(children) < 2:
        return np.zeros(parent.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = parent / (children[0] + children[1])
    return np.where(np.isnan(ratio), 0.0, ratio)


def _children_ratio(parent: np.ndarray, children: np.ndarray) -> np.ndarray:
    if len(children) < 2:
        return np.zeros(parent.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = children[0] / children[1]
    ratio = np.where(np.isnan(ratio), np.float32(0), ratio)
    # ilastik inverts a Python float over a numpy scalar and stores it back into the float32 array
    with np.errstate(divide="ignore"):
        return np.where(ratio > 1, (1.0 / ratio.astype(np.float64)).astype(np.float32), ratio)


def _parent_children_angle(parent: np.ndarray, children: np.ndarray) -> float:
    angles = [0.0]
    for i in range(len(children)):
        first = (children[i] - parent).astype(np.float64)
        for j in range(i + 1, len(children)):
            angles.append(_angle(first, (children[j] - parent).astype(np.float64)))
    return max(angles[1:]) if len(angles) > 1 else 0.0


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    dot = sum(float(x) * float(y) for x, y in zip(a, b))
    norms = math.sqrt(sum(float(x) * float(x) for x in a)) * math.sqrt(sum(float(y) * float(y) for y in b))
    if norms == 0:
        return 0.0
    try:
        return math.acos(dot / norms) * 180 / math.pi
    except ValueError:      # rounding pushed the cosine past +-1; ilastik returns 0 then
        return 0.0


_OPERATOR_FUNCTIONS = {"ParentChildrenRatio": _parent_children_ratio, "ChildrenRatio": _children_ratio,
                       "ParentChildrenAngle": _parent_children_angle}
