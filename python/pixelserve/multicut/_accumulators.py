"""numba kernels behind the edge and superpixel features, following vigra's accumulators.

ilastikrag computes its standard features with vigra's `extractRegionFeatures`; the facts used
here come from vigra's `accumulator.hxx`:

- Count and Sum in float64; Mean = Sum / Count; Central<PowerSum<2>> updated per value as
  M2 += n / (n - 1) * (mean - x)^2 with the mean including x (pass 1); Central<PowerSum<3>>
  and <4> summed in a second pass around the final mean. Accumulators merged with the
  parallel formulas of `operator+=` (pre-merge values on both sides).
- Variance = M2 / n, Skewness = sqrt(n) * M3 / M2^1.5, Kurtosis = n * M4 / M2^2 - 3.
- Histograms of 64 bins over a fixed range (bin = int(64 * (x - lo) / (hi - lo)), the top
  value in the last bin); StandardQuantiles interpolate the cumulative histogram between
  keypoints, the 0 % and 100 % quantiles being the minimum and maximum.
- Coordinate scatter matrix updated per pixel like M2 (FlatScatterMatrix), eigensystem by
  Householder tridiagonalisation and the implicit QL method (the JAMA algorithm vigra uses),
  eigenvalues sorted descending with their eigenvector columns.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..objects.eigen import symmetric_eigensystem

BINS = 64
QUANTILES = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])


@njit(cache=True, nogil=True)
def face_values(volume, voxels, stride):
    """ilastikrag's value of each face: the float32 mean of its two voxels."""
    out = np.empty(voxels.size, dtype=np.float32)
    for f in range(voxels.size):
        at = np.int64(voxels[f])
        out[f] = (np.float32(volume[at]) + np.float32(volume[at + stride])) / np.float32(2)
    return out


@njit(cache=True, nogil=True)
def moments(groups, values, n_groups):
    """Per-group vigra moments of `values` in their order: count, sum, M2, M3, M4, min, max
    (rows of a (7, n_groups) float64 array)."""
    acc = np.zeros((7, n_groups))
    acc[5, :] = np.inf
    acc[6, :] = -np.inf
    for index in range(values.size):
        g = groups[index]
        x = np.float64(values[index])
        acc[0, g] += 1.0
        acc[1, g] += x
        n = acc[0, g]
        if n > 1.0:
            d = acc[1, g] / n - x
            acc[2, g] += n / (n - 1.0) * d * d
        acc[5, g] = min(acc[5, g], x)
        acc[6, g] = max(acc[6, g], x)
    for index in range(values.size):
        g = groups[index]
        d = np.float64(values[index]) - acc[1, g] / acc[0, g]
        acc[3, g] += d * d * d
        acc[4, g] += d * d * d * d
    return acc


@njit(cache=True, nogil=True)
def merge_moments(acc, other):
    """vigra's operator+= of two moment accumulators (in place on `acc`)."""
    for g in range(acc.shape[1]):
        n1, n2 = acc[0, g], other[0, g]
        if n2 == 0.0:
            continue
        if n1 == 0.0:
            acc[:, g] = other[:, g]
            continue
        n = n1 + n2
        delta = other[1, g] / n2 - acc[1, g] / n1
        m2a, m2b, m3a, m3b = acc[2, g], other[2, g], acc[3, g], other[3, g]
        w4 = n1 * n2 * (n1 * n1 - n1 * n2 + n2 * n2) / (n * n) / n
        acc[4, g] += (other[4, g] + w4 * delta ** 4
                      + 6.0 / (n * n) * delta * delta * (n1 * n1 * m2b + n2 * n2 * m2a)
                      + 4.0 / n * delta * (n1 * m3b - n2 * m3a))
        w3 = n1 * n2 * (n1 - n2) / (n * n)
        acc[3, g] += other[3, g] + w3 * delta ** 3 + 3.0 / n * delta * (n1 * m2b - n2 * m2a)
        acc[2, g] += m2b + n1 * n2 / n * (other[1, g] / n2 - acc[1, g] / n1) ** 2
        acc[0, g] = n
        acc[1, g] += other[1, g]
        acc[5, g] = min(acc[5, g], other[5, g])
        acc[6, g] = max(acc[6, g], other[6, g])


@njit(cache=True, nogil=True)
def histogram(groups, values, n_groups, low, high, hist):
    """Add `values` into `hist` (n_groups, BINS) over vigra's mapping of [low, high]."""
    if low == high:
        high += BINS * 2.220446049250313e-16
    scale = BINS / (high - low)
    for index in range(values.size):
        m = scale * (np.float64(values[index]) - low)
        b = BINS - 1 if m == BINS else int(m)
        if 0 <= b < BINS:
            hist[groups[index], b] += 1


@njit(cache=True, nogil=True)
def quantiles(hist, count, minimum, maximum, low, high):
    """vigra's StandardQuantiles (0, 10, 25, 50, 75, 90, 100 %) of each group's histogram."""
    if low == high:
        high += BINS * 2.220446049250313e-16
    scale = BINS / (high - low)
    inverse = 1.0 / scale
    n_groups = hist.shape[0]
    out = np.zeros((n_groups, 7))
    keypoints = np.empty(2 * BINS + 4)
    cumulative = np.empty(2 * BINS + 4)
    for g in range(n_groups):
        total = count[g]
        if total == 0.0:
            continue
        keypoints[0] = scale * (minimum[g] - low)
        cumulative[0] = 0.0
        size = 1
        running = 0.0
        for k in range(BINS):
            if hist[g, k] > 0:
                if keypoints[size - 1] <= k:
                    keypoints[size] = k
                    cumulative[size] = running
                    size += 1
                running += hist[g, k]
                keypoints[size] = k + 1
                cumulative[size] = running
                size += 1
        keypoints[size - 1] = scale * (maximum[g] - low)
        cumulative[size - 1] = total
        out[g, 0] = minimum[g]
        out[g, 6] = maximum[g]
        point = 0
        q = 1
        wanted = total * QUANTILES[q]
        while q < 6:
            if cumulative[point] < wanted and cumulative[point + 1] >= wanted:
                t = ((wanted - cumulative[point]) / (cumulative[point + 1] - cumulative[point])
                     * (keypoints[point + 1] - keypoints[point]))
                out[g, q] = inverse * (t + keypoints[point]) + low
                q += 1
                wanted = total * QUANTILES[q]
            else:
                point += 1
    return out


@njit(cache=True, nogil=True)
def coordinate_scatter(labels, n_groups):
    """Per-label pixel count and coordinate scatter matrix, coordinates in vigra's order
    (x, y, z) = reversed array axes, updated pixel by pixel in C order like vigra's
    FlatScatterMatrix. Returns (count, scatter (n_groups, ndim, ndim))."""
    n0, n1, n2 = labels.shape
    ndim = 2 if n0 == 1 else 3
    count = np.zeros(n_groups)
    total = np.zeros((n_groups, 3))
    scatter = np.zeros((n_groups, ndim, ndim))
    point = np.zeros(3)
    diff = np.zeros(3)
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                g = labels[i, j, k]
                point[0], point[1], point[2] = k, j, i
                count[g] += 1.0
                n = count[g]
                for a in range(ndim):
                    total[g, a] += point[a]
                if n > 1.0:
                    w = n / (n - 1.0)
                    for a in range(ndim):
                        diff[a] = total[g, a] / n - point[a]
                    for c in range(ndim):
                        for r in range(c, ndim):
                            scatter[g, r, c] += w * diff[r] * diff[c]
    for g in range(n_groups):
        for c in range(ndim):
            for r in range(c + 1, ndim):
                scatter[g, c, r] = scatter[g, r, c]
    return count, scatter


@njit(cache=True, nogil=True)
def principal_axes(scatter, count):
    """Per group: radii sqrt(eigenvalue / count) and the eigenvector matrix (columns), of the
    coordinate scatter matrices."""
    n_groups, ndim, _ = scatter.shape
    radii = np.zeros((n_groups, ndim))
    axes = np.zeros((n_groups, ndim, ndim))
    for g in range(n_groups):
        if count[g] == 0.0:
            continue
        values, vectors = symmetric_eigensystem(scatter[g])
        for a in range(ndim):
            radii[g, a] = math.sqrt(values[a] / count[g]) if values[a] > 0 else 0.0
        axes[g] = vectors
    return radii, axes


@njit(cache=True, nogil=True)
def edge_coordinate_covariance(face_voxels, face_edges, shape, n_edges):
    """ilastikrag's edgeregion covariance per edge, in float32 as it computes it: coordinates
    (array axis order) of each face's lower voxel, faces of axis 0, then 1, then 2, summed in
    that order; centred by the float32 mean; products summed (float64 here) and divided by
    the face count. `face_voxels`/`face_edges` hold the faces of all axes concatenated."""
    ndim = len(shape)
    sums = np.zeros((n_edges, ndim), dtype=np.float32)
    counts = np.zeros(n_edges, dtype=np.int64)
    coord = np.zeros(ndim, dtype=np.float32)
    for f in range(face_voxels.size):
        e = face_edges[f]
        rest = np.int64(face_voxels[f])
        for a in range(ndim - 1, -1, -1):
            coord[a] = np.float32(rest % shape[a])
            rest //= shape[a]
        for a in range(ndim):
            sums[e, a] += coord[a]
        counts[e] += 1
    means = np.zeros((n_edges, ndim), dtype=np.float32)
    for e in range(n_edges):
        for a in range(ndim):
            means[e, a] = sums[e, a] / np.float32(counts[e])
    products = np.zeros((n_edges, ndim, ndim))
    for f in range(face_voxels.size):
        e = face_edges[f]
        rest = np.int64(face_voxels[f])
        for a in range(ndim - 1, -1, -1):
            coord[a] = np.float32(rest % shape[a]) - means[e, a]
            rest //= shape[a]
        for r in range(ndim):
            for c in range(ndim):
                products[e, r, c] += np.float64(coord[r]) * np.float64(coord[c])
    covariance = np.empty((n_edges, ndim, ndim), dtype=np.float32)
    for e in range(n_edges):
        for r in range(ndim):
            for c in range(ndim):
                covariance[e, r, c] = np.float32(products[e, r, c]) / np.float32(counts[e])
    return covariance
