"""Per-object statistics as vigra's accumulators compute them, compiled.

vigra's `extractRegionFeatures` (`include/vigra/accumulator.hxx`) visits pixels in scan order
(x fastest) and accumulates per region in double precision: Count, Sum, Minimum, Maximum and
the flat scatter matrix in pass 1 (the latter incrementally: `+= (w * d_i) * d_j`,
w = n/(n-1), d = mean - x, mean = Sum/Count including the current pixel), central moments and
the 64-bin range histogram (over the frame's global [min, max] of the pixels it sees) in
pass 2.

Where eigenvectors are taken (RegionAxes from the coordinates, PrincipalAxes from the
channels), the incremental scatter matrix is reproduced operation by operation: its rounding
decides the eigenvector signs of near-degenerate objects (§3.1 of
shared/notes/object-classification.md). Variance, Skewness, Kurtosis and Covariance are
computed two-pass (sum of powers of x - final mean), which agrees with vigra's incremental
second moment to a few units in the last place of a double, invisible in the float32 that
ilastik stores (the fixtures match bit for bit), and needs no division per pixel.

Pixels are first grouped by object (`group_pixels`, a counting sort that keeps scan order
within an object), so each object's statistics are one loop over its own pixels and objects
can be split over threads. One row of an `intensity` array per object holds, per channel:
count | sum | min | max | m2 | m3 | m4 | scatter | incremental scatter (upper triangles,
C(C+1)/2 each); `Layout` names the column offsets. Coordinates (x, y, z: vigra's order, the
reverse of numpy's) use a row sum | min | max | incremental scatter.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from .components import JIT

HISTOGRAM_BINS = 64
QUANTILE_LEVELS = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])


class Layout(NamedTuple):
    """Column offsets of one object's intensity statistics for C channels."""

    channels: int
    sum: int
    min: int
    max: int
    m2: int
    m3: int
    m4: int
    scatter: int
    incremental: int
    width: int


def layout(channels: int) -> Layout:
    triangle = channels * (channels + 1) // 2
    starts = [1 + k * channels for k in range(7)]
    return Layout(channels, *starts, starts[-1] + triangle, starts[-1] + 2 * triangle)


def coordinate_width(dims: int) -> int:
    """Columns of a coordinate row: sum, min, max (dims each) and the scatter triangle."""
    return 3 * dims + dims * (dims + 1) // 2


@numba.njit(**JIT)
def group_pixels(labels, n_objects):
    """(order, starts): flat indices of the labelled pixels of `labels` (flat uint32), object
    by object, in scan order within each object; object l owns order[starts[l]:starts[l+1]]."""
    counts = np.zeros(n_objects + 2, dtype=np.int64)
    for i in range(labels.size):
        counts[labels[i] + 1] += 1
    counts[1] = 0  # background pixels are not grouped
    for l in range(1, n_objects + 2):  # noqa: E741
        counts[l] += counts[l - 1]
    starts = counts.copy()
    order = np.empty(counts[n_objects + 1], dtype=np.int64)
    for i in range(labels.size):
        label = labels[i]
        if label != 0:
            order[counts[label]] = i
            counts[label] += 1
    return order, starts


# Each pass reads one object's values gathered into a contiguous (n, C) float32 array (the
# gather is one indexed read per pixel; a helper called per pixel with these arrays made numba
# count references per pixel, which measured 3-10x slower than the arithmetic).

@numba.njit(**JIT)
def gather(image, pixels, start, stop, out):
    """out[:stop - start] = the rows of `image` (pixels, C) at pixels[start:stop]."""
    for i in range(start, stop):
        for c in range(image.shape[1]):
            out[i - start, c] = image[pixels[i], c]


@numba.njit(**JIT)
def values_pass(rows, r, values, count, lay, want_incremental, diff):
    """Pass 1 of row r over values[:count]: count, sum, min, max and, if wanted, vigra's
    incremental scatter matrix. Channel by channel, so that the running sums stay in
    registers (each channel's sum still adds its values in scan order)."""
    channels = lay.channels
    n0 = rows[r, 0]
    for c in range(channels):
        diff[c] = rows[r, lay.sum + c]   # the sums before this pass
        total = rows[r, lay.sum + c]
        low = rows[r, lay.min + c]
        high = rows[r, lay.max + c]
        for i in range(count):
            v = np.float64(values[i, c])
            total += v
            first = n0 == 0.0 and i == 0
            if first or v < low:
                low = v
            if first or v > high:
                high = v
        rows[r, lay.sum + c] = total
        rows[r, lay.min + c] = low
        rows[r, lay.max + c] = high
    rows[r, 0] = n0 + count
    if want_incremental:   # the same running sums once more, all channels at each pixel
        running = diff.copy()
        for i in range(count):
            n = n0 + (i + 1)
            for c in range(channels):
                running[c] += np.float64(values[i, c])
                diff[c] = running[c] / n - np.float64(values[i, c])
            if n > 1.0:
                add_scatter(rows, r, lay.incremental, diff, channels, n / (n - 1.0))


@numba.njit(inline="always", **JIT)
def add_scatter(rows, r, first, diff, size, weight):
    k = first
    for j in range(size):
        for i in range(j, size):
            rows[r, k] += weight * diff[i] * diff[j]
            k += 1


@numba.njit(**JIT)
def central_pass(rows, r, values, count, lay, want_moments, want_scatter, mappings, counts, diff):
    """Pass 2 of row r over values[:count]: central moments 2..4 with the final mean and, if
    wanted, the scatter matrix; and histograms of channel 0, one per row of `mappings`
    (offset, scale), added to the rows of integer `counts`: [0] below the range, [1 + k] bin
    k, [-1] above. vigra's RangeHistogramBase::update: bin trunc(scale * (x - offset)), the
    top edge in the last bin, anything else outside an outlier. Each statistic is its own
    loop, channel by channel, so that its sums stay in registers."""
    channels = lay.channels
    for c in range(channels if want_moments else 0):
        mean = rows[r, lay.sum + c] / rows[r, 0]
        m2 = rows[r, lay.m2 + c]
        m3 = rows[r, lay.m3 + c]
        m4 = rows[r, lay.m4 + c]
        for i in range(count):
            d = np.float64(values[i, c]) - mean
            square = d * d
            m2 += square
            m3 += square * d
            m4 += square * square
        rows[r, lay.m2 + c] = m2
        rows[r, lay.m3 + c] = m3
        rows[r, lay.m4 + c] = m4
    if want_scatter:
        for i in range(count):
            for c in range(channels):
                diff[c] = np.float64(values[i, c]) - rows[r, lay.sum + c] / rows[r, 0]
            add_scatter(rows, r, lay.scatter, diff, channels, 1.0)
    bins = counts.shape[1] - 2
    for j in range(mappings.shape[0]):
        offset = mappings[j, 0]
        scale = mappings[j, 1]
        histogram = counts[j]
        for i in range(count):
            m = scale * (np.float64(values[i, 0]) - offset)
            index = bins - 1 if m == bins else int(m)
            if index < 0:
                histogram[0] += 1
            elif index >= bins:
                histogram[bins + 1] += 1
            else:
                histogram[index + 1] += 1


@numba.njit(**JIT)
def add_counts(counts, histograms, outliers, r):
    """Add a row of `central_pass` counts to histogram row r and its outlier counts."""
    bins = histograms.shape[1]
    for k in range(bins):
        histograms[r, k] += counts[k + 1]
    outliers[r, 0] += counts[0]
    outliers[r, 1] += counts[bins + 1]


@numba.njit(**JIT)
def merge_rows(a, ra, b, rb, out, ro, lay, diff):
    """out[ro] = the statistics (count to scatter) of the union of the pixel sets behind
    a[ra] and b[rb], with the merge formulas of vigra's accumulators (`operator+=` of
    Central<PowerSum<k>> and FlatScatterMatrix)."""
    n1 = a[ra, 0]
    n2 = b[rb, 0]
    if n1 == 0.0 or n2 == 0.0:
        source, row = (b, rb) if n1 == 0.0 else (a, ra)
        for k in range(lay.width):
            out[ro, k] = source[row, k]
        return
    n = n1 + n2
    out[ro, 0] = n
    for c in range(lay.channels):
        out[ro, lay.sum + c] = a[ra, lay.sum + c] + b[rb, lay.sum + c]
        out[ro, lay.min + c] = min(a[ra, lay.min + c], b[rb, lay.min + c])
        out[ro, lay.max + c] = max(a[ra, lay.max + c], b[rb, lay.max + c])
        delta = b[rb, lay.sum + c] / n2 - a[ra, lay.sum + c] / n1
        diff[c] = delta
        a2, b2 = a[ra, lay.m2 + c], b[rb, lay.m2 + c]
        a3, b3 = a[ra, lay.m3 + c], b[rb, lay.m3 + c]
        out[ro, lay.m2 + c] = a2 + b2 + n1 * n2 / n * (delta * delta)
        out[ro, lay.m3 + c] = (a3 + b3 + n1 * n2 * (n1 - n2) / (n * n) * delta ** 3
                               + 3.0 / n * delta * (n1 * b2 - n2 * a2))
        out[ro, lay.m4 + c] = (a[ra, lay.m4 + c] + b[rb, lay.m4 + c]
                               + n1 * n2 * (n1 * n1 - n1 * n2 + n2 * n2) / (n * n) / n * delta ** 4
                               + 6.0 / (n * n) * (delta * delta) * (n1 * n1 * b2 + n2 * n2 * a2)
                               + 4.0 / n * delta * (n1 * b3 - n2 * a3))
    triangle = lay.channels * (lay.channels + 1) // 2
    for k in range(triangle):
        out[ro, lay.scatter + k] = a[ra, lay.scatter + k] + b[rb, lay.scatter + k]
    add_scatter(out, ro, lay.scatter, diff, lay.channels, n1 * n2 / n)


@numba.njit(**JIT)
def coordinates_pass(geometry, r, pixels, start, stop, shape, diff):
    """Coordinate row r (x, y, z order) over pixels[start:stop] of a (Z, Y, X) frame: sums,
    min, max and vigra's incremental scatter matrix."""
    n_y = shape[1]
    n_x = shape[2]
    dims = 2 if shape[0] == 1 else 3
    coords = np.empty(3, dtype=np.float64)
    previous = -2
    x = y = z = 0
    n = 0.0
    for i in range(start, stop):
        p = pixels[i]
        if p == previous + 1 and x + 1 < n_x:
            x += 1
        else:
            x = p % n_x
            rest = p // n_x
            y = rest % n_y
            z = rest // n_y
        previous = p
        coords[0] = x
        coords[1] = y
        coords[2] = z
        n += 1.0
        for d in range(dims):
            total = geometry[r, d] + coords[d]
            geometry[r, d] = total
            diff[d] = total / n - coords[d]
            if n == 1.0 or coords[d] < geometry[r, dims + d]:
                geometry[r, dims + d] = coords[d]
            if n == 1.0 or coords[d] > geometry[r, 2 * dims + d]:
                geometry[r, 2 * dims + d] = coords[d]
        if n > 1.0:
            add_scatter(geometry, r, 3 * dims, diff, dims, n / (n - 1.0))


@numba.njit(**JIT)
def histogram_mapping(minimum, maximum, bins):
    """(offset, scale) of vigra's RangeHistogramBase::setMinMax."""
    if minimum == maximum:
        maximum += bins * 2.220446049250313e-16
    return minimum, bins / (maximum - minimum)


@numba.njit(**JIT)
def first_pass(order, starts, image, lay, shape, first, last, want_incremental, intensity,
               geometry):
    """Pass 1 for objects [first, last): intensity rows (see Layout) and coordinate rows.
    `image` is (pixels, C) float32, `shape` the (Z, Y, X) frame shape."""
    diff = np.empty(max(lay.channels, 3), dtype=np.float64)
    values = np.empty((_largest(starts, first, last), image.shape[1]), dtype=image.dtype)
    for label in range(first, last):
        gather(image, order, starts[label], starts[label + 1], values)
        values_pass(intensity, label, values, starts[label + 1] - starts[label], lay, want_incremental, diff)
        coordinates_pass(geometry, label, order, starts[label], starts[label + 1], shape, diff)


@numba.njit(**JIT)
def second_pass(order, starts, image, lay, first, last, intensity, want_scatter,
                want_histogram, low, high, histograms, outliers):
    """Pass 2 for objects [first, last); with `want_histogram` (single channel) also the
    histogram over the global range [low, high]."""
    mappings = np.empty((1, 2))
    mappings[0, 0], mappings[0, 1] = histogram_mapping(low, high, histograms.shape[1])
    counts = np.zeros((1, histograms.shape[1] + 2), dtype=np.int64)
    diff = np.empty(lay.channels, dtype=np.float64)
    values = np.empty((_largest(starts, first, last), image.shape[1]), dtype=image.dtype)
    for label in range(first, last):
        count = starts[label + 1] - starts[label]
        gather(image, order, starts[label], starts[label + 1], values)
        counts[:] = 0
        central_pass(intensity, label, values, count, lay, True, want_scatter, mappings[:1 if want_histogram else 0],
                     counts, diff)
        if want_histogram:
            add_counts(counts[0], histograms, outliers, label)


@numba.njit(**JIT)
def _largest(starts, first, last):
    """The largest pixel count of objects [first, last) (at least 1)."""
    largest = 1
    for label in range(first, last):
        largest = max(largest, starts[label + 1] - starts[label])
    return largest


@numba.njit(**JIT)
def standard_quantiles(histogram, outliers, minimum, maximum, count, offset, scale, levels, out):
    """vigra's RangeHistogramBase::computeStandardQuantiles (accumulator.hxx:5703-5784):
    0 % and 100 % are the exact minimum and maximum; inner quantiles interpolate the
    cumulative histogram linearly between keypoints (mapped minimum, edges of non-empty
    bins, mapped maximum)."""
    if count == 0.0:
        return
    bins = histogram.shape[0]
    keypoints = np.empty(2 * bins + 4, dtype=np.float64)
    cumulative_at = np.empty(2 * bins + 4, dtype=np.float64)
    keypoints[0] = scale * (minimum - offset)
    cumulative_at[0] = 0.0
    n_points = 1
    if outliers[0] > 0.0:
        keypoints[n_points] = 0.0
        cumulative_at[n_points] = outliers[0]
        n_points += 1
    cumulative = outliers[0]
    for k in range(bins):
        if histogram[k] > 0.0:
            if keypoints[n_points - 1] <= k:
                keypoints[n_points] = k
                cumulative_at[n_points] = cumulative
                n_points += 1
            cumulative += histogram[k]
            keypoints[n_points] = k + 1
            cumulative_at[n_points] = cumulative
            n_points += 1
    mapped_maximum = scale * (maximum - offset)
    if outliers[1] > 0.0:
        if keypoints[n_points - 1] != bins:
            keypoints[n_points] = bins
            cumulative_at[n_points] = cumulative
            n_points += 1
        keypoints[n_points] = mapped_maximum
        cumulative_at[n_points] = count
        n_points += 1
    else:
        keypoints[n_points - 1] = mapped_maximum
        cumulative_at[n_points - 1] = count
    quantile = 0
    end = levels.shape[0]
    if levels[0] == 0.0:
        out[0] = minimum
        quantile += 1
    if levels[end - 1] == 1.0:
        out[end - 1] = maximum
        end -= 1
    point = 0
    wanted = count * levels[quantile]
    while quantile < end:
        if cumulative_at[point] < wanted and cumulative_at[point + 1] >= wanted:
            t = ((wanted - cumulative_at[point]) / (cumulative_at[point + 1] - cumulative_at[point])
                 * (keypoints[point + 1] - keypoints[point]))
            out[quantile] = (1.0 / scale) * (t + keypoints[point]) + offset
            quantile += 1
            if quantile < levels.shape[0]:
                wanted = count * levels[quantile]
        else:
            point += 1
