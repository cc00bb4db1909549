"""Connected components as vigra numbers them, compiled.

vigra's `labelMultiArrayWithBackground` (used by ilastik for thresholded images, binary
segmentations and convex-hull defects) joins direct neighbours (4 in 2D, 6 in 3D) of equal
value, skips the background value 0, and numbers components 1..N in the order their first
pixel appears in scan order (x fastest, i.e. C order of a (z, y, x) array).

`label_equal` is a two-pass union-find: the first pass gives each pixel a provisional label,
joining it with its backward neighbours (x-1, y-1, z-1) of equal value and keeping the
smaller label as root; a component's smallest provisional label is the one created at its
first pixel, so numbering roots in increasing order is numbering by first appearance.
"""

from __future__ import annotations

import numba
import numpy as np

# No fastmath anywhere in objects/: results must reproduce vigra's double arithmetic.
JIT = dict(nogil=True, cache=True, error_model="numpy")


@numba.njit(inline="always", **JIT)
def _root(parent, label):
    while parent[label] != label:
        parent[label] = parent[parent[label]]
        label = parent[label]
    return label


@numba.njit(inline="always", **JIT)
def _join(parent, a, b):
    """Union of the trees of a and b; the smaller root wins. Returns the new root."""
    ra = _root(parent, a)
    rb = _root(parent, b)
    if ra < rb:
        parent[rb] = ra
        return ra
    parent[ra] = rb
    return rb


@numba.njit(**JIT)
def label_equal(values, out, parent):
    """Label the components of equal non-zero value of `values` (Z, Y, X) into `out` (uint32,
    same shape). `parent` is scratch of at least values.size // 2 + 2 uint32 entries (more
    provisional labels cannot occur with direct neighbourhoods). Returns N."""
    n_z, n_y, n_x = values.shape
    count = 0
    for z in range(n_z):
        for y in range(n_y):
            for x in range(n_x):
                v = values[z, y, x]
                if v == 0:
                    out[z, y, x] = 0
                    continue
                label = 0
                if x > 0 and values[z, y, x - 1] == v:
                    label = out[z, y, x - 1]
                if y > 0 and values[z, y - 1, x] == v:
                    other = out[z, y - 1, x]
                    label = other if label == 0 else _join(parent, label, other)
                if z > 0 and values[z - 1, y, x] == v:
                    other = out[z - 1, y, x]
                    label = other if label == 0 else _join(parent, label, other)
                if label == 0:
                    count += 1
                    parent[count] = count
                    label = count
                out[z, y, x] = label
    # Parents always point to smaller labels, so in increasing order a label's parent has
    # already been turned into its final id. Roots get ids in creation order = order of
    # first appearance.
    final = 0
    for label in range(1, count + 1):
        up = parent[label]
        if up == label:
            final += 1
            parent[label] = final
        else:
            parent[label] = parent[up]
    for z in range(n_z):
        for y in range(n_y):
            for x in range(n_x):
                label = out[z, y, x]
                if label != 0:
                    out[z, y, x] = parent[label]
    return final


def label_components(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(labels uint32 (Z, Y, X), N) of the equal-valued direct-neighbour components of a
    (Z, Y, X) integer or bool array; 0 is background."""
    values = np.ascontiguousarray(values)
    if values.dtype == bool:
        values = values.view(np.uint8)
    out = np.empty(values.shape, dtype=np.uint32)
    parent = np.empty(values.size // 2 + 2, dtype=np.uint32)
    count = label_equal(values, out, parent)
    return out, int(count)
