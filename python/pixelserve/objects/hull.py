"""ilastik's "2D/3D Convex Hull Features", as ilastik's vigra builds compute them, compiled.

vigra's `ConvexHullFeatures` (`include/vigra/accumulator.hxx:6379-6616`) fills the hull
polytope into a label array over the object's bounding box, sets the object's own pixels to
0 and measures what is left (the "defects"). In every ilastik build checked (1.2.2 fixtures to
the 2024 GUI reference) the fill covers the whole bounding box, so the "hull" is the bounding
box (shared/notes/object-classification.md §3.3); that is what is computed here:
- HullVolume = box volume, HullCenter = box centre, Convexity = Count / HullVolume;
- defects = box pixels not of this object (other objects' pixels included), split into
  direct-neighbour components numbered in scan order; DefectCenter = mean coordinate of all
  defect pixels (NaN without defects);
- DefectVolumeMean/Variance/Skewness/Kurtosis: vigra's Mean and *unbiased* Variance,
  Skewness, Kurtosis of the component sizes (0 below 2, 3, 4 defects);
- DefectDisplacementMean = sum_k size_k * |centre_k - object centre| / total defect size.
All coordinates are x, y(, z).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .components import JIT, label_equal

HULL_COLUMNS = {  # scalar feature -> its column in a hull row
    "InputVolume": 0, "HullVolume": 1, "Convexity": 2, "DefectVolumeMean": 3,
    "DefectVolumeVariance": 4, "DefectVolumeSkewness": 5, "DefectVolumeKurtosis": 6,
    "DefectCount": 7, "DefectDisplacementMean": 8,
}
VECTOR_FEATURES = ("InputCenter", "HullCenter", "DefectCenter")  # then D columns each


def hull_width(dims: int) -> int:
    return len(HULL_COLUMNS) + 3 * dims


@numba.njit(**JIT)
def _size_moments(sizes, count, row):
    """vigra's Mean, UnbiasedVariance, UnbiasedSkewness, UnbiasedKurtosis of the sizes, in
    the accumulator's order (incremental second moment, then a pass for the third and fourth)."""
    n = 0.0
    total = 0.0
    m2 = 0.0
    for k in range(1, count + 1):
        v = sizes[k]
        n += 1.0
        total += v
        if n > 1.0:
            d = total / n - v
            m2 += n / (n - 1.0) * (d * d)
    mean = total / n
    m3 = 0.0
    m4 = 0.0
    for k in range(1, count + 1):
        d = sizes[k] - mean
        m3 += math.pow(d, 3.0)
        m4 += math.pow(d, 4.0)
    row[3] = mean
    if count > 1:
        row[4] = m2 / (n - 1.0)
    if count > 2:
        skewness = math.sqrt(n) * m3 / math.pow(m2, 1.5)
        row[5] = math.sqrt(n * (n - 1.0)) / (n - 2.0) * skewness
    if count > 3:
        kurtosis = n * m4 / (m2 * m2) - 3.0
        row[6] = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * kurtosis + 6.0)


@numba.njit(**JIT)
def hull_features(labels, boxes, centers, counts, first, last, dims, out):
    """Hull rows (see HULL_COLUMNS / VECTOR_FEATURES) of objects [first, last).
    boxes[l] = (z0, z1, y0, y1, x0, x1) is the bounding box, centers[l] the object's centre
    (x, y, z order), counts[l] its pixel count."""
    biggest = 1
    for label in range(first, last):
        b = boxes[label]
        biggest = max(biggest, (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]))
    defect_buffer = np.empty(biggest, dtype=np.uint8)
    component_buffer = np.empty(biggest, dtype=np.uint32)
    parent = np.empty(biggest // 2 + 2, dtype=np.uint32)
    sizes = np.zeros(biggest // 2 + 2, dtype=np.float64)
    sums = np.zeros((biggest // 2 + 2, 3), dtype=np.float64)
    position = np.zeros(3, dtype=np.float64)
    total_sum = np.zeros(3, dtype=np.float64)
    vector = 9
    for label in range(first, last):
        z0, z1, y0, y1, x0, x1 = boxes[label]
        shape = (z1 - z0, y1 - y0, x1 - x0)
        volume = shape[0] * shape[1] * shape[2]
        defects = defect_buffer[:volume].reshape(shape)
        for z in range(z0, z1):
            for y in range(y0, y1):
                for x in range(x0, x1):
                    defects[z - z0, y - y0, x - x0] = labels[z, y, x] != label
        components = component_buffer[:volume].reshape(shape)
        count = label_equal(defects, components, parent)
        sizes[:count + 1] = 0.0
        sums[:count + 1] = 0.0
        total_sum[:] = 0.0
        total = 0.0
        for z in range(shape[0]):
            for y in range(shape[1]):
                for x in range(shape[2]):
                    k = components[z, y, x]
                    if k == 0:
                        continue
                    position[0] = x
                    position[1] = y
                    position[2] = z
                    sizes[k] += 1.0
                    total += 1.0
                    for d in range(dims):
                        sums[k, d] += position[d]
                        total_sum[d] += position[d]
        row = out[label]
        extent = (x1 - x0, y1 - y0, z1 - z0)
        lower = (x0, y0, z0)
        row[0] = counts[label]
        row[1] = volume
        row[2] = counts[label] / volume
        row[7] = count
        for d in range(dims):
            row[vector + d] = centers[label, d]
            # mean of all box coordinates, as vigra sums them (exact integers)
            axis_sum = (extent[d] - 1) * extent[d] / 2.0 * (volume // extent[d])
            row[vector + dims + d] = axis_sum / volume + lower[d]
            row[vector + 2 * dims + d] = total_sum[d] / total + lower[d]
        if count == 0:
            continue
        _size_moments(sizes, count, row)
        displacement = 0.0
        for k in range(1, count + 1):
            squared = 0.0
            for d in range(dims):
                offset = sums[k, d] / sizes[k] - (centers[label, d] - lower[d])
                squared += offset * offset
            displacement += sizes[k] * math.sqrt(squared)
        row[8] = displacement / total
