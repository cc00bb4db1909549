"""Numba kernels for the per-object part of vigra's skeleton features: shortest paths on the
skeleton graph, the skeleton tree, loops (holes) and branch pruning (vigra
`skeleton.hxx:507-784`; see `shared/notes/skeleton-features.md` §3-4).

Line numbers are vigra's at tag `Version-1-11-1` (the note's numbering).

The graph is the frame's 8-neighbour grid. Edge weights are never stored: an edge between
two marked pixels of one label weighs 1 or sqrt(2), an edge touching any other marked pixel
weighs `INF`, an edge between two unmarked pixels 0 (`skeleton.hxx:510-537`), unless the
analysis has cut it (set to `INF`), which a bit per pixel and direction records. Searches
here only ever leave a node at a finite distance, i.e. walk the object's own skeleton (see
the loop test in `analyse_objects`), so one object's cuts never matter to another.

Shortest paths reproduce vigra's `ShortestPathDijkstra` on its `ChangeablePriorityQueue`
(`graph_algorithms.hxx:297-587`, `priority_queue.hxx:412-591`) exactly, because ties between
equally long paths decide the results: the same binary heap moves, relaxation only on a
strictly shorter distance, neighbours in vigra's order. vigra confines every search of an
object to the bounding box of its skeleton (a one-pixel frame of "don't touch" marks around
it) and resets that box before the first search, so all per-search state here lives in
box-sized scratch arrays indexed by box-local node numbers.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._skeleton_raw import DX8, DY8

_JIT = dict(nogil=True, cache=True, error_model="numpy")

DBL_MAX = np.finfo(np.float64).max
INF = 0.5 * DBL_MAX   # vigra's `infiniteWeight` (`skeleton.hxx:513`)
STEP8 = np.array([math.sqrt(2.0), 1.0, math.sqrt(2.0), 1.0, 1.0, math.sqrt(2.0), 1.0, math.sqrt(2.0)])


@numba.njit(**_JIT)
def _weight(skeleton, cut, x, y, k):
    """Weight of the edge from pixel (x, y) to its neighbour k (which is inside the image)."""
    if (cut[y, x] >> k) & 1:
        return INF
    here = skeleton[y, x]
    there = skeleton[y + DY8[k], x + DX8[k]]
    if here != 0 or there != 0:
        return STEP8[k] if here == there else INF
    return 0.0


@numba.njit(**_JIT)
def _cut(cut, x, y, k):
    cut[y, x] |= np.uint8(1 << k)
    cut[y + DY8[k], x + DX8[k]] |= np.uint8(1 << (7 - k))


@numba.njit(**_JIT)
def _swap(heap, where, i, j):
    a = heap[i]
    b = heap[j]
    heap[i] = b
    heap[j] = a
    where[b] = i
    where[a] = j


@numba.njit(**_JIT)
def _bubble_up(heap, where, priority, k):
    while k > 1 and priority[heap[k // 2]] > priority[heap[k]]:
        _swap(heap, where, k, k // 2)
        k //= 2


@numba.njit(**_JIT)
def _bubble_down(heap, where, priority, k, size):
    while 2 * k <= size:
        j = 2 * k
        if j < size and priority[heap[j]] > priority[heap[j + 1]]:
            j += 1
        if priority[heap[k]] <= priority[heap[j]]:
            break
        _swap(heap, where, k, j)
        k = j


@numba.njit(**_JIT)
def _push(heap, where, priority, size, node, value):
    """`ChangeablePriorityQueue::push` (1-based heap; `where[node]` is -1 when absent).
    `priority` doubles as vigra's distance map: both always hold the same value."""
    if where[node] == -1:
        size += 1
        where[node] = size
        heap[size] = node
        priority[node] = value
        _bubble_up(heap, where, priority, size)
    elif value > priority[node]:
        priority[node] = value
        _bubble_down(heap, where, priority, where[node], size)
    elif value < priority[node]:
        priority[node] = value
        _bubble_up(heap, where, priority, where[node])
    return size


@numba.njit(**_JIT)
def _pop(heap, where, priority, size):
    top = heap[1]
    _swap(heap, where, 1, size)
    size -= 1
    _bubble_down(heap, where, priority, 1, size)
    where[top] = -1
    return size


@numba.njit(**_JIT)
def _shortest_paths(skeleton, cut, box, source, target, max_distance, stop_distance, pred, dist, heap, where,
                    order, n_previous):
    """One `ShortestPathDijkstra::run`/`reRun` inside the object's box. `pred` must be -1
    (vigra's INVALID) on the box except for the `n_previous` nodes discovered by the previous
    search, which are reset first (what `reRun` does). Returns the number of discovered nodes
    (in `order`); the last of them is vigra's `target()` when no target is given.

    Nodes farther than `max_distance` are not queued (vigra's maxDistance); the search also
    stops when the nearest queued node is farther than `stop_distance` (<= max_distance),
    which vigra does not do, see the loop test in `analyse_objects`."""
    x0, y0, box_w, box_h = box[0], box[1], box[2], box[3]
    for i in range(n_previous):
        pred[order[i]] = -1
    pred[source] = source
    size = _push(heap, where, dist, 0, source, 0.0)
    n = 0
    while size > 0:
        top = heap[1]
        if dist[top] > stop_distance:
            break
        size = _pop(heap, where, dist, size)
        order[n] = top
        n += 1
        if top == target:
            break
        tx = top % box_w
        ty = top // box_w
        for k in range(8):
            nx = tx + DX8[k]
            ny = ty + DY8[k]
            if nx < 0 or ny < 0 or nx >= box_w or ny >= box_h:
                continue   # outside the box: the image border or vigra's "don't touch" frame
            other = ny * box_w + nx
            candidate = dist[top] + _weight(skeleton, cut, x0 + tx, y0 + ty, k)
            if where[other] != -1:
                if candidate < dist[other]:
                    size = _push(heap, where, dist, size, other, candidate)
                    pred[other] = top
            elif pred[other] == -1:
                if candidate <= max_distance:
                    size = _push(heap, where, dist, size, other, candidate)
                    pred[other] = top
    while size > 0:
        pred[heap[1]] = -1
        size = _pop(heap, where, dist, size)
    return n


@numba.njit(**_JIT)
def _ordered_clockwise(ox, oy, ax, ay, bx, by):
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox) <= 0


@numba.njit(**_JIT)
def _encloses_other_label(poly, n, box, labels, label):
    """True if the closed polygon through the box nodes poly[:n] (first = last), filled with
    its contour included, covers a pixel whose label is not `label`: the negation of vigra's
    `inspectPolygon(poly, CheckForHole)` with `createScanIntervals` (`polygon.hxx:900-994`)
    on integer points. Scanline crossings are kept as sort keys y * (width + 1) + x."""
    x0, y0, box_w = box[0], box[1], box[2]
    row = labels.shape[1] + 1
    keys = np.empty(2 * n, dtype=np.int64)
    count = 0
    drop_next_start = False
    for k in range(n - 1):
        x1 = x0 + poly[k] % box_w
        y1 = y0 + poly[k] // box_w
        x2 = x0 + poly[k + 1] % box_w
        y2 = y0 + poly[k + 1] // box_w
        if y1 == y2:
            continue
        # integer division as in vigra (truncating; exact for the unit steps used here)
        slope = float(int((x2 - x1) / (y2 - y1)))
        step = 1.0 if y1 < y2 else -1.0
        y = float(y1)
        y_end = float(y2)
        if drop_next_start:
            y += step
            drop_next_start = False
        while (y - y_end) * step < 0.0:
            keys[count] = int(y) * row + int(x1 + (y - y1) * slope)
            count += 1
            y += step
        # the segment ends exactly on a scanline (always, for integer points)
        j = (k + 2) % n
        convex = _ordered_clockwise(x1, y1, x2, y2, x0 + poly[j] % box_w, y0 + poly[j] // box_w)
        if convex:
            keys[count] = y2 * row + x2
            count += 1
        while j != k + 1:
            bend = step * (y0 + poly[j] // box_w - y_end)
            if bend != 0.0:
                if (convex and bend > 0.0) or (not convex and bend < 0.0):
                    drop_next_start = True
                break
            j = (j + 1) % n
    crossings = np.sort(keys[1 if drop_next_start else 0:count])
    for i in range(0, crossings.shape[0] - 1, 2):
        y = crossings[i] // row
        for x in range(crossings[i] % row, crossings[i + 1] % row + 1):
            if labels[y, x] != label:
                return True
    return False


@numba.njit(**_JIT)
def skeleton_boxes(skeleton, n_labels):
    """Per label: the anchor (the last marked pixel in scan order, flat index; -1 if none)
    and the bounding box (x0, y0, width, height) of its marked pixels; and the largest
    number of marked pixels of one label."""
    height, width = skeleton.shape
    anchor = np.full(n_labels, -1, dtype=np.int64)
    lower = np.full((n_labels, 2), np.iinfo(np.int64).max, dtype=np.int64)
    upper = np.full((n_labels, 2), -1, dtype=np.int64)
    count = np.zeros(n_labels, dtype=np.int64)
    for y in range(height):
        for x in range(width):
            label = skeleton[y, x]
            if label != 0:
                anchor[label] = y * width + x
                count[label] += 1
                lower[label, 0] = min(lower[label, 0], x)
                lower[label, 1] = min(lower[label, 1], y)
                upper[label, 0] = max(upper[label, 0], x)
                upper[label, 1] = max(upper[label, 1], y)
    boxes = np.zeros((n_labels, 4), dtype=np.int64)
    for label in range(n_labels):
        if anchor[label] >= 0:
            boxes[label, 0] = lower[label, 0]
            boxes[label, 1] = lower[label, 1]
            boxes[label, 2] = upper[label, 0] - lower[label, 0] + 1
            boxes[label, 3] = upper[label, 1] - lower[label, 1] + 1
    return anchor, boxes, max(1, count.max())


@numba.njit(**_JIT)
def _step(a, b, box_w):
    dx = a % box_w - b % box_w
    dy = a // box_w - b // box_w
    return math.sqrt(float(dx * dx + dy * dy))


@numba.njit(**_JIT)
def analyse_objects(labels, skeleton, squared, anchor, boxes, max_nodes, pruning_threshold):
    """The per-object loop of vigra's `skeletonizeImageImpl` (`skeleton.hxx:541-784`) with
    `pruneSalienceRelative(pruning_threshold)`. Returns `scalars` (n_labels, 6): diameter,
    euclidean diameter, total length, average length, branch count, hole count; and `points`
    (n_labels, 3, 2): skeleton centre, terminal 1, terminal 2 as (x, y). `max_nodes` bounds
    the marked pixels of one label (tree-sized scratch); searches need box-sized scratch."""
    height, width = skeleton.shape
    n_labels = anchor.shape[0]
    scalars = np.zeros((n_labels, 6))
    points = np.zeros((n_labels, 3, 2), dtype=np.int64)
    cut = np.zeros((height, width), dtype=np.uint8)
    edges = (width - 1) * height + width * (height - 1) + 2 * (width - 1) * (height - 1)
    max_weight = edges * math.sqrt(2.0)

    area = 1
    for label in range(n_labels):
        area = max(area, boxes[label, 2] * boxes[label, 3])
    pred = np.full(area, -1, dtype=np.int32)
    dist = np.empty(area)
    heap = np.full(area + 1, -1, dtype=np.int32)
    where = np.full(area, -1, dtype=np.int32)
    order = np.empty(area, dtype=np.int32)
    poly = np.empty(area + 2, dtype=np.int32)
    tree_of = np.full(area, -1, dtype=np.int32)   # box node -> rank in the tree
    # tree data, indexed by discovery rank in the search from the centre
    tree = np.empty(max_nodes, dtype=np.int32)         # rank -> box node
    parent = np.empty(max_nodes, dtype=np.int32)       # ranks
    principal = np.empty(max_nodes, dtype=np.int32)
    length = np.empty(max_nodes)
    salience = np.empty(max_nodes)
    partial_area = np.empty(max_nodes, dtype=np.int64)
    is_loop = np.empty(max_nodes, dtype=np.bool_)
    line = np.empty(max_nodes, dtype=np.int32)   # the diameter path (skeleton nodes)
    arc = np.empty(max_nodes)

    for label in range(1, n_labels):
        if anchor[label] < 0:
            continue
        box = boxes[label]
        x0, y0, box_w, box_h = box[0], box[1], box[2], box[3]
        pred[:box_w * box_h] = -1
        start = (anchor[label] // width - y0) * box_w + anchor[label] % width - x0

        # diameter (`skeleton.hxx:547-560`): the farthest node from the anchor (the last marked
        # pixel: only its 8-connected piece of skeleton is analysed), then the farthest from that
        n = _shortest_paths(skeleton, cut, box, start, -1, max_weight, max_weight, pred, dist, heap, where, order, 0)
        end_a = order[n - 1]
        n = _shortest_paths(skeleton, cut, box, end_a, -1, max_weight, max_weight, pred, dist, heap, where, order, n)
        end_b = order[n - 1]
        m = 1
        line[0] = end_b
        while pred[line[m - 1]] != line[m - 1]:
            line[m] = pred[line[m - 1]]
            m += 1
        arc[0] = 0.0
        for i in range(1, m):
            arc[i] = arc[i - 1] + _step(line[i], line[i - 1], box_w)
        diameter = arc[m - 1]
        # centre: the node at the rounded arc-length median (`polygon.hxx:379-398`)
        quantile = 0.0
        if m > 1:
            half = 0.5 * arc[m - 1]
            k = 0
            while arc[k] < half:
                k += 1
            k -= 1
            quantile = k + (half - arc[k]) / (arc[k + 1] - arc[k])
        centre = line[int(quantile + 0.5)]

        # the shortest-path tree from the centre, in discovery order (`:571-574`)
        n = _shortest_paths(skeleton, cut, box, centre, -1, max_weight, max_weight, pred, dist, heap, where, order, n)
        for r in range(n):
            tree[r] = order[r]
            tree_of[order[r]] = r
            principal[r] = -1
            length[r] = 0.0
            salience[r] = 1.0
            partial_area[r] = 0
            is_loop[r] = False

        # leaves to centre (`:575-626`): subtree lengths, principal children, salience; cut
        # edges to back neighbours that close cycles between two already-branched nodes
        for r in range(n - 1, -1, -1):
            node = tree[r]
            up = tree_of[pred[node]]
            parent[r] = up
            nx = x0 + node % box_w
            ny = y0 + node // box_w
            for k in range(4):
                bx = nx + DX8[k]
                by = ny + DY8[k]
                if bx < 0 or by < 0 or bx >= width:
                    continue
                if _weight(skeleton, cut, nx, ny, k) == INF:
                    continue
                other = (by - y0) * box_w + bx - x0
                if other == tree[up] or pred[other] == node:
                    continue
                if principal[r] == -1 or principal[tree_of[other]] == -1:
                    continue
                _cut(cut, nx, ny, k)
            candidate = length[r] + _step(node, tree[up], box_w)
            if length[up] < candidate:
                length[up] = candidate
                principal[up] = r
            if length[r] >= 4.0:
                salience[r] = max(salience[r], (length[r] + 0.5) / math.sqrt(float(squared[ny, nx])))
                if salience[up] < salience[r]:
                    salience[up] = salience[r]

        # centre to leaves (`:628-650`): branch lengths and salience along principal chains,
        # twice the shoelace area prefix; the centre counts as a loop (never pruned)
        for r in range(n):
            up = parent[r]
            node = tree[r]
            if principal[up] == r:
                length[r] = length[up]
                salience[r] = salience[up]
            else:
                length[r] += _step(tree[up], node, box_w)
            ux = x0 + tree[up] % box_w
            uy = y0 + tree[up] // box_w
            partial_area[r] = partial_area[up] + ((x0 + node % box_w) * uy - (y0 + node // box_w) * ux)
        is_loop[0] = True

        # leaves to centre (`:652-731`): at each leaf, test the cycles its remaining edges
        # close (area > 3/2) for a hole, then delete the branch if it ends >= 2 px inside the
        # object ("branches that don't reach the border are artefacts"); loops protect the
        # path to the centre
        holes = 0
        total_length = 0.0
        n_previous = n
        for r in range(n - 1, -1, -1):
            if principal[r] == -1:
                node = tree[r]
                nx = x0 + node % box_w
                ny = y0 + node // box_w
                for k in range(8):
                    ox = nx + DX8[k]
                    oy = ny + DY8[k]
                    if ox < 0 or oy < 0 or ox >= width or oy >= height:
                        continue
                    other = (oy - y0) * box_w + ox - x0
                    if 0 <= ox - x0 < box_w and 0 <= oy - y0 < box_h and tree_of[other] == parent[r]:
                        continue
                    if _weight(skeleton, cut, nx, ny, k) == INF:
                        continue
                    o = tree_of[other]
                    area2 = abs(partial_area[r] - (nx * oy - ny * ox) - partial_area[o])
                    if area2 <= 3:
                        continue
                    _cut(cut, nx, ny, k)
                    # vigra searches node -> other without a distance limit. If no path of
                    # skeleton edges is left, `other` keeps its first predecessor, `node` (a
                    # longer path cannot beat INF: INF + w rounds to INF), the polygon is
                    # node, other, node and encloses nothing, whatever else that search
                    # visits; so the search stops once only INF-distant nodes are queued,
                    # instead of flooding the box (queueing stays as in vigra: it decides
                    # which of equally short paths wins).
                    n_previous = _shortest_paths(skeleton, cut, box, node, other, DBL_MAX, max_weight, pred, dist,
                                                 heap, where, order, n_previous)
                    if order[n_previous - 1] != other:
                        continue
                    poly[0] = node
                    size = 1
                    p = other
                    while True:
                        poly[size] = p
                        size += 1
                        if pred[p] == p:
                            break
                        p = pred[p]
                    if _encloses_other_label(poly, size, box, labels, label):
                        holes += 1
                        total_length += length[r] + length[o]
                        most = max(salience[r], salience[o])
                        for i in range(1, size):
                            t = tree_of[poly[i]]
                            if t >= 0:   # nodes off the tree are never read again
                                is_loop[t] = True
                                salience[t] = max(salience[t], most)
                if not is_loop[r] and squared[ny, nx] >= 4:
                    t = r
                    while True:
                        salience[t] = 0.0
                        tx = x0 + tree[t] % box_w
                        ty = y0 + tree[t] // box_w
                        for k in range(8):
                            if 0 <= tx + DX8[k] < width and 0 <= ty + DY8[k] < height:
                                _cut(cut, tx, ty, k)
                        if principal[parent[t]] != t:
                            break
                        t = parent[t]
            if is_loop[r]:
                is_loop[parent[r]] = True

        # pruning and counting (`:733-770`): relative to the centre's salience
        threshold = pruning_threshold * salience[0]
        branches = 0
        branch_length = 0.0
        for r in range(n):
            if principal[r] == -1 and salience[r] >= threshold and not is_loop[r]:
                branches += 1
                branch_length += length[r]
                total_length += length[r]
        for r in range(n):
            tree_of[tree[r]] = -1

        ax = x0 + end_a % box_w
        ay = y0 + end_a // box_w
        bx = x0 + end_b % box_w
        by = y0 + end_b // box_w
        scalars[label, 0] = diameter
        scalars[label, 1] = math.sqrt(float((ax - bx) * (ax - bx) + (ay - by) * (ay - by)))
        scalars[label, 2] = total_length
        scalars[label, 3] = branch_length / branches if branches > 0 else 0.0
        scalars[label, 4] = branches
        scalars[label, 5] = holes
        points[label, 0, 0] = x0 + centre % box_w
        points[label, 0, 1] = y0 + centre // box_w
        points[label, 1, 0] = bx
        points[label, 1, 1] = by
        points[label, 2, 0] = ax
        points[label, 2, 1] = ay
    return scalars, points
