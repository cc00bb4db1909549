"""ilastik's "2D Skeleton Features" of a labelled frame, reproduced from vigra float32-exactly.

ilastik's plugin (`ilastik/plugins_default/vigra_objfeats_skeleton.py`) calls
`vigra.analysis.extractSkeletonFeatures(labels)` once per time frame on the whole frame's label
image; vigra (`include/vigra/skeleton.hxx`, `skeletonizeImageImpl`) then

1. computes a boundary vector distance transform of the whole frame (other objects count as
   boundary, the image border does not),
2. marks a raw skeleton between pixels whose nearest boundary pixels differ, thins it, and
3. per object, analyses the skeleton graph: the diameter path and its midpoint, a
   shortest-path tree from there, loops around holes, and branches pruned by salience.

`shared/notes/skeleton-features.md` describes every step and why each tie rule matters;
`_skeleton_raw.py` (steps 1-2) and `_skeleton_graph.py` (step 3) hold the numba kernels.
These are not a medial axis in the textbook sense: objects touching the image border, or whose
skeleton falls apart, get vigra's numbers, not "better" ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ._skeleton_graph import analyse_objects, skeleton_boxes
from ._skeleton_raw import REMOVABLE, boundary_vectors, raw_skeleton, thin

#: ilastik's feature names (vigranumpy `accumulator-region-singleband.cxx:192-200`), in the
#: order vigra lists them, with their column counts. Coordinates are (x, y), as ilastik stores
#: them. "Terminal 1" and "Terminal 2" are "advanced" features in ilastik's GUI.
SKELETON_FEATURES = {
    "Diameter": 1,
    "Euclidean Diameter": 1,
    "Total Length": 1,
    "Average Length": 1,
    "Branch Count": 1,
    "Hole Count": 1,
    "Skeleton Center": 2,
    "Terminal 1": 2,
    "Terminal 2": 2,
}


def skeleton_features(labels: np.ndarray, pruning_threshold: float = 0.2) -> dict[str, np.ndarray]:
    """vigra's skeleton features of every object of a 2D label image, as ilastik stores them.

    `labels` is one frame as a (y, x) integer array: 0 is background, objects are 1..N (ids
    need not be consecutive; missing ids get zero rows). Returns one float32 array of shape
    (N + 1, k) per name in `SKELETON_FEATURES`, row 0 (background) zero, coordinates in
    (x, y) order. `pruning_threshold` is vigra's relative salience threshold (ilastik: 0.2).
    (vigra counts rows up to the largest label found on a pixel edge, so for a 1 x 1 frame it
    returns only the background row; here every frame gets N + 1 rows.)
    """
    labels = _checked_labels(labels)
    n_rows = int(labels.max()) + 1 if labels.size else 1
    scalars = np.zeros((n_rows, 6))
    points = np.zeros((n_rows, 3, 2), dtype=np.int64)
    if n_rows > 1:   # row 0 stays zero: vigra analyses labels 1.. only
        vx, vy = boundary_vectors(labels)
        skeleton, squared = raw_skeleton(labels, vx, vy)
        del vx, vy
        thin(skeleton, squared, REMOVABLE)
        anchor, boxes, max_nodes = skeleton_boxes(skeleton, n_rows)
        scalars, points = analyse_objects(labels, skeleton, squared, anchor, boxes, max_nodes,
                                          float(pruning_threshold))
    names = list(SKELETON_FEATURES)
    result = {name: scalars[:, [i]].astype(np.float32) for i, name in enumerate(names[:6])}
    for i, name in enumerate(names[6:]):
        result[name] = points[:, i, :].astype(np.float32)
    return result


def _checked_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise UserError(f"Skeleton features need one 2D frame (y, x), got an array of shape {labels.shape}; "
                        "pass each 2D time frame separately (3D data has no skeleton features in ilastik).")
    if labels.dtype == np.bool_:
        return labels.astype(np.uint32)
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"Skeleton features need an integer label image, got dtype {labels.dtype}; "
                        "label the segmentation first (0 = background, objects 1..N).")
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.uint32).max):
        raise UserError("Skeleton features need labels between 0 and 2**32 - 1 (0 = background), "
                        f"got {labels.min()}..{labels.max()}; relabel the objects 1..N.")
    return np.ascontiguousarray(labels, dtype=np.uint32)
