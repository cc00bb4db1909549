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
separable lower-envelope transform of Meijster et al. (2000), one axis after the other.
"""

from __future__ import annotations

import numba
import numpy as np

from .components import JIT
from .moments import central_pass, histogram_mapping, values_pass

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
            separator = 1 + (weight * (u * u - i * i) + values[u] - values[i]) // (2 * weight * (u - i))
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
def squared_distances(mask, pitch_zyx, out, line, sites, starts, result):
    """Squared Euclidean distance (pitch per axis) of every pixel of `mask` (bz, by, bx) to
    its nearest non-zero pixel, into `out` (int64, same shape). line/sites/starts/result are
    scratch of at least max(bz, by, bx) entries."""
    n_z, n_y, n_x = mask.shape
    w = pitch_zyx[2] * pitch_zyx[2]
    for z in range(n_z):
        for y in range(n_y):
            last = -1
            for x in range(n_x):
                if mask[z, y, x]:
                    last = x
                    out[z, y, x] = 0
                else:
                    out[z, y, x] = _FAR if last < 0 else w * (x - last) * (x - last)
            following = -1
            for x in range(n_x - 1, -1, -1):
                if mask[z, y, x]:
                    following = x
                elif following >= 0:
                    d = w * (following - x) * (following - x)
                    if d < out[z, y, x]:
                        out[z, y, x] = d
    if n_y > 1:
        _envelopes_along_middle(out, pitch_zyx[1] * pitch_zyx[1], line, sites, starts, result)
    if n_z > 1:  # the same along z, on a (y, z, x) view
        _envelopes_along_middle(out.transpose((1, 0, 2)), pitch_zyx[0] * pitch_zyx[0],
                                line, sites, starts, result)


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
def neighborhood_statistics(labels, image, lay, boxes, first, last, pitch_zyx, max_margin,
                            want_scatter, want_central, want_histogram,
                            context, passed, context_histograms, passed_histograms,
                            context_outliers, passed_outliers):
    """Intensity rows (moments.Layout `lay`) of the neighbourhood and of object + neighbourhood
    for objects [first, last). boxes[l] = (z0, z1, y0, y1, x0, x1) of object l."""
    n_z, n_y, n_x = labels.shape
    limit = max_margin * max_margin
    biggest = 1
    longest = 1
    for label in range(first, last):
        b = boxes[label]
        biggest = max(biggest, (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]))
        longest = max(longest, b[1] - b[0], b[3] - b[2], b[5] - b[4])
    mask_buffer = np.empty(biggest, dtype=np.uint8)
    distance_buffer = np.empty(biggest, dtype=np.int64)
    context_pixels = np.empty(biggest, dtype=np.int64)
    passed_pixels = np.empty(biggest, dtype=np.int64)
    line = np.empty(longest, dtype=np.int64)
    sites = np.empty(longest, dtype=np.int64)
    starts = np.empty(longest, dtype=np.int64)
    result = np.empty(longest, dtype=np.int64)
    diff = np.empty(image.shape[1], dtype=np.float64)
    bins = context_histograms.shape[1]
    for label in range(first, last):
        z0, z1, y0, y1, x0, x1 = boxes[label]
        shape = (z1 - z0, y1 - y0, x1 - x0)
        size = shape[0] * shape[1] * shape[2]
        mask = mask_buffer[:size].reshape(shape)
        distance = distance_buffer[:size].reshape(shape)
        for z in range(z0, z1):
            for y in range(y0, y1):
                for x in range(x0, x1):
                    mask[z - z0, y - y0, x - x0] = labels[z, y, x] == label
        squared_distances(mask, pitch_zyx, distance, line, sites, starts, result)
        # both sets as flat image indices in scan order
        n_context = n_passed = 0
        for z in range(z0, z1):
            for y in range(y0, y1):
                row_start = (z * n_y + y) * n_x
                for x in range(x0, x1):
                    if distance[z - z0, y - y0, x - x0] >= limit:
                        continue
                    passed_pixels[n_passed] = row_start + x
                    n_passed += 1
                    if not mask[z - z0, y - y0, x - x0]:
                        context_pixels[n_context] = row_start + x
                        n_context += 1
        for rows, pixels, count, histograms, outliers in (
                (context, context_pixels, n_context, context_histograms, context_outliers),
                (passed, passed_pixels, n_passed, passed_histograms, passed_outliers)):
            values_pass(rows, label, image, pixels, 0, count, lay, False, diff)
            if count and (want_central or want_histogram or want_scatter):
                mapping = histogram_mapping(rows[label, lay.min], rows[label, lay.max], bins)
                central_pass(rows, label, image, pixels, 0, count, lay, want_scatter,
                             want_histogram, histograms, outliers, mapping, diff)


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
