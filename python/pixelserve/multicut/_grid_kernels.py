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
# An entry is one uint64: the order-preserving key of the float32 priority in the high word,
# the pixel in the low word; entries are compared by the high word only, like vigra's queue.

_HIGH = np.uint64(32)


@njit(cache=True, nogil=True, inline="always")
def _sift_up(heap, hole, top, entry):
    priority = entry >> _HIGH
    parent = (hole - 1) // 2
    while hole > top and (heap[parent] >> _HIGH) > priority:
        heap[hole] = heap[parent]
        hole = parent
        parent = (hole - 1) // 2
    heap[hole] = entry


@njit(cache=True, nogil=True, inline="always")
def _pop(heap, size):
    """std::pop_heap + pop_back; returns the new size. The top entry must be read first."""
    length = size - 1
    if length <= 0:
        return length
    last = heap[length]
    hole = 0
    child = 0
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if (heap[child] >> _HIGH) > (heap[child - 1] >> _HIGH):
            child -= 1
        heap[hole] = heap[child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        heap[hole] = heap[child - 1]
        hole = child - 1
    _sift_up(heap, hole, 0, last)
    return length


@njit(cache=True, nogil=True)
def _priority_keys(heights):
    """uint32 keys whose unsigned order is the float order (-0.0 taken as +0.0)."""
    flat = heights.reshape(-1)
    keys = np.empty(flat.size, dtype=np.uint64)
    for index in range(flat.size):
        bits = np.float32(flat[index] + np.float32(0.0)).view(np.uint32)
        if bits >> np.uint32(31):
            keys[index] = np.uint64(~bits)
        else:
            keys[index] = np.uint64(bits | np.uint32(0x80000000))
    return keys


@njit(cache=True, nogil=True)
def seeded_watershed(heights, labels):
    """vigra's seeded region growing (direct neighbourhood) in place on `labels`: every
    non-zero label grows into the zero pixels, a pixel taking the label of the first region
    that queues it, with priority max(height, priority of the pixel that queued it)."""
    n0, n1, n2 = heights.shape
    keys = _priority_keys(heights)
    lab = labels.reshape(-1)
    heap = np.empty(lab.size, dtype=np.uint64)
    low = np.uint64(0xFFFFFFFF)
    # Seeds next to unlabelled pixels, queued in vigra's scan order (found in memory order,
    # then sorted by scan position: a strided scan of the volume is several times slower).
    border = np.empty(lab.size, dtype=np.int64)
    count = 0
    for start in range(lab.size):
        if lab[start] == 0:
            continue
        i, j, k = _position(start, n1, n2)
        for o in range(6):
            other = _neighbour(n0, n1, n2, i, j, k, DIRECT_3D[o])
            if other >= 0 and lab[other] == 0:
                border[count] = start
                count += 1
                break
    scan_position = np.empty(count, dtype=np.int64)
    for index in range(count):
        i, j, k = _position(border[index], n1, n2)
        scan_position[index] = i + n0 * (j + n1 * k)
    size = 0
    for index in np.argsort(scan_position):
        start = border[index]
        _sift_up(heap, size, 0, (keys[start] << _HIGH) | np.uint64(start))
        size += 1
    plane = n1 * n2
    steps = np.array([-1, -n2, -plane, plane, n2, 1], dtype=np.int64)
    while size > 0:
        current = np.int64(heap[0] & low)
        cost = heap[0] >> _HIGH
        size = _pop(heap, size)
        label = lab[current]
        i, j, k = _position(current, n1, n2)
        # vigra's neighbour order: -axis2, -axis1, -axis0, +axis0, +axis1, +axis2
        inside = (k > 0, j > 0, i > 0, i < n0 - 1, j < n1 - 1, k < n2 - 1)
        for o in range(6):
            if not inside[o]:
                continue
            other = current + steps[o]
            if lab[other] == 0:
                lab[other] = label
                priority = keys[other]
                priority = max(priority, cost)
                _sift_up(heap, size, 0, (priority << _HIGH) | np.uint64(other))
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


@njit(cache=True, nogil=True)
def _squared_distance_line(f, spacing, out, v, z):
    """Felzenszwalb & Huttenlocher's exact 1D squared distance transform of the sampled
    function f (0 at boundary pixels, inf elsewhere, or the previous axes' result)."""
    n = f.size
    s2 = spacing * spacing
    k = -1
    for q in range(n):
        if f[q] == np.inf:
            continue
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
            continue
        while True:
            p = v[k]
            s = ((f[q] + s2 * q * q) - (f[p] + s2 * p * p)) / (2.0 * s2 * (q - p))
            if s <= z[k]:
                k -= 1
                if k < 0:
                    break
            else:
                break
        k += 1
        v[k] = q
        z[k] = s if k > 0 else -np.inf
        z[k + 1] = np.inf
    if k < 0:
        out[:] = np.inf
        return
    k = 0
    for q in range(n):
        while z[k + 1] < q:
            k += 1
        d = q - v[k]
        out[q] = s2 * d * d + f[v[k]]


@njit(cache=True, nogil=True)
def distance_to_mask(mask, spacing):
    """Euclidean distance (float32) of every pixel to the nearest True pixel of a (z, y, x)
    mask, exact (separable squared distance transform, axes in any order give the same)."""
    n0, n1, n2 = mask.shape
    squared = np.empty(mask.shape)
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                squared[i, j, k] = 0.0 if mask[i, j, k] else np.inf
    longest = max(n0, n1, n2)
    f = np.empty(longest)
    out = np.empty(longest)
    v = np.empty(longest, dtype=np.int64)
    z = np.empty(longest + 1)
    for axis in (2, 1, 0):
        length = mask.shape[axis]
        if length < 2:
            continue
        line = f[:length]
        result = out[:length]
        if axis == 2:
            for i in range(n0):
                for j in range(n1):
                    line[:] = squared[i, j, :]
                    _squared_distance_line(line, spacing[axis], result, v, z)
                    squared[i, j, :] = result
        elif axis == 1:
            for i in range(n0):
                for k in range(n2):
                    line[:] = squared[i, :, k]
                    _squared_distance_line(line, spacing[axis], result, v, z)
                    squared[i, :, k] = result
        else:
            for j in range(n1):
                for k in range(n2):
                    line[:] = squared[:, j, k]
                    _squared_distance_line(line, spacing[axis], result, v, z)
                    squared[:, j, k] = result
    return np.sqrt(squared).astype(np.float32)
