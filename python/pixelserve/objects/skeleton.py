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

vigra runs steps 1 and 2 over the whole frame; here they run object by object in a region
around each object (its bounding box plus one pixel), which gives the same numbers because
each step only ever combines pixels of one object with their direct neighbours, with one
exception: the thinning queues the marked neighbours of a removed pixel whatever their
label, so objects whose pixels touch are processed together, in one region (see
`_analyse_frame`). This touches a fraction of the frame instead of all of it several times.
These are not a medial axis in the textbook sense: objects touching the image border, or whose
skeleton falls apart, get vigra's numbers, not "better" ones.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import UserError
from ._skeleton_graph import analyse_object, graph_scratch
from ._skeleton_raw import REMOVABLE, mark_object, object_vectors, thin_region

_JIT = dict(nogil=True, cache=True, error_model="numpy")

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
        scalars, points, pushes = _analyse_frame(labels, n_rows, float(pruning_threshold), False)
        if pushes >= labels.size:   # thinning offsets reach 0.5: vigra's one queue it is
            scalars, points, _ = _analyse_frame(labels, n_rows, float(pruning_threshold), True)
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


@numba.njit(**_JIT)
def _root(parent, label):
    while parent[label] != label:
        parent[label] = parent[parent[label]]
        label = parent[label]
    return label


@numba.njit(**_JIT)
def _join(parent, a, b):
    ra = _root(parent, a)
    rb = _root(parent, b)
    if ra < rb:
        parent[rb] = ra
    elif rb < ra:
        parent[ra] = rb


@numba.njit(**_JIT)
def _boxes_and_groups(labels, n_rows):
    """Per label the box (x0, y0, x1, y1) of its pixels (x1 = -1: no pixel), and a
    union-find forest that joins labels whose pixels are 8-neighbours."""
    height, width = labels.shape
    boxes = np.empty((n_rows, 4), dtype=np.int64)
    boxes[:, :2] = np.iinfo(np.int64).max
    boxes[:, 2:] = -1
    parent = np.arange(n_rows)
    for y in range(height):
        previous = 0
        for x in range(width):
            label = labels[y, x]
            if label == 0:
                previous = 0
                continue
            box = boxes[label]
            if label != previous:   # first pixel of a run: the run's end comes later
                box[0] = min(box[0], x)
                box[1] = min(box[1], y)
                box[3] = y + 1
                if previous != 0:
                    _join(parent, label, previous)
                previous = label
            box[2] = max(box[2], x + 1)
            if y > 0:
                for dx in range(-1, 2):
                    if 0 <= x + dx < width:
                        other = labels[y - 1, x + dx]
                        if other != 0 and other != label:
                            _join(parent, label, other)
    return boxes, parent


@numba.njit(**_JIT)
def _analyse_frame(labels, n_rows, pruning_threshold, one_group):
    """Steps 1-3 for every object: (scalars (n_rows, 6), points (n_rows, 3, 2), pushes).

    Objects whose pixels touch (8-neighbours, also through others) form a group with one
    region: the union of their boxes plus one pixel. Each group is thinned on its own, with
    its own push count. vigra's single queue orders entries by squared distance + offset,
    the offset growing by 0.5 / pixel count per push; while all offsets stay below 0.5 (fewer
    pushes in all than pixels: the caller checks `pushes`), that is the order (squared
    distance, push number), which the groups keep, each being closed (removing a pixel queues
    only its group's pixels). With `one_group` all objects form one group: vigra's process."""
    height, width = labels.shape
    boxes, parent = _boxes_and_groups(labels, n_rows)
    first = -1
    for label in range(1, n_rows):
        if boxes[label, 2] >= 0:
            if first < 0:
                first = label
            parent[label] = first if one_group else _root(parent, label)
    # members of each group in label order (a counting sort by root), and the group regions
    starts = np.zeros(n_rows + 1, dtype=np.int64)
    regions = np.empty((n_rows, 4), dtype=np.int64)
    regions[:, :2] = np.iinfo(np.int64).max
    regions[:, 2:] = -1
    largest_box = 1
    for label in range(1, n_rows):
        if boxes[label, 2] >= 0:
            root = parent[label]
            starts[root + 1] += 1
            regions[root, 0] = min(regions[root, 0], max(boxes[label, 0] - 1, 0))
            regions[root, 1] = min(regions[root, 1], max(boxes[label, 1] - 1, 0))
            regions[root, 2] = max(regions[root, 2], min(boxes[label, 2] + 1, width))
            regions[root, 3] = max(regions[root, 3], min(boxes[label, 3] + 1, height))
            largest_box = max(largest_box, (boxes[label, 2] - boxes[label, 0]) * (boxes[label, 3] - boxes[label, 1]))
    largest_region = 1
    for root in range(1, n_rows):
        starts[root + 1] += starts[root]
        if regions[root, 2] >= 0:
            largest_region = max(largest_region, (regions[root, 2] - regions[root, 0])
                                 * (regions[root, 3] - regions[root, 1]))
    members = np.empty(starts[n_rows], dtype=np.int64)
    filled = starts.copy()
    for label in range(1, n_rows):
        if boxes[label, 2] >= 0:
            members[filled[parent[label]]] = label
            filled[parent[label]] += 1

    mark_buffer = np.empty(largest_region, dtype=np.uint8)
    squared_buffer = np.empty(largest_region, dtype=np.int64)
    vx_buffer = np.empty(largest_region, dtype=np.int32)
    vy_buffer = np.empty(largest_region, dtype=np.int32)
    ends = np.empty(4 * largest_box, dtype=np.int64)
    n = max(width, height) + 2
    s_left = np.empty(n)
    s_centre = np.empty(n)
    s_right = np.empty(n)
    s_apex = np.empty(n)
    s_x = np.empty(n, dtype=np.int64)
    s_y = np.empty(n, dtype=np.int64)
    scratch = graph_scratch(largest_box)
    cost = np.empty(largest_box + 64)
    node = np.empty(largest_box + 64, dtype=np.int64)
    heap = np.empty(largest_box + 64, dtype=np.int64)
    epsilon = 0.5 / (height * width)
    edges = (width - 1) * height + width * (height - 1) + 2 * (width - 1) * (height - 1)
    max_weight = edges * math.sqrt(2.0)
    scalars = np.zeros((n_rows, 6))
    points = np.zeros((n_rows, 3, 2), dtype=np.int64)
    pushes = 0
    for root in range(1, n_rows):
        if starts[root + 1] == starts[root]:
            continue
        rx, ry = regions[root, 0], regions[root, 1]
        shape = (regions[root, 3] - ry, regions[root, 2] - rx)
        size = shape[0] * shape[1]
        mark = mark_buffer[:size].reshape(shape)
        mark[:] = 0
        squared = squared_buffer[:size].reshape(shape)
        vx = vx_buffer[:size].reshape(shape)
        vy = vy_buffer[:size].reshape(shape)
        group = members[starts[root]:starts[root + 1]]
        for label in group:
            object_vectors(labels, label, boxes[label], rx, ry, vx, vy, s_left, s_centre, s_right, s_apex, s_x, s_y)
            mark_object(labels, label, boxes[label], rx, ry, vx, vy, squared, mark, ends)
        count, cost, node, heap = thin_region(labels, rx, ry, mark, squared, REMOVABLE, epsilon, cost, node, heap)
        pushes += count
        for label in group:
            analyse_object(labels, label, boxes[label], rx, ry, mark, squared, scratch, max_weight,
                           pruning_threshold, scalars, points)
    return scalars, points, pushes
