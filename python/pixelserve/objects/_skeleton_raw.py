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
def _parabola_run(vx, vy, origin, begin, end, w, dimension, far, s_left, s_centre, s_right, s_apex, s_x, s_y):
    """One run [begin, end) of equal labels of vigra's `boundaryVectorDistParabola`
    (`vector_distance.hxx:159-239`) on a line of length `w`: the lower envelope of the run's
    parabolas, plus an apex-0 parabola on the last pixel of the previous run and one on the
    first pixel of the next run; at the image ends a dummy point `far` away stands in (the
    image border is no boundary). `vx`/`vy` hold the vectors of line positions `origin`...,
    read, then overwritten for the run. Positions stay the frame's: the intersections are
    doubles whose rounding depends on them."""
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
            px = np.int64(vx[current - origin])
            py = np.int64(vy[current - origin])
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
            vx[c - origin] = offset
            vy[c - origin] = s_y[entry]
        else:
            vx[c - origin] = s_x[entry]
            vy[c - origin] = offset



@numba.njit(**_JIT)
def object_vectors(labels, label, box, rx, ry, vx, vy, s_left, s_centre, s_right, s_apex, s_x, s_y):
    """vigra `boundaryVectorDistance(labels, vectors, false, OuterBoundary)` for the pixels of
    one object: the integer (x, y) offset to the centre of the nearest pixel with another
    label (a neighbouring object counts like background), x pass first, then y. vigra runs
    both passes over whole lines, but each run of equal labels is independent of the others
    (it sees only its own pixels and the pixels just before and after it), so the object's
    runs within its box (x0, y0, x1, y1) give the same vectors. `vx`/`vy` are region buffers
    whose [0, 0] is frame pixel (ry, rx); other pixels of the buffers are left alone."""
    height, width = labels.shape
    far = 2 * (width + height)
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    for y in range(y0, y1):
        _object_runs(labels[y], label, x0, x1, vx[y - ry], vy[y - ry], rx, width, 0, far, s_left, s_centre,
                     s_right, s_apex, s_x, s_y)
    for x in range(x0, x1):
        _object_runs(labels[:, x], label, y0, y1, vx[:, x - rx], vy[:, x - rx], ry, height, 1, far, s_left,
                     s_centre, s_right, s_apex, s_x, s_y)


@numba.njit(**_JIT)
def _object_runs(line, label, first, last, vx, vy, origin, w, dimension, far, s_left, s_centre, s_right, s_apex,
                 s_x, s_y):
    """One pass (`dimension` 0: x, 1: y) over the runs of `label` in line[first:last]; the x
    pass starts from vectors `far` away (vigra's initial value)."""
    i = first
    while i < last:
        if line[i] != label:
            i += 1
            continue
        begin = i
        while i < last and line[i] == label:
            if dimension == 0:
                vx[i - origin] = far
                vy[i - origin] = far
            i += 1
        _parabola_run(vx, vy, origin, begin, i, w, dimension, far, s_left, s_centre, s_right, s_apex, s_x, s_y)


@numba.njit(**_JIT)
def _mark(mark, squared, x, y, ends, n_ends):
    mark[y, x] = 1
    if squared[y, x] == 4:
        ends[n_ends] = y * mark.shape[1] + x
        n_ends += 1
    return n_ends


@numba.njit(**_JIT)
def mark_object(labels, label, box, rx, ry, vx, vy, squared, mark, ends):
    """Mark the raw skeleton of one object (vigra `skeleton.hxx:427-493`) into the region
    buffer `mark` (1 = marked), after `object_vectors`; `squared` receives the squared
    boundary distance of the object's pixels. `ends` is scratch of 4 entries per pixel.

    vigra walks all 4-neighbour edges (pixel, back neighbour) of the frame in scan order: of
    two same-label pixels whose nearest boundary pixels are neither equal nor adjacent, the
    one nearer the bisector of those two boundary pixels is marked; a pixel next to another
    label is marked unless its boundary pixel is that neighbour's neighbour. Then skeleton
    ends at distance 2 from the boundary without a marked neighbour nearer to it get the pixel
    half-way to it added, in marking order. Only edges touching the object mark its pixels and
    only its own marks count for its ends, so its edges in scan order give vigra's marks."""
    height, width = labels.shape
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    for y in range(y0, y1):
        for x in range(x0, x1):
            if labels[y, x] == label:
                squared[y - ry, x - rx] = (np.int64(vx[y - ry, x - rx]) * vx[y - ry, x - rx]
                                           + np.int64(vy[y - ry, x - rx]) * vy[y - ry, x - rx])
    n_ends = 0
    # an edge touching the object has its first pixel in the box or just right of / below it
    for y in range(y0, min(y1 + 1, height)):
        for x in range(x0, min(x1 + 1, width)):
            l1 = labels[y, x]
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
                if l1 != label and l2 != label:
                    continue
                if l1 == l2:
                    v1x = np.int64(vx[y - ry, x - rx])
                    v1y = np.int64(vy[y - ry, x - rx])
                    v2x = np.int64(vx[y2 - ry, x2 - rx])
                    v2y = np.int64(vy[y2 - ry, x2 - rx])
                    dpx = x2 - x
                    dpy = y2 - y
                    dvx = v2x - v1x + dpx
                    dvy = v2y - v1y + dpy
                    if max(abs(dvx), abs(dvy)) <= 1:
                        continue   # equal or adjacent boundary pixels: no skeleton between them
                    d1 = dvx * dpx + dvy * dpy
                    d2 = dvx * (v1x + v2x) + dvy * (v1y + v2y)
                    if d1 * d2 <= 0:
                        n_ends = _mark(mark, squared, x - rx, y - ry, ends, n_ends)
                    else:
                        n_ends = _mark(mark, squared, x2 - rx, y2 - ry, ends, n_ends)
                elif l1 == label:
                    if max(abs(vx[y - ry, x - rx] + x - x2), abs(vy[y - ry, x - rx] + y - y2)) > 1:
                        mark[y - ry, x - rx] = 1
                elif max(abs(vx[y2 - ry, x2 - rx] + x2 - x), abs(vy[y2 - ry, x2 - rx] + y2 - y)) > 1:
                    mark[y2 - ry, x2 - rx] = 1
    region_w = mark.shape[1]
    for i in range(n_ends):
        y = ends[i] // region_w
        x = ends[i] % region_w
        count = 0
        for k in range(8):
            nx = x + rx + DX8[k]
            ny = y + ry + DY8[k]
            if 0 <= nx < width and 0 <= ny < height:
                if mark[ny - ry, nx - rx] and labels[ny, nx] == label and squared[ny - ry, nx - rx] < 4:
                    count += 1
        if count == 0:
            # the vector is (+-2, 0) or (0, +-2) here (squared length 4)
            mark[y + vy[y, x] // 2, x + vx[y, x] // 2] = 1


@numba.njit(inline="always", **_JIT)
def _removable(labels, mark, rx, ry, x, y, table):
    """vigra's neighbourhood code of marked frame pixel (x, y): bit 7 - k = neighbour k is a
    marked pixel of the same label."""
    label = labels[y, x]
    code = 0
    for k in range(8):
        nx = x + DX8[k]
        ny = y + DY8[k]
        same = mark[ny - ry, nx - rx] != 0 and labels[ny, nx] == label
        code = (code << 1) | (1 if same else 0)
    return table[code]


@numba.njit(**_JIT)
def _earlier(cost, a, b):
    # entries are numbered in push order: equal costs leave first in, first out
    return cost[a] < cost[b] or (cost[a] == cost[b] and a < b)


@numba.njit(inline="always", **_JIT)
def _push_if_removable(labels, mark, rx, ry, squared, table, cost, node, heap, pushes, size, offset, epsilon, x, y):
    """Queue frame pixel (x, y) if it is marked and removable: entry number `pushes` gets
    cost squared distance + offset and is sifted up the min-heap of entry numbers."""
    if mark[y - ry, x - rx] == 0 or not _removable(labels, mark, rx, ry, x, y, table):
        return pushes, size, offset
    cost[pushes] = float(squared[y - ry, x - rx]) + offset
    node[pushes] = y * labels.shape[1] + x
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
def _doubled(cost, node, heap):
    return (np.concatenate((cost, np.empty_like(cost))), np.concatenate((node, np.empty_like(node))),
            np.concatenate((heap, np.empty_like(heap))))


@numba.njit(**_JIT)
def thin_region(labels, rx, ry, mark, squared, table, epsilon, cost, node, heap):
    """vigra `skeletonThinning` (`skeleton.hxx:140-228`) of the marks in the region buffer
    `mark`, in place: remove removable pixels (see `REMOVABLE`), cheapest
    squared distance first. vigra queues the whole frame's marks at once, adding an offset
    that grows by `epsilon` = 0.5 / pixel count after every push so that equal costs leave in
    push order; here the same cost, with the push number as the tie-breaker. Only pixels with
    all 8 neighbours inside the frame take part. `cost`, `node`, `heap` are scratch; returns
(the number of pushes, the scratch, grown if it had to).

    A region may hold several objects: a removal queues its marked neighbours whatever their
    label, so objects whose pixels touch must be thinned together; objects that do not touch
    never meet in the queue (see `skeleton._analyse_frame` for the offsets)."""
    height, width = labels.shape
    region_h, region_w = mark.shape
    first_y, last_y = max(ry, 1), min(ry + region_h, height - 1)
    first_x, last_x = max(rx, 1), min(rx + region_w, width - 1)
    marks = 0
    for y in range(first_y, last_y):
        for x in range(first_x, last_x):
            marks += mark[y - ry, x - rx]
    # (no array may be re-bound inside a pixel loop: numba would count references per pixel)
    while cost.shape[0] < marks + 8:
        cost, node, heap = _doubled(cost, node, heap)
    offset = 0.0
    pushes = 0
    size = 0
    for y in range(first_y, last_y):
        for x in range(first_x, last_x):
            if mark[y - ry, x - rx] != 0:
                pushes, size, offset = _push_if_removable(labels, mark, rx, ry, squared, table, cost, node, heap,
                                                          pushes, size, offset, epsilon, x, y)
    while size > 0:
        p, size = _pop(cost, node, heap, size)
        y = p // width
        x = p % width
        if mark[y - ry, x - rx] == 0 or not _removable(labels, mark, rx, ry, x, y, table):
            continue
        mark[y - ry, x - rx] = 0
        if pushes + 8 > cost.shape[0]:
            cost, node, heap = _doubled(cost, node, heap)
        for k in range(8):
            nx = x + DX8[k]
            ny = y + DY8[k]
            if 1 <= nx < width - 1 and 1 <= ny < height - 1:
                pushes, size, offset = _push_if_removable(labels, mark, rx, ry, squared, table, cost, node, heap,
                                                          pushes, size, offset, epsilon, nx, ny)
    return pushes, cost, node, heap
