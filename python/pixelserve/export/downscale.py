"""Downscaling for image pyramids, computed block by block exactly as ilastik's OME-Zarr export
does it (lazyflow/operators/opResize.py, OpResize, as used by
lazyflow/utility/io_util/write_ome_zarr.py).

ilastik's rule, per axis with factor f = source size / target size:

- target pixel i samples the source at i * f + (f / 2 - 0.5), the centre of the source pixels
  it covers (no half-pixel shift);
- intensities: the source is smoothed with a Gaussian of sigma f / 4 on the axes that shrink
  (scipy.ndimage.gaussian_filter, mode 'mirror', in float64), then sampled with linear
  interpolation (scipy.ndimage.map_coordinates, order 1, mode 'mirror'); labels: no smoothing
  and nearest-neighbour sampling (order 0), so no new label values appear;
- a block reads the source region it samples plus a halo of ceil(3.5 sigma) source pixels (at
  least 2 for linear interpolation) on the shrinking axes, clipped to the source; smoothing
  and mirroring happen within that region, so a pyramid level depends on the block grid, and
  ilastik's grid is the level's chunk grid, which the caller therefore uses too;
- channels are sampled one at a time; values are cast to the output dtype by plain numpy
  assignment (floats truncate towards zero for integer outputs).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

HALO_WINDOW = 3.5  # lazyflow.roi.enlargeRoiForHalo's default window, in sigmas
LINEAR, NEAREST = 1, 0
_MINIMUM_HALO = {LINEAR: 2, NEAREST: 0}


def downscale_block(read_source: Callable[[tuple[slice, ...]], np.ndarray], source_shape, target_shape,
                    start, stop, order: int, channel_axis: int, out: np.ndarray) -> None:
    """Fill `out` with the target region [start, stop) of the source image resized to
    `target_shape`; `read_source(region)` returns a source region."""
    factors = np.divide(source_shape, target_shape)
    sigmas = np.array([f / 4 if f > 1 and order == LINEAR else 0.0 for f in factors])
    shrinks = np.not_equal(factors, 1)
    start, stop = np.asarray(start), np.asarray(stop)
    raw_start = np.multiply(start, factors) + (factors / 2 - 0.5)
    raw_roi = np.array([raw_start, raw_start + np.multiply(stop - start, factors)])

    halo = np.ceil(HALO_WINDOW * sigmas)
    with_halo = np.array([np.where(shrinks, np.maximum(raw_roi[0] - halo, 0), raw_roi[0]),
                          np.where(shrinks, np.minimum(raw_roi[1] + halo, source_shape), raw_roi[1])])
    minimum = _MINIMUM_HALO[order]
    if minimum:
        existing = with_halo - raw_roi
        extra = np.array([np.minimum(0, -minimum - existing[0]), np.maximum(0, minimum - existing[1])])
        with_halo = with_halo + extra * shrinks
    region = np.clip(np.array([np.floor(with_halo[0]), np.ceil(with_halo[1])]), 0, source_shape).astype(int)

    raw = read_source(tuple(slice(a, b) for a, b in zip(*region))).astype(np.float64)
    filtered = ndimage.gaussian_filter(raw, sigmas, mode="mirror")
    within = raw_roi - region[0]
    starts, stops = within[0], within[1] - factors
    counts = stop - start
    # ilastik interpolates in all dimensions, channel by channel. Along an axis that keeps its
    # size and has one pixel in the block (t, c, and z of 2D images: ilastik's chunks hold one
    # t and one c) the coordinate is a whole number, so its weights are exactly 1 and 0: leaving
    # such axes out gives the same values bit for bit, at a fraction of the cost (a linear
    # interpolation visits 2^dimensions neighbours).
    kept = [i for i in range(len(counts)) if i != channel_axis and (shrinks[i] or counts[i] > 1)]
    grid = np.meshgrid(*(np.linspace(starts[i], stops[i], counts[i]) for i in kept), indexing="ij")
    for channel in range(out.shape[channel_axis]):
        plane = tuple(channel if i == channel_axis else (slice(None) if i in kept else 0) for i in range(out.ndim))
        values = ndimage.map_coordinates(filtered[plane], grid, order=order, mode="mirror")
        part = tuple(slice(channel, channel + 1) if i == channel_axis else slice(None) for i in range(out.ndim))
        out[part] = values.reshape(out[part].shape)


def pyramid_shapes(shape, axes: str, chunks) -> list[tuple[int, ...]]:
    """ilastik's default scales (write_ome_zarr.generate_default_target_scales): the image halved
    (floor, at least 1) along z, y and x per level, until the whole level fits one chunk along
    each of them."""
    shapes = []
    for level in range(42):  # ilastik's sanity limit
        factor = 2**level
        scaled = tuple(max(int(n / factor), 1) if a in "zyx" else n for a, n in zip(axes, shape))
        shapes.append(scaled)
        if all(n <= c for a, n, c in zip(axes, scaled, chunks) if a in "zyx"):
            break
    return shapes
