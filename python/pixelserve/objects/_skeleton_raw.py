"""Numba kernels for the whole-frame part of vigra's skeleton features: the boundary vector
distance transform, the raw skeleton marking and the thinning (vigra `skeleton.hxx:421-505`,
`vector_distance.hxx:159-239, 457-516`; see `shared/notes/skeleton-features.md` §2-3).

Conventions used throughout the skeleton code: arrays are numpy ``[y, x]``; vigra's scan
order (x fastest) is their C order; a vector is stored as its (x, y) components. Every tie
rule below changes results for most objects when replaced by a "nicer" equivalent (note
§6.2), so the arithmetic follows vigra step by step: doubles where vigra uses doubles,
integers where it uses integers, the same comparisons and the same visiting order.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = dict(nogil=True, cache=True, error_model="numpy")
_TILE = 32   # columns the y pass of the distance transform gathers at a time

# vigra's 8-neighbourhood order (`multi_shape.hxx:655-700`): the first four are the "back"
# neighbours (earlier in scan order); neighbour k and 7 - k are opposite.
DX8 = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)
DY8 = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)


def _removable_table() -> np.ndarray:
    """The thinning's "simple point that is no end point" test for all 256 neighbourhoods.

    Bit 7 - k of a code is neighbour k (order `DX8`/`DY8`). A pixel may be removed iff
    (a) its neighbours form one 8-connected group and the background pixels around it one
    4-connected group touching its 4-neighbours (it is a simple point), (b) it is not an end
    point (at least two neighbours, and not just two that are 4-adjacent to each other), and
    (c) two perpendicular 4-neighbours are background. This rule reproduces the 256 entries
    of vigra's `isSimplePreserveEndPoints` (`skeleton.hxx:170-182`) exactly.
    """
    # the 8 ring positions in order around the centre, as indices into DX8/DY8
    ring = (0, 1, 2, 4, 7, 6, 5, 3)
    four = {1: "top", 3: "left", 4: "right", 6: "bottom"}
    table = np.zeros(256, dtype=np.bool_)
    for code in range(256):
        on = [(code >> (7 - k)) & 1 == 1 for k in range(8)]
        points = [(DX8[k], DY8[k]) for k in range(8) if on[k]]
        if len(points) < 2:
            continue
        if len(points) == 2 and abs(points[0][0] - points[1][0]) + abs(points[0][1] - points[1][1]) == 1:
            continue
        background = {four[k] for k in four if not on[k]}
        if not ({"top", "bottom"} & background and {"left", "right"} & background):
            continue
        # 8-connected foreground groups on the ring: consecutive ring members are 8-adjacent,
        # and so are two 4-neighbours around a background corner (e.g. top and left).
        groups = _ring_groups(on, ring, corner_joins=True)
        # 4-connected background groups on the ring that contain a 4-neighbour: corners only
        # connect to adjacent ring members.
        background_groups = [g for g in _ring_groups([not v for v in on], ring, corner_joins=False)
                             if any(k in four for k in g)]
        table[code] = len(groups) == 1 and len(background_groups) == 1
    return table


def _ring_groups(on: list[bool], ring: tuple[int, ...], corner_joins: bool) -> list[list[int]]:
    """Connected runs of set neighbours around the ring. With `corner_joins`, two 4-neighbours
    on both sides of an unset corner are adjacent too (8-connectivity)."""
    members = [k for k in ring if on[k]]
    parent = {k: k for k in members}

    def find(k):
        while parent[k] != k:
            k = parent[k]
        return k

    for i, k in enumerate(ring):
        following = ring[(i + 1) % 8]
        if on[k] and on[following]:
            parent[find(k)] = find(following)
        if corner_joins and i % 2 == 1:   # ring positions 1, 3, 5, 7 are 4-neighbours
            after_corner = ring[(i + 2) % 8]
            if on[k] and on[after_corner]:
                parent[find(k)] = find(after_corner)
    roots: dict[int, list[int]] = {}
    for k in members:
        roots.setdefault(find(k), []).append(k)
    return list(roots.values())


REMOVABLE = _removable_table()


@numba.njit(**_JIT)
def _partial_squared_magnitude(vx, vy, dimension):
    # vigra `partialSquaredMagnitude`: only the components up to `dimension` count
    if dimension == 0:
        return float(vx) * float(vx)
    return float(vx) * float(vx) + float(vy) * float(vy)


@numba.njit(**_JIT)
def _parabola_run(vx, vy, begin, end, w, dimension, far, s_left, s_centre, s_right, s_apex, s_x, s_y):
    """One run [begin, end) of equal labels of vigra's `boundaryVectorDistParabola`
    (`vector_distance.hxx:159-239`): the lower envelope of the run's parabolas, plus an
    apex-0 parabola on the last pixel of the previous run and one on the first pixel of the
    next run; at the image ends a dummy point `far` away stands in (the image border is no
    boundary). `vx`/`vy` hold the line's vectors, read, then overwritten for the run."""
    width = float(w)
    top = 0
    if begin == 0:
        s_left[0] = 0.0
        s_centre[0] = -1.0
        s_apex[0] = _partial_squared_magnitude(far, far, dimension)
        s_x[0] = far
        s_y[0] = far
    else:
        s_left[0] = float(begin - 1)
        s_centre[0] = float(begin - 1)
        s_apex[0] = 0.0
        s_x[0] = 0
        s_y[0] = 0
    s_right[0] = width
    for current in range(begin, end + 1):
        if current < end:
            px = np.int64(vx[current])
            py = np.int64(vy[current])
        elif end < w:
            px = np.int64(0)
            py = np.int64(0)
        else:
            px = np.int64(far)
            py = np.int64(far)
        apex = _partial_squared_magnitude(px, py, dimension)
        while True:
            diff = float(current) - s_centre[top]
            intersection = float(current) + (apex - s_apex[top] - diff * diff) / (2.0 * diff)
            if intersection < s_left[top]:
                top -= 1
                if top >= 0:
                    continue   # try the parabola below without advancing
                intersection = float(begin)
            elif intersection < s_right[top]:
                s_right[top] = intersection
            if intersection < width:
                top += 1
                s_left[top] = intersection
                s_centre[top] = float(current)
                s_right[top] = width
                s_apex[top] = apex
                s_x[top] = px
                s_y[top] = py
            break
    entry = 0
    for c in range(begin, end):
        while float(c) >= s_right[entry]:
            entry += 1
        offset = int(s_centre[entry] - float(c))
        if dimension == 0:
            vx[c] = offset
            vy[c] = s_y[entry]
        else:
            vx[c] = s_x[entry]
            vy[c] = offset


@numba.njit(**_JIT)
def _parabola_line(lab, vx, vy, w, dimension, far, s_left, s_centre, s_right, s_apex, s_x, s_y):
    """Both passes treat each run of equal labels on its own. Background runs are skipped:
    nothing reads the vectors of background pixels (marking, thinning and the analysis only
    look at labelled pixels, and a run only uses its own pixels' vectors)."""
    begin = 0
    while begin < w:
        label = lab[begin]
        end = begin + 1
        while end < w and lab[end] == label:
            end += 1
        if label != 0:
            _parabola_run(vx, vy, begin, end, w, dimension, far, s_left, s_centre, s_right, s_apex, s_x, s_y)
        begin = end


@numba.njit(**_JIT)
def boundary_vectors(labels):
    """vigra `boundaryVectorDistance(labels, vectors, false, OuterBoundary)`: for every
    labelled pixel the integer (x, y) offset to the centre of the nearest pixel with another
    label (a neighbouring object counts like background), x pass first, then y. Returns
    (vx, vy); background pixels keep meaningless values."""
    height, width = labels.shape
    far = 2 * (width + height)
    vx = np.full((height, width), far, dtype=np.int32)
    vy = np.full((height, width), far, dtype=np.int32)
    n = max(width, height) + 2
    s_left = np.empty(n)
    s_centre = np.empty(n)
    s_right = np.empty(n)
    s_apex = np.empty(n)
    s_x = np.empty(n, dtype=np.int64)
    s_y = np.empty(n, dtype=np.int64)
    for y in range(height):
        _parabola_line(labels[y], vx[y], vy[y], width, 0, far, s_left, s_centre, s_right, s_apex, s_x, s_y)
    # the y pass gathers _TILE columns at a time into contiguous lines (row-wise reads)
    lab = np.empty((_TILE, height), dtype=labels.dtype)
    line_x = np.empty((_TILE, height), dtype=np.int32)
    line_y = np.empty((_TILE, height), dtype=np.int32)
    for x0 in range(0, width, _TILE):
        columns = min(_TILE, width - x0)
        for y in range(height):
            for c in range(columns):
                lab[c, y] = labels[y, x0 + c]
                line_x[c, y] = vx[y, x0 + c]
                line_y[c, y] = vy[y, x0 + c]
        for c in range(columns):
            _parabola_line(lab[c], line_x[c], line_y[c], height, 1, far, s_left, s_centre, s_right, s_apex,
                           s_x, s_y)
        for y in range(height):
            for c in range(columns):
                vx[y, x0 + c] = line_x[c, y]
                vy[y, x0 + c] = line_y[c, y]
    return vx, vy


@numba.njit(**_JIT)
def _mark(skeleton, squared, x, y, label, ends, n_ends):
    skeleton[y, x] = label
    if squared[y, x] == 4:
        ends[n_ends] = y * skeleton.shape[1] + x
        n_ends += 1
    return n_ends


@numba.njit(**_JIT)
def raw_skeleton(labels, vx, vy):
    """Mark the raw skeleton (vigra `skeleton.hxx:427-493`). Returns (skeleton, squared):
    the skeleton image carries each marked pixel's label, `squared` is the squared boundary
    distance (int64) of every pixel.

    Over all 4-neighbour edges (pixel, back neighbour) in scan order: of two same-label pixels
    whose nearest boundary pixels are neither equal nor adjacent, the one nearer the bisector
    of those two boundary pixels is marked; a pixel next to another label is marked unless its
    boundary pixel is that neighbour's neighbour. Then skeleton ends at distance 2 from the
    boundary without a marked neighbour nearer to it get the pixel half-way to it added."""
    height, width = labels.shape
    skeleton = np.zeros((height, width), dtype=labels.dtype)
    squared = np.empty((height, width), dtype=np.int64)
    at_two = 0
    for y in range(height):
        for x in range(width):
            squared[y, x] = np.int64(vx[y, x]) * vx[y, x] + np.int64(vy[y, x]) * vy[y, x]
            if squared[y, x] == 4 and labels[y, x] != 0:
                at_two += 1
    # a pixel is marked at most once per edge, i.e. at most 4 times (arrays are sized up
    # front: re-binding an array inside the pixel loop costs reference counting per pixel)
    ends = np.empty(4 * at_two, dtype=np.int64)
    n_ends = 0
    for y in range(height):
        for x in range(width):
            l1 = labels[y, x]
            v1x = np.int64(vx[y, x])
            v1y = np.int64(vy[y, x])
            for back in range(2):   # 4-neighbourhood back neighbours: (0, -1), then (-1, 0)
                if back == 0:
                    if y == 0:
                        continue
                    x2 = x
                    y2 = y - 1
                else:
                    if x == 0:
                        continue
                    x2 = x - 1
                    y2 = y
                l2 = labels[y2, x2]
                v2x = np.int64(vx[y2, x2])
                v2y = np.int64(vy[y2, x2])
                if l1 == l2:
                    if l1 == 0:
                        continue
                    dpx = x2 - x
                    dpy = y2 - y
                    dvx = v2x - v1x + dpx
                    dvy = v2y - v1y + dpy
                    if max(abs(dvx), abs(dvy)) <= 1:
                        continue   # equal or adjacent boundary pixels: no skeleton between them
                    d1 = dvx * dpx + dvy * dpy
                    d2 = dvx * (v1x + v2x) + dvy * (v1y + v2y)
                    if d1 * d2 <= 0:
                        n_ends = _mark(skeleton, squared, x, y, l1, ends, n_ends)
                    else:
                        n_ends = _mark(skeleton, squared, x2, y2, l2, ends, n_ends)
                else:
                    if l1 != 0 and max(abs(v1x + x - x2), abs(v1y + y - y2)) > 1:
                        skeleton[y, x] = l1
                    if l2 != 0 and max(abs(v2x + x2 - x), abs(v2y + y2 - y)) > 1:
                        skeleton[y2, x2] = l2
    for i in range(n_ends):
        y = ends[i] // width
        x = ends[i] % width
        label = skeleton[y, x]
        count = 0
        for k in range(8):
            nx = x + DX8[k]
            ny = y + DY8[k]
            if 0 <= nx < width and 0 <= ny < height:
                if skeleton[ny, nx] == label and squared[ny, nx] < 4:
                    count += 1
        if count == 0:
            # the vector is (+-2, 0) or (0, +-2) here (squared length 4)
            skeleton[y + vy[y, x] // 2, x + vx[y, x] // 2] = label
    return skeleton, squared


@numba.njit(**_JIT)
def _removable(skeleton, x, y, table):
    label = skeleton[y, x]
    code = 0
    for k in range(8):
        code = (code << 1) | (1 if skeleton[y + DY8[k], x + DX8[k]] == label else 0)
    return table[code]


@numba.njit(**_JIT)
def _earlier(cost, a, b):
    # entries are numbered in push order: equal costs leave first in, first out
    return cost[a] < cost[b] or (cost[a] == cost[b] and a < b)


@numba.njit(**_JIT)
def _push_if_removable(skeleton, squared, table, cost, node, heap, pushes, size, offset, epsilon, x, y):
    """Queue pixel (x, y) if it is marked and removable: entry number `pushes` gets cost
    squared distance + offset and is sifted up the min-heap of entry numbers."""
    if skeleton[y, x] == 0 or not _removable(skeleton, x, y, table):
        return pushes, size, offset
    cost[pushes] = float(squared[y, x]) + offset
    node[pushes] = y * skeleton.shape[1] + x
    i = size
    while i > 0 and _earlier(cost, pushes, heap[(i - 1) // 2]):
        heap[i] = heap[(i - 1) // 2]
        i = (i - 1) // 2
    heap[i] = pushes
    return pushes + 1, size + 1, offset + epsilon


@numba.njit(**_JIT)
def _pop(cost, node, heap, size):
    top = node[heap[0]]
    size -= 1
    last = heap[size]
    i = 0
    while 2 * i + 1 < size:
        child = 2 * i + 1
        if child + 1 < size and _earlier(cost, heap[child + 1], heap[child]):
            child += 1
        if _earlier(cost, last, heap[child]):
            break
        heap[i] = heap[child]
        i = child
    heap[i] = last
    return top, size


@numba.njit(**_JIT)
def thin(skeleton, squared, table):
    """vigra `skeletonThinning` (`skeleton.hxx:140-228`), in place: remove removable pixels
    (see `REMOVABLE`), cheapest squared distance first. vigra adds an offset growing by
    0.5 / pixel count after every push so that equal costs leave in push order; here the
    same cost plus the push number as the tie-breaker. Only pixels with all 8 neighbours
    inside the image take part."""
    height, width = skeleton.shape
    epsilon = 0.5 / (height * width)
    offset = 0.0
    # entries (cost, pixel) in push order; initial pushes are at most one per marked pixel
    capacity = 16
    for y in range(height):
        for x in range(width):
            if skeleton[y, x] != 0:
                capacity += 1
    cost = np.empty(capacity)
    node = np.empty(capacity, dtype=np.int64)
    heap = np.empty(capacity, dtype=np.int64)
    pushes = 0
    size = 0
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            if skeleton[y, x] != 0:   # (a call per pixel would cost reference counting per pixel)
                pushes, size, offset = _push_if_removable(skeleton, squared, table, cost, node, heap, pushes,
                                                          size, offset, epsilon, x, y)
    while size > 0:
        p, size = _pop(cost, node, heap, size)
        y = p // width
        x = p % width
        if skeleton[y, x] == 0 or not _removable(skeleton, x, y, table):
            continue
        skeleton[y, x] = 0
        if pushes + 8 > cost.shape[0]:
            cost = np.concatenate((cost, np.empty_like(cost)))
            node = np.concatenate((node, np.empty_like(node)))
            heap = np.concatenate((heap, np.empty_like(heap)))
        for k in range(8):
            nx = x + DX8[k]
            ny = y + DY8[k]
            if 1 <= nx < width - 1 and 1 <= ny < height - 1:
                pushes, size, offset = _push_if_removable(skeleton, squared, table, cost, node, heap, pushes,
                                                          size, offset, epsilon, nx, ny)
