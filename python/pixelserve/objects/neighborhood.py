"""The `X in neighborhood` / `X in object and neighborhood` statistics, compiled.

ilastik (`opObjectExtraction.py:60-115, 599-629`, `vigra_objfeats.py:284-304`) takes, per
object, the box [Coord<Minimum> - margin, Coord<Maximum> + 1 + margin) clipped to the image
(its margin is the element-wise maximum over all features' margins, stored x, y, z). In the
box it computes the Euclidean distance of every pixel to the object with pixel pitch
`max(margin) // margin` per axis; `passed = distance < max(margin)` is "object and
neighbourhood", `passed XOR object` the neighbourhood ("context"). The plain statistics are
then computed on each set with vigra's accumulators (scan order of the box, histogram over the
set's own range: the set is the only label of that call).

Since ilastik 1.3.3post2 Coord<Maximum> carries +1 already, so its box reaches one pixel
further at the far side (`extra_far` = 1); that pixel matters only when margins differ, as
then a pitch of 1 lets the neighbourhood reach beyond the smaller margin.

Distances are computed squared and exactly in integers (pitches are whole numbers), by the
separable lower-envelope transform of Meijster et al. (2000), one axis after the other; the
last axis only answers "closer than max(margin)?" (`near_object`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .components import JIT
from .moments import add_counts, central_pass, gather, histogram_mapping, merge_rows, values_pass

_FAR = np.int64(1) << 62  # "no object pixel on this line"


@numba.njit(**JIT)
def _envelope(values, m, weight, sites, starts, out):
    """out[u] = min_i weight * (u - i)^2 + values[i] over finite values[i] (Meijster's
    second phase with integer separators); _FAR where every value is _FAR."""
    k = -1
    for u in range(m):
        if values[u] >= _FAR:
            continue
        while k >= 0:
            i = sites[k]
            at = starts[k]
            if weight * (at - i) * (at - i) + values[i] > weight * (at - u) * (at - u) + values[u]:
                k -= 1
            else:
                break
        if k < 0:
            k = 0
            sites[0] = u
            starts[0] = 0
        else:
            i = sites[k]
            # floor of an exact integer ratio; in float64 (integers far below 2**53) it is
            # exact too and much cheaper than an integer division
            separator = 1 + int(math.floor(np.float64(weight * (u * u - i * i) + values[u] - values[i])
                                           / np.float64(2 * weight * (u - i))))
            if separator < m:
                k += 1
                sites[k] = u
                starts[k] = separator
    if k < 0:
        for u in range(m):
            out[u] = _FAR
        return
    for u in range(m - 1, -1, -1):
        i = sites[k]
        out[u] = weight * (u - i) * (u - i) + values[i]
        if u == starts[k]:
            k -= 1


@numba.njit(**JIT)
def near_object(mask, pitch_zyx, limit, distance, near, line, sites, starts, result, reach):
    """near[...] = 1 where the squared Euclidean distance (pitch per axis) to the nearest
    non-zero pixel of `mask` (bz, by, bx) is < limit, else 0. Squared distances are exact
    along x (and y in 3D, into `distance`, int64); along the last axis only the test is
    needed. line/sites/starts/result/reach are scratch of max(bz, by, bx) entries."""
    n_z, n_y, n_x = mask.shape
    w = pitch_zyx[2] * pitch_zyx[2]
    for z in range(n_z):
        for y in range(n_y):
            last = -1
            for x in range(n_x):
                if mask[z, y, x]:
                    last = x
                    distance[z, y, x] = 0
                else:
                    distance[z, y, x] = _FAR if last < 0 else w * (x - last) * (x - last)
            following = -1
            for x in range(n_x - 1, -1, -1):
                if mask[z, y, x]:
                    following = x
                elif following >= 0:
                    d = w * (following - x) * (following - x)
                    if d < distance[z, y, x]:
                        distance[z, y, x] = d
    if n_z == 1:
        _cover_along_middle(distance, pitch_zyx[1] * pitch_zyx[1], limit, near, reach)
        return
    if n_y > 1:
        _envelopes_along_middle(distance, pitch_zyx[1] * pitch_zyx[1], line, sites, starts, result)
    # along z, on (y, z, x) views
    _cover_along_middle(distance.transpose((1, 0, 2)), pitch_zyx[0] * pitch_zyx[0], limit,
                        near.transpose((1, 0, 2)), reach)


@numba.njit(**JIT)
def _cover_along_middle(distance, weight, limit, near, reach):
    """near[a, u, b] = 1 where some v has weight * (u - v)^2 + distance[a, v, b] < limit.
    Each v reaches rows u within its radius r (weight * r^2 + distance < limit), so two
    sweeps carrying the furthest reach down and up decide every row; `distance` is
    overwritten with the radii (-1 where none)."""
    n_a, m, n_b = distance.shape
    for a in range(n_a):
        for b in range(n_b):
            reach[b] = -1
        for u in range(m):
            for b in range(n_b):
                g = distance[a, u, b]
                radius = -1
                if g < limit:
                    budget = limit - 1 - g
                    radius = int(math.sqrt(budget / weight))
                    while weight * (radius + 1) * (radius + 1) <= budget:
                        radius += 1
                    while weight * radius * radius > budget:
                        radius -= 1
                    reach[b] = max(reach[b], u + radius)
                distance[a, u, b] = radius
                near[a, u, b] = reach[b] >= u
        for b in range(n_b):
            reach[b] = m
        for u in range(m - 1, -1, -1):
            for b in range(n_b):
                radius = distance[a, u, b]
                if radius >= 0:
                    reach[b] = min(reach[b], u - radius)
                if reach[b] <= u:
                    near[a, u, b] = 1


@numba.njit(**JIT)
def _envelopes_along_middle(out, weight, line, sites, starts, result):
    """Meijster's second phase on every line along axis 1 of `out` (a, m, b)."""
    n_a, m, n_b = out.shape
    for a in range(n_a):
        for b in range(n_b):
            for u in range(m):
                line[u] = out[a, u, b]
            _envelope(line, m, weight, sites, starts, result)
            for u in range(m):
                out[a, u, b] = result[u]


@numba.njit(**JIT)
def reach_by_row(pitch_y, pitch_x, limit):
    """reach[d] = the largest r >= 0 with (pitch_y d)^2 + (pitch_x r)^2 < limit, for every d
    with (pitch_y d)^2 < limit: how far along x an object pixel d rows away reaches."""
    rows = 0
    while (pitch_y * rows) ** 2 < limit:
        rows += 1
    reach = np.empty(rows, dtype=np.int64)
    for d in range(rows):
        budget = limit - 1 - (pitch_y * d) ** 2
        r = int(math.sqrt(budget / (pitch_x * pitch_x)))
        while (pitch_x * (r + 1)) ** 2 <= budget:
            r += 1
        while r > 0 and (pitch_x * r) ** 2 > budget:
            r -= 1
        reach[d] = r
    return reach


@numba.njit(**JIT)
def _context_2d(image, pixels, start, stop, n_x, box, reach, runs, lows, highs, out):
    """The neighbourhood of one object of a 2D frame (box (z0, z1, y0, y1, x0, x1), pixels
    pixels[start:stop] of rows `n_x` long): its values in scan order into `out`, their number
    returned.

    A box pixel (y, x) is near the object iff an object pixel (v, a) has
    (pitch_y (y - v))^2 + (pitch_x (x - a))^2 < limit, i.e. |x - a| <= reach[|y - v|]: each run
    of object pixels covers an interval of every row within reach, and the near pixels of a
    row are the union of those intervals (exactly `near_object`'s test, without a distance
    map). An object made of one run per row, each overlapping the next, covers one interval
    per row; otherwise the intervals are sorted and merged. The neighbourhood is the near
    pixels minus the object's runs: contiguous pieces of the image. runs/lows/highs are
    scratch of (count + 1, 3) / count / count entries."""
    n_runs = 0
    simple = True
    i = start
    while i < stop:
        j = i + 1
        while j < stop and pixels[j] == pixels[j - 1] + 1 and pixels[j] % n_x != 0:
            j += 1
        row = pixels[i] // n_x
        low = pixels[i] % n_x
        high = pixels[j - 1] % n_x
        if n_runs > 0 and (row != runs[n_runs - 1, 0] + 1 or low > runs[n_runs - 1, 2]
                           or high < runs[n_runs - 1, 1]):
            simple = False
        runs[n_runs, 0] = row
        runs[n_runs, 1] = low
        runs[n_runs, 2] = high
        n_runs += 1
        i = j
    runs[n_runs, 0] = -1   # sentinel: no row
    y0, y1, x0, x1 = box[2], box[3], box[4], box[5]
    far = reach.shape[0] - 1
    channels = image.shape[1]
    flat_image = image.reshape(-1)
    flat_out = out.reshape(-1)
    n = 0
    first_run = 0
    own_run = 0   # the first run of the current row or later
    for y in range(y0, y1):
        while first_run < n_runs and runs[first_run, 0] < y - far:
            first_run += 1
        while own_run < n_runs and runs[own_run, 0] < y:
            own_run += 1
        count = 0
        k = first_run
        if simple:
            low = x1
            high = x0 - 1
            while k < n_runs and runs[k, 0] <= y + far:
                r = reach[abs(runs[k, 0] - y)]
                low = min(low, runs[k, 1] - r)
                high = max(high, runs[k, 2] + r)
                k += 1
            if k > first_run:
                lows[0] = max(low, x0)
                highs[0] = min(high, x1 - 1)
                count = 1
        else:
            while k < n_runs and runs[k, 0] <= y + far:
                r = reach[abs(runs[k, 0] - y)]
                low = max(runs[k, 1] - r, x0)
                high = min(runs[k, 2] + r, x1 - 1)
                m = count   # insertion into the intervals sorted by start
                while m > 0 and lows[m - 1] > low:
                    lows[m] = lows[m - 1]
                    highs[m] = highs[m - 1]
                    m -= 1
                lows[m] = low
                highs[m] = high
                count += 1
                k += 1
        row_start = y * n_x
        m = 0
        own = own_run
        while m < count:
            low = lows[m]
            high = highs[m]
            m += 1
            while m < count and lows[m] <= high + 1:
                high = max(high, highs[m])
                m += 1
            # copy [low, high] except the object's runs in this row (all inside it)
            while low <= high:
                end = high + 1
                if runs[own, 0] == y and runs[own, 1] <= high:
                    end = runs[own, 1]
                source = (row_start + low) * channels
                for i in range((end - low) * channels):
                    flat_out[n * channels + i] = flat_image[source + i]
                n += end - low
                if end <= high:
                    low = runs[own, 2] + 1
                    own += 1
                else:
                    low = end
    return n


@numba.njit(**JIT)
def _context_3d(labels, label, image, box, pitch_zyx, limit, mask, distance, near, line, sites, starts,
                result, reach, out):
    """The neighbourhood of one object of a 3D frame: its values in scan order into `out`,
    their number returned; mask/distance/near are box-sized scratch."""
    n_z, n_y, n_x = labels.shape
    z0, z1, y0, y1, x0, x1 = box
    for z in range(z0, z1):
        for y in range(y0, y1):
            for x in range(x0, x1):
                mask[z - z0, y - y0, x - x0] = labels[z, y, x] == label
    near_object(mask, pitch_zyx, limit, distance, near, line, sites, starts, result, reach)
    n = 0
    for z in range(z0, z1):
        for y in range(y0, y1):
            row_start = (z * n_y + y) * n_x
            for x in range(x0, x1):
                if near[z - z0, y - y0, x - x0] and not mask[z - z0, y - y0, x - x0]:
                    for c in range(image.shape[1]):
                        out[n, c] = image[row_start + x, c]
                    n += 1
    return n


@numba.njit(**JIT)
def neighborhood_statistics(labels, image, lay, order, object_starts, boxes, first, last,
                            pitch_zyx, max_margin, want_scatter, want_central, want_histogram,
                            context, passed, context_histograms, passed_histograms,
                            context_outliers, passed_outliers):
    """Intensity rows (moments.Layout `lay`) of the neighbourhood and of object + neighbourhood
    for objects [first, last). boxes[l] = (z0, z1, y0, y1, x0, x1) of object l; its pixels are
    order[object_starts[l]:object_starts[l + 1]] (moments.group_pixels).

    Object + neighbourhood is the neighbourhood merged with the object's own statistics
    (moments.merge_rows), so that each neighbourhood value is read once per pass; both
    histograms (over the neighbourhood's range and over the merged range) come with the
    central moments."""
    n_z = labels.shape[0]
    limit = max_margin * max_margin
    biggest = 1
    longest = 1
    largest = 1
    for label in range(first, last):
        b = boxes[label]
        biggest = max(biggest, (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]))
        longest = max(longest, b[1] - b[0], b[3] - b[2], b[5] - b[4])
        largest = max(largest, object_starts[label + 1] - object_starts[label])
    channels = image.shape[1]
    context_values = np.empty((biggest + 1, channels), dtype=image.dtype)
    own_values = np.empty((largest, channels), dtype=image.dtype)
    if n_z == 1:
        reach_2d = reach_by_row(pitch_zyx[1], pitch_zyx[2], limit)
        runs = np.empty((largest + 1, 3), dtype=np.int64)
        lows = np.empty(largest, dtype=np.int64)
        highs = np.empty(largest, dtype=np.int64)
        biggest = 0   # no box-sized scratch in 2D
    mask_buffer = np.empty(biggest, dtype=np.uint8)
    near_buffer = np.empty(biggest, dtype=np.uint8)
    distance_buffer = np.empty(biggest, dtype=np.int64)
    line = np.empty(longest, dtype=np.int64)
    sites = np.empty(longest, dtype=np.int64)
    starts = np.empty(longest, dtype=np.int64)
    result = np.empty(longest, dtype=np.int64)
    reach = np.empty(longest, dtype=np.int64)
    own = np.zeros((1, lay.width), dtype=np.float64)
    diff = np.empty(channels, dtype=np.float64)
    bins = context_histograms.shape[1]
    mappings = np.empty((2, 2))
    counts = np.zeros((2, bins + 2), dtype=np.int64)
    central = want_central or want_scatter
    for label in range(first, last):
        start, stop = object_starts[label], object_starts[label + 1]
        if n_z == 1:
            n_context = _context_2d(image, order, start, stop, labels.shape[2], boxes[label], reach_2d, runs, lows,
                                    highs, context_values)
        else:
            z0, z1, y0, y1, x0, x1 = boxes[label]
            shape = (z1 - z0, y1 - y0, x1 - x0)
            size = shape[0] * shape[1] * shape[2]
            n_context = _context_3d(labels, label, image, boxes[label], pitch_zyx, limit,
                                    mask_buffer[:size].reshape(shape), distance_buffer[:size].reshape(shape),
                                    near_buffer[:size].reshape(shape), line, sites, starts, result, reach,
                                    context_values)
        gather(image, order, start, stop, own_values)
        own[0] = 0.0
        values_pass(context, label, context_values, n_context, lay, False, diff)
        values_pass(own, 0, own_values, stop - start, lay, False, diff)
        n_maps = 0
        counts[:] = 0
        if want_histogram:   # over the merged set's range (a first merge gives it), and over the neighbourhood's
            merge_rows(context, label, own, 0, passed, label, lay, diff)
            mappings[0, 0], mappings[0, 1] = histogram_mapping(passed[label, lay.min], passed[label, lay.max], bins)
            mappings[1, 0], mappings[1, 1] = histogram_mapping(context[label, lay.min], context[label, lay.max], bins)
            n_maps = 2
        if n_context and (central or want_histogram):
            central_pass(context, label, context_values, n_context, lay, central, want_scatter, mappings[:n_maps],
                         counts, diff)
        if central or want_histogram:
            central_pass(own, 0, own_values, stop - start, lay, central, want_scatter, mappings[:min(n_maps, 1)],
                         counts, diff)
        merge_rows(context, label, own, 0, passed, label, lay, diff)
        if want_histogram:
            add_counts(counts[0], passed_histograms, passed_outliers, label)
            if n_context:
                add_counts(counts[1], context_histograms, context_outliers, label)


def neighborhood_boxes(geometry: np.ndarray, dims: int, margin_zyx: np.ndarray, frame_shape,
                       extra_far: int) -> np.ndarray:
    """(n + 1, 6) int64 boxes (z0, z1, y0, y1, x0, x1) from the coordinate rows (x, y, z
    order: min at [dims:2 dims], max at [2 dims:3 dims])."""
    boxes = np.zeros((geometry.shape[0], 6), dtype=np.int64)
    for axis in range(3):
        coordinate = 2 - axis  # x, y, z columns
        if coordinate >= dims:  # 2D: the single z plane
            boxes[:, 2 * axis + 1] = 1
            continue
        low = geometry[:, dims + coordinate].astype(np.int64)
        high = geometry[:, 2 * dims + coordinate].astype(np.int64)
        boxes[:, 2 * axis] = np.maximum(low - margin_zyx[axis], 0)
        boxes[:, 2 * axis + 1] = np.minimum(high + 1 + margin_zyx[axis] + extra_far, frame_shape[axis])
    return boxes


def pitch_from_margin(margin_zyx: np.ndarray) -> np.ndarray:
    """ilastik's `max(margin) // margin` per axis (`make_bboxes`). An axis without margin
    gets pitch max(margin): one step already reaches the limit, so nothing joins along it."""
    largest = int(margin_zyx.max())
    return np.array([largest // int(m) if m > 0 else largest for m in margin_zyx], dtype=np.int64)
