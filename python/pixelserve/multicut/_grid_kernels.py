"""numba kernels on label and height volumes that reproduce vigra's grid algorithms step by step.

Every kernel works on a C-contiguous 3D array (a 2D image is passed as (1, y, x)). vigra sees
a plain numpy array with its axes as given and scans it with the *first* axis fastest
(Fortran order over numpy indices); the order in which it numbers labels and fills its
watershed queue follows from that, so the kernels scan the same way. Facts from vigra's
sources: `multi_localminmax.hxx` / `localminmax.hxx` (plateau maxima), `multi_labeling.hxx`
(labels numbered by first occurrence in scan order), `multi_watersheds.hxx`
`seededWatersheds` (region growing that labels a pixel when it is queued), `priority_queue.hxx`
(a `std::priority_queue` ordered by priority only) and `multi_shape.hxx`
`MakeDirectArrayNeighborhood` (neighbours visited as -axis2, -axis1, -axis0, +axis0, +axis1,
+axis2). Ties in the queue are broken the way libstdc++'s `push_heap` / `pop_heap` break them,
which is what ilastik's Linux builds ran.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# vigra's direct neighbourhood in its visiting order, as (axis0, axis1, axis2) offsets.
DIRECT_3D = np.array([[0, 0, -1], [0, -1, 0], [-1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                     dtype=np.int64)
# vigra's 8-neighbourhood of a 2D image (axes 1 and 2 of a (1, y, x) volume).
INDIRECT_2D = np.array([[0, dy, dx] for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy],
                       dtype=np.int64)


@njit(cache=True, nogil=True, inline="always")
def _position(node, n1, n2):
    """(i, j, k) of a flat C index."""
    return node // (n1 * n2), (node // n2) % n1, node % n2


@njit(cache=True, nogil=True, inline="always")
def _scan_node(t, n0, n1, n2):
    """Flat C index of the t-th pixel in vigra's scan order (first axis fastest)."""
    i = t % n0
    j = (t // n0) % n1
    k = t // (n0 * n1)
    return (i * n1 + j) * n2 + k


@njit(cache=True, nogil=True)
def _neighbour(n0, n1, n2, i, j, k, offset):
    """Flat index of (i, j, k) + offset, or -1 outside the volume."""
    a, b, c = i + offset[0], j + offset[1], k + offset[2]
    if a < 0 or a >= n0 or b < 0 or b >= n1 or c < 0 or c >= n2:
        return -1
    return (a * n1 + b) * n2 + c


@njit(cache=True, nogil=True)
def local_maxima(values, offsets):
    """Mask of vigra's local maxima with plateaus and border pixels allowed: a connected set of
    equal values (connectivity `offsets`) is a maximum when no neighbour of it is larger."""
    n0, n1, n2 = values.shape
    flat = values.reshape(-1)
    size = flat.size
    visited = np.zeros(size, dtype=np.uint8)
    result = np.zeros(size, dtype=np.bool_)
    stack = np.empty(size, dtype=np.int64)
    plateau = np.empty(size, dtype=np.int64)
    for start in range(size):
        if visited[start]:
            continue
        value = flat[start]
        visited[start] = 1
        stack[0] = start
        top = 1
        members = 0
        is_max = True
        while top > 0:
            top -= 1
            node = stack[top]
            plateau[members] = node
            members += 1
            i, j, k = _position(node, n1, n2)
            for o in range(offsets.shape[0]):
                other = _neighbour(n0, n1, n2, i, j, k, offsets[o])
                if other < 0:
                    continue
                if flat[other] > value:
                    is_max = False
                elif flat[other] == value and not visited[other]:
                    visited[other] = 1
                    stack[top] = other
                    top += 1
        if is_max:
            for m in range(members):
                result[plateau[m]] = True
    return result.reshape(values.shape)


@njit(cache=True, nogil=True)
def connected_components(values, background, zero_is_background):
    """Labels 1..N of the connected regions of equal value (direct neighbourhood), numbered by
    first occurrence in vigra's scan order (first axis fastest). With `zero_is_background`,
    pixels equal to `background` stay 0 (vigra's labelMultiArrayWithBackground)."""
    n0, n1, n2 = values.shape
    flat = values.reshape(-1)
    out = np.zeros(flat.size, dtype=np.uint32)
    stack = np.empty(flat.size, dtype=np.int64)
    next_label = 0
    for t in range(flat.size):
        start = _scan_node(t, n0, n1, n2)
        if out[start] != 0:
            continue
        value = flat[start]
        if zero_is_background and value == background:
            continue
        next_label += 1
        out[start] = next_label
        stack[0] = start
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            a, b, c = _position(node, n1, n2)
            for o in range(6):
                other = _neighbour(n0, n1, n2, a, b, c, DIRECT_3D[o])
                if other >= 0 and out[other] == 0 and flat[other] == value:
                    out[other] = next_label
                    stack[top] = other
                    top += 1
    return out.reshape(values.shape), next_label


@njit(cache=True, nogil=True)
def relabel_consecutive(labels):
    """1..N in order of first occurrence in vigra's scan order; 0 stays 0 (vigra's
    relabelConsecutive with keep_zeros)."""
    n0, n1, n2 = labels.shape
    flat = labels.reshape(-1)
    mapping = np.zeros(int(flat.max()) + 1 if flat.size else 1, dtype=np.uint32)
    out = np.empty(flat.size, dtype=np.uint32)
    next_label = 0
    for t in range(flat.size):
        node = _scan_node(t, n0, n1, n2)
        old = flat[node]
        if old == 0:
            out[node] = 0
            continue
        if mapping[old] == 0:
            next_label += 1
            mapping[old] = next_label
        out[node] = mapping[old]
    return out.reshape(labels.shape), next_label


# ---- std::priority_queue<pair<node, float>, vector, greater-by-priority> as libstdc++ runs it.

@njit(cache=True, nogil=True, inline="always")
def _sift_up(prio, node, hole, top, p, n):
    parent = (hole - 1) // 2
    while hole > top and prio[parent] > p:
        prio[hole] = prio[parent]
        node[hole] = node[parent]
        hole = parent
        parent = (hole - 1) // 2
    prio[hole] = p
    node[hole] = n


@njit(cache=True, nogil=True, inline="always")
def _pop(prio, node, size):
    """std::pop_heap + pop_back; returns the new size. The element at 0 must be read first."""
    length = size - 1
    if length <= 0:
        return length
    p, n = prio[length], node[length]
    hole = 0
    child = 0
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if prio[child] > prio[child - 1]:
            child -= 1
        prio[hole] = prio[child]
        node[hole] = node[child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        prio[hole] = prio[child - 1]
        node[hole] = node[child - 1]
        hole = child - 1
    _sift_up(prio, node, hole, 0, p, n)
    return length


@njit(cache=True, nogil=True)
def seeded_watershed(heights, labels):
    """vigra's seeded region growing (direct neighbourhood) in place on `labels`: every
    non-zero label grows into the zero pixels, a pixel taking the label of the first region
    that queues it, with priority max(height, priority of the pixel that queued it)."""
    n0, n1, n2 = heights.shape
    h = heights.reshape(-1)
    lab = labels.reshape(-1)
    prio = np.empty(h.size, dtype=heights.dtype)
    node = np.empty(h.size, dtype=np.int64)
    size = 0
    for t in range(h.size):
        start = _scan_node(t, n0, n1, n2)
        if lab[start] == 0:
            continue
        i, j, k = _position(start, n1, n2)
        for o in range(6):
            other = _neighbour(n0, n1, n2, i, j, k, DIRECT_3D[o])
            if other >= 0 and lab[other] == 0:
                _sift_up(prio, node, size, 0, h[start], start)
                size += 1
                break
    while size > 0:
        current = node[0]
        cost = prio[0]
        size = _pop(prio, node, size)
        label = lab[current]
        i, j, k = _position(current, n1, n2)
        for o in range(6):
            other = _neighbour(n0, n1, n2, i, j, k, DIRECT_3D[o])
            if other >= 0 and lab[other] == 0:
                lab[other] = label
                p = h[other]
                if p < cost:
                    p = cost
                _sift_up(prio, node, size, 0, p, other)
                size += 1


@njit(cache=True, nogil=True)
def _fir_line(line, taps, out):
    """One mirrored FIR pass as fastfilters computes it in float32: c0 * x, then one fused
    multiply-add per tap pair, (x[i+k] + x[i-k]) * c_k + sum (the fused rounding is emulated
    in float64, which differs from a true FMA only on exact float32 midpoints)."""
    n = line.size
    radius = taps.size - 1
    for i in range(n):
        total = np.float32(taps[0] * line[i])
        for k in range(1, radius + 1):
            left = i - k
            if left < 0:
                left = -left
            right = i + k
            if right >= n:
                right = n - (right % n) - 2
            pair = np.float32(line[right] + line[left])
            total = np.float32(np.float64(pair) * np.float64(taps[k]) + np.float64(total))
        out[i] = total


@njit(cache=True, nogil=True)
def fastfilters_smooth(volume, taps):
    """fastfilters' separable Gaussian of a (z, y, x) float32 volume: x, then y, then z."""
    n0, n1, n2 = volume.shape
    result = volume.copy()
    for axis in (2, 1, 0):
        length = result.shape[axis]
        if length < 2:
            continue
        line = np.empty(length, dtype=np.float32)
        out = np.empty(length, dtype=np.float32)
        if axis == 2:
            for i in range(n0):
                for j in range(n1):
                    line[:] = result[i, j, :]
                    _fir_line(line, taps, out)
                    result[i, j, :] = out
        elif axis == 1:
            for i in range(n0):
                for k in range(n2):
                    line[:] = result[i, :, k]
                    _fir_line(line, taps, out)
                    result[i, :, k] = out
        else:
            for j in range(n1):
                for k in range(n2):
                    line[:] = result[:, j, k]
                    _fir_line(line, taps, out)
                    result[:, j, k] = out
    return result
