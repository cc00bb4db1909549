"""Per-object statistics with vigra's accumulator arithmetic, compiled.

vigra's `extractRegionFeatures` (`include/vigra/accumulator.hxx`) visits pixels in scan order
(x fastest) and updates, per region and in double precision:
- pass 1: Count, Sum (`PowerSum<1>`), Minimum, Maximum, `Central<PowerSum<2>>` incrementally
  (`+= n/(n-1) * (mean - x)^2`, mean = Sum/Count including the current pixel) and the flat
  scatter matrix the same way (`+= (w * d_i) * d_j`, w = n/(n-1), d = mean - x);
- pass 2: `Central<PowerSum<3>>`, `<4>` as `pow(x - mean, k)` with the final mean, and the
  64-bin range histogram over the frame's global [min, max] of the pixels it sees.
Doing the same operations in the same order gives the same doubles, hence float32-identical
features and the same eigenvector signs (§3.1 of shared/notes/object-classification.md).

Pixels are first grouped by object (`group_pixels`, a counting sort that keeps scan order
within an object), so each object's statistics are one loop over its own pixels and objects
can be split over threads. One row of an `intensity` array per object holds, per channel:
count | sum | m2 | min | max | m3 | m4 | scatter (upper triangle, C(C+1)/2); `Layout` names
the column offsets. Coordinates (x, y, z: vigra's order, the reverse of numpy's) use the
same kind of row: sum | min | max | scatter.
"""

from __future__ import annotations

import math
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
    m2: int
    min: int
    max: int
    m3: int
    m4: int
    scatter: int
    width: int


def layout(channels: int) -> Layout:
    starts = [1 + k * channels for k in range(7)]
    return Layout(channels, *starts, starts[-1] + channels * (channels + 1) // 2)


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


@numba.njit(inline="always", **JIT)
def add_intensity(row, values, channels, want_scatter, diff):
    """Pass-1 update of one intensity row by one pixel's channel values."""
    n = row[0] + 1.0
    row[0] = n
    for c in range(channels):
        v = np.float64(values[c])
        total = row[1 + c] + v
        row[1 + c] = total
        if n > 1.0:
            d = total / n - v
            row[1 + channels + c] += n / (n - 1.0) * (d * d)
            if v < row[1 + 2 * channels + c]:
                row[1 + 2 * channels + c] = v
            if v > row[1 + 3 * channels + c]:
                row[1 + 3 * channels + c] = v
        else:
            row[1 + 2 * channels + c] = v
            row[1 + 3 * channels + c] = v
        diff[c] = total / n - v
    if want_scatter and n > 1.0:
        _add_scatter(row, 1 + 6 * channels, diff, channels, n / (n - 1.0))


@numba.njit(inline="always", **JIT)
def _add_scatter(row, first, diff, size, weight):
    k = first
    for j in range(size):
        for i in range(j, size):
            row[k] += weight * diff[i] * diff[j]
            k += 1


@numba.njit(inline="always", **JIT)
def add_central(row, values, channels):
    """Pass-2 update (third and fourth central moments) with the row's final mean."""
    n = row[0]
    for c in range(channels):
        d = np.float64(values[c]) - row[1 + c] / n
        row[1 + 4 * channels + c] += math.pow(d, 3.0)
        row[1 + 5 * channels + c] += math.pow(d, 4.0)


@numba.njit(inline="always", **JIT)
def add_to_histogram(histogram, outliers, value, offset, scale):
    """vigra's RangeHistogramBase::update: the bin is trunc(scale * (x - offset)), the top
    edge goes to the last bin, anything else outside counts as an outlier."""
    m = scale * (np.float64(value) - offset)
    bins = histogram.shape[0]
    index = bins - 1 if m == bins else int(m)
    if index < 0:
        outliers[0] += 1.0
    elif index >= bins:
        outliers[1] += 1.0
    else:
        histogram[index] += 1.0


@numba.njit(inline="always", **JIT)
def histogram_mapping(minimum, maximum, bins):
    """(offset, scale) of vigra's RangeHistogramBase::setMinMax."""
    if minimum == maximum:
        maximum += bins * 2.220446049250313e-16
    return minimum, bins / (maximum - minimum)


@numba.njit(**JIT)
def first_pass(order, starts, image, shape, first, last, want_scatter, intensity, geometry):
    """Pass 1 for objects [first, last): intensity rows (see Layout) and coordinate rows
    (x, y, z order). `image` is (pixels, C) float32, `shape` the (Z, Y, X) frame shape."""
    channels = image.shape[1]
    n_y = shape[1]
    n_x = shape[2]
    dims = 2 if shape[0] == 1 else 3
    diff = np.empty(max(channels, 3), dtype=np.float64)
    coords = np.empty(3, dtype=np.float64)
    for label in range(first, last):
        row = intensity[label]
        geo = geometry[label]
        previous = -2
        x = y = z = 0
        for i in range(starts[label], starts[label + 1]):
            p = order[i]
            if p == previous + 1 and x + 1 < n_x:
                x += 1
            else:
                x = p % n_x
                rest = p // n_x
                y = rest % n_y
                z = rest // n_y
            previous = p
            add_intensity(row, image[p], channels, want_scatter, diff)
            coords[0] = x
            coords[1] = y
            coords[2] = z
            n = row[0]
            for d in range(dims):
                total = geo[d] + coords[d]
                geo[d] = total
                diff[d] = total / n - coords[d]
                if n == 1.0 or coords[d] < geo[dims + d]:
                    geo[dims + d] = coords[d]
                if n == 1.0 or coords[d] > geo[2 * dims + d]:
                    geo[2 * dims + d] = coords[d]
            if n > 1.0:
                _add_scatter(geo, 3 * dims, diff, dims, n / (n - 1.0))


@numba.njit(**JIT)
def second_pass(order, starts, image, first, last, intensity, want_histogram, low, high,
                histograms, outliers):
    """Pass 2 for objects [first, last): central moments; with `want_histogram` (single
    channel) also the histogram over the global range [low, high]."""
    channels = image.shape[1]
    offset, scale = histogram_mapping(low, high, histograms.shape[1])
    for label in range(first, last):
        row = intensity[label]
        for i in range(starts[label], starts[label + 1]):
            values = image[order[i]]
            add_central(row, values, channels)
            if want_histogram:
                add_to_histogram(histograms[label], outliers[label], values[0], offset, scale)


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
