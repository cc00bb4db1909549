"""Numba kernels for the per-object part of vigra's skeleton features: shortest paths on the
skeleton graph, the skeleton tree, loops (holes) and branch pruning (vigra
`skeleton.hxx:507-784`; see `shared/notes/skeleton-features.md` §3-4).

Line numbers are vigra's at tag `Version-1-11-1` (the note's numbering).

The graph is the frame's 8-neighbour grid: an edge between two marked pixels of one label
weighs 1 or sqrt(2), an edge touching any other marked pixel weighs `INF`, an edge between
two unmarked pixels 0 (`skeleton.hxx:510-537`), unless the analysis has cut it (set to
`INF`). Only an object's own edges are ever cut, and searches only ever leave a node at a
finite distance, i.e. walk the object's own skeleton (see the loop test in
`analyse_object`), so each object gets its finite edges as bits per node of its box
(`adjacency`: bit k = the edge to neighbour k weighs `STEP8[k]`), cuts clear them, and every
other edge weighs `INF`.

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
def _shortest_paths(adjacency, neighbour, box_w, box_h, source, target, limited, stop_distance, pred, dist, heap,
                    where, order, n_previous):
    """One `ShortestPathDijkstra::run`/`reRun` inside the object's box. `pred` must be -1
    (vigra's INVALID) on the box except for the `n_previous` nodes discovered by the previous
    search, which are reset first (what `reRun` does). Returns the number of discovered nodes
    (in `order`); the last of them is vigra's `target()` when no target is given.

    `limited`: vigra's maxDistance is the graph's total weight, which no `INF` edge fits
    under, so only finite edges are followed; otherwise nodes behind `INF` edges are queued
    too, as vigra does (they shape the heap). The search also stops when the nearest queued
    node is farther than `stop_distance`, which vigra does not do, see the loop test in
    `analyse_object`. `neighbour[k]` is the box-local offset of neighbour k."""
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
        bits = adjacency[top]
        if limited and bits == 0:
            continue
        tx = top % box_w
        ty = top // box_w
        for k in range(8):
            if (bits >> k) & 1:
                candidate = dist[top] + STEP8[k]
            elif limited:
                continue
            else:
                nx = tx + DX8[k]
                ny = ty + DY8[k]
                if nx < 0 or ny < 0 or nx >= box_w or ny >= box_h:
                    continue   # outside the box: the image border or vigra's "don't touch" frame
                candidate = dist[top] + INF
            other = top + neighbour[k]
            if where[other] != -1:
                if candidate < dist[other]:
                    size = _push(heap, where, dist, size, other, candidate)
                    pred[other] = top
            elif pred[other] == -1:
                size = _push(heap, where, dist, size, other, candidate)
                pred[other] = top
    # what is left queued is undiscovered: vigra's later searches reset it
    for i in range(1, size + 1):
        pred[heap[i]] = -1
        where[heap[i]] = -1
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
def _step(a, b, box_w):
    dx = a % box_w - b % box_w
    dy = a // box_w - b // box_w
    return math.sqrt(float(dx * dx + dy * dy))




@numba.njit(**_JIT)
def graph_scratch(area):
    """Scratch arrays for `analyse_object` on boxes of up to `area` pixels."""
    return (np.full(area, -1, dtype=np.int32),        # pred: box node -> predecessor
            np.empty(area),                            # dist
            np.full(area + 1, -1, dtype=np.int32),    # heap (1-based)
            np.full(area, -1, dtype=np.int32),        # where: box node -> heap slot
            np.empty(area, dtype=np.int32),            # order: discovery order of a search
            np.empty(area + 2, dtype=np.int32),        # poly: a loop's polygon
            np.full(area, -1, dtype=np.int32),        # tree_of: box node -> rank in the tree
            np.zeros(area, dtype=np.uint8),            # adjacency
            np.empty((3, area)),                       # length, salience (per tree rank), arc
            np.empty((6, area), dtype=np.int64))       # tree, parent, principal, area (per rank), line, loop


@numba.njit(**_JIT)
def _cut(adjacency, node, k, neighbour):
    if (adjacency[node] >> k) & 1:
        adjacency[node] &= np.uint8(~(1 << k) & 0xFF)
        adjacency[node + neighbour[k]] &= np.uint8(~(1 << (7 - k)) & 0xFF)


@numba.njit(**_JIT)
def analyse_object(labels, label, pixel_box, rx, ry, mark, squared, scratch, max_weight, pruning_threshold,
                   scalars, points):
    """One pass of the per-object loop of vigra's `skeletonizeImageImpl` (`skeleton.hxx:541-784`)
    with `pruneSalienceRelative(pruning_threshold)`, on the object's thinned marks in the region
    buffer `mark` (frame pixel (rx, ry) at [0, 0]). Writes scalars[label] (diameter,
    euclidean diameter, total length, average length, branch count, hole count) and
    points[label] (skeleton centre, terminal 1, terminal 2 as (x, y)); an object without
    marks keeps zeros. `pixel_box` (x0, y0, x1, y1) bounds the object's pixels."""
    height, width = labels.shape
    pred, dist, heap, where, order, poly, tree_of, adjacency, reals, ints = scratch
    length, salience, arc = reals[0], reals[1], reals[2]
    tree, parent, principal, partial_area, line, is_loop = ints[0], ints[1], ints[2], ints[3], ints[4], ints[5]

    # the skeleton's box and its anchor, the last marked pixel in scan order (`:510-537`)
    x0 = y0 = np.iinfo(np.int64).max
    x_end = y_end = -1
    anchor_x = anchor_y = -1
    for y in range(pixel_box[1], pixel_box[3]):
        for x in range(pixel_box[0], pixel_box[2]):
            if mark[y - ry, x - rx] and labels[y, x] == label:
                anchor_x = x
                anchor_y = y
                x0 = min(x0, x)
                y0 = min(y0, y)
                x_end = max(x_end, x + 1)
                y_end = max(y_end, y + 1)
    if anchor_x < 0:
        return
    box_w = x_end - x0
    box_h = y_end - y0
    box = np.array([x0, y0, box_w, box_h])
    neighbour = DY8 * box_w + DX8
    for by in range(box_h):
        for bx in range(box_w):
            bits = 0
            x = x0 + bx
            y = y0 + by
            if mark[y - ry, x - rx] and labels[y, x] == label:
                for k in range(8):
                    nx = bx + DX8[k]
                    ny = by + DY8[k]
                    if (0 <= nx < box_w and 0 <= ny < box_h and mark[y + DY8[k] - ry, x + DX8[k] - rx]
                            and labels[y + DY8[k], x + DX8[k]] == label):
                        bits |= 1 << k
            adjacency[by * box_w + bx] = bits
    pred[:box_w * box_h] = -1
    start = (anchor_y - y0) * box_w + anchor_x - x0

    # diameter (`skeleton.hxx:547-560`): the farthest node from the anchor (the last marked
    # pixel: only its 8-connected piece of skeleton is analysed), then the farthest from that
    n = _shortest_paths(adjacency, neighbour, box_w, box_h, start, -1, True, max_weight, pred, dist, heap, where,
                        order, 0)
    end_a = order[n - 1]
    n = _shortest_paths(adjacency, neighbour, box_w, box_h, end_a, -1, True, max_weight, pred, dist, heap, where,
                        order, n)
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
    n = _shortest_paths(adjacency, neighbour, box_w, box_h, centre, -1, True, max_weight, pred, dist, heap, where,
                        order, n)
    for r in range(n):
        tree[r] = order[r]
        tree_of[order[r]] = r
        principal[r] = -1
        length[r] = 0.0
        salience[r] = 1.0
        partial_area[r] = 0
        is_loop[r] = 0

    # leaves to centre (`:575-626`): subtree lengths, principal children, salience; cut
    # edges to back neighbours that close cycles between two already-branched nodes
    for r in range(n - 1, -1, -1):
        node = tree[r]
        up = tree_of[pred[node]]
        parent[r] = up
        nx = x0 + node % box_w
        ny = y0 + node // box_w
        for k in range(4):
            if not (adjacency[node] >> k) & 1:
                continue
            other = node + neighbour[k]
            if other == tree[up] or pred[other] == node:
                continue
            if principal[r] == -1 or principal[tree_of[other]] == -1:
                continue
            _cut(adjacency, node, k, neighbour)
        candidate = length[r] + _step(node, tree[up], box_w)
        if length[up] < candidate:
            length[up] = candidate
            principal[up] = r
        if length[r] >= 4.0:
            salience[r] = max(salience[r], (length[r] + 0.5) / math.sqrt(float(squared[ny - ry, nx - rx])))
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
    is_loop[0] = 1

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
                if not (adjacency[node] >> k) & 1:
                    continue
                other = node + neighbour[k]
                o = tree_of[other]
                if o == parent[r]:
                    continue
                ox = nx + DX8[k]
                oy = ny + DY8[k]
                area2 = abs(partial_area[r] - (nx * oy - ny * ox) - partial_area[o])
                if area2 <= 3:
                    continue
                _cut(adjacency, node, k, neighbour)
                # vigra searches node -> other without a distance limit. If no path of
                # skeleton edges is left, `other` keeps its first predecessor, `node` (a
                # longer path cannot beat INF: INF + w rounds to INF), the polygon is
                # node, other, node and encloses nothing, whatever else that search
                # visits; so the search stops once only INF-distant nodes are queued,
                # instead of flooding the box (queueing stays as in vigra: it decides
                # which of equally short paths wins).
                n_previous = _shortest_paths(adjacency, neighbour, box_w, box_h, node, other, False, max_weight,
                                             pred, dist, heap, where, order, n_previous)
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
                            is_loop[t] = 1
                            salience[t] = max(salience[t], most)
            if not is_loop[r] and squared[ny - ry, nx - rx] >= 4:
                t = r
                while True:
                    salience[t] = 0.0
                    for k in range(8):
                        _cut(adjacency, tree[t], k, neighbour)
                    if principal[parent[t]] != t:
                        break
                    t = parent[t]
        if is_loop[r]:
            is_loop[parent[r]] = 1

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
