"""Fast computation of ilastik's pixel features into the pixel-major layout the forest reads.

Plan (the recipe itself is documented in ``reference.py``):

1. Group the specs by (scale, ComputeIn2d): one pre-smoothing per group and channel, and
   all 1D filter passes of a group are shared between its features.
2. Pre-smooth each group's channel once over the region its filters need (interior plus
   the filter reach), from the input region plus the pre-smoothing reach.
3. Walk the interior in tiles (full x rows, a few y rows / z slices); for every tile run
   each group's filter passes on the tile plus margin and let numba kernels write the
   features straight into ``out``. The tile's rows of ``out`` stay in cache while all
   groups write their columns, which is what makes the pixel-major layout cheap.

Values only depend on the image and the geometry of the whole image (mirror borders at the
image edges), never on how it is tiled, provided blocks come with ``halo()`` context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pixelserve.errors import UserError

from . import combine
from .kernels import (
    FILTER_WINDOW,
    PRESMOOTH_WINDOW,
    difference_of_gaussians_sigmas,
    filter_sigma,
    kernel_radius,
    presmoothing_sigma,
    structure_tensor_sigmas,
)
from .passes import PassCache, correlate, kernel32
from .spec import (
    FeatureSpec,
    feature_count,
    filter_chain_radius,
    filter_in_2d,
    presmooth_in_2d,
    presmooth_radius,
    subchannel_count,
    validate_specs,
)

# Pixels per tile (without margins): a few MB of responses per group, cache friendly.
_TILE_PIXELS = 1 << 17
_MIN_TILE_ROWS = 16


@dataclass
class _Group:
    """Specs sharing one scale and 2D/3D mode, with their first output columns."""

    scale: float
    presmooth_2d: bool
    filter_2d: bool
    presmooth_radius: int
    margin: int  # reach of the group's filters along each filtered axis
    members: list = field(default_factory=list)  # (spec, first column, sub-channel count)

    @property
    def filter_axes(self) -> tuple:
        return (1, 2) if self.filter_2d else (0, 1, 2)

    @property
    def presmooth_axes(self) -> tuple:
        return (1, 2) if self.presmooth_2d else (0, 1, 2)


def _plan_groups(specs, n_channels, depth, structure_tensor_order):
    groups: dict = {}
    column = 0
    for spec in specs:
        key = (spec.scale, spec.in_2d)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(
                scale=spec.scale,
                presmooth_2d=presmooth_in_2d(spec, depth),
                filter_2d=filter_in_2d(spec, depth),
                presmooth_radius=presmooth_radius(spec),
                margin=0,
            )
        group.margin = max(group.margin, filter_chain_radius(spec, structure_tensor_order))
        count = subchannel_count(spec, depth)
        group.members.append((spec, column, count))
        column += count * n_channels
    return list(groups.values())


def _normalise_interior(interior, shape):
    if interior is None:
        return tuple((0, n) for n in shape)
    if len(interior) != 3:
        raise ValueError("interior must be a tuple of 3 slices (z, y, x)")
    bounds = []
    for sl, n in zip(interior, shape):
        start, stop, step = sl.indices(n)
        if step != 1 or stop <= start:
            raise ValueError(f"interior slices must be non-empty with step 1, got {interior!r}")
        bounds.append((start, stop))
    return tuple(bounds)


def _check_array_size(groups, shape):
    """Mirror borders need every axis longer than each kernel radius applied along it.

    Sufficient for every pass below: pass inputs are either whole axes or extend a full
    margin beyond the pixels they serve."""
    for group in groups:
        filter_radius = kernel_radius(filter_sigma(group.scale), FILTER_WINDOW)  # widest filter kernel
        for axis, length in enumerate(shape):
            needed = 0
            if axis in group.presmooth_axes:
                needed = max(needed, group.presmooth_radius)
            if axis in group.filter_axes:
                needed = max(needed, filter_radius)
            if needed >= length:
                raise UserError(
                    f"The image block ({' x '.join(map(str, shape))} pixels, z y x) is too small for scale "
                    f"σ={float(group.scale)}: its filters reach {needed} pixels along {'zyx'[axis]}. Choose smaller "
                    "scales in the project's feature selection, or use a bigger image."
                )


def _tile_shape(interior_shape, any_3d):
    nz, ny, nx = interior_shape
    if any_3d:
        tz = min(nz, 16)
        ty = min(ny, max(_MIN_TILE_ROWS, _TILE_PIXELS // (tz * nx)))
        return tz, ty
    plane = ny * nx
    if plane >= _TILE_PIXELS:
        return 1, min(ny, max(_MIN_TILE_ROWS, _TILE_PIXELS // nx))
    return min(nz, max(1, _TILE_PIXELS // plane)), ny


def _filter_passes(axes, orders, sigma):
    """Passes (in z, y, x order) of a Gaussian derivative: orders maps axis -> 1 or 2."""
    return [(a, sigma, orders.get(a, 0), FILTER_WINDOW) for a in axes]


def _write_feature(cache, spec, axes, out_tile, col, structure_tensor_order):
    """Compute one feature of one channel from the tile's pre-smoothed source 'P'."""
    sigma = filter_sigma(spec.scale)
    fid = spec.feature_id

    def response(name, orders, at_sigma, pad=0):
        return cache.get(name, _filter_passes(axes, orders, at_sigma), pad)

    if fid == "GaussianSmoothing":
        _write(combine.write_copy, out_tile, col, cache, response("P", {}, sigma))
    elif fid == "DifferenceOfGaussians":
        wide, narrow = difference_of_gaussians_sigmas(spec.scale)
        _write(combine.write_difference, out_tile, col, cache, response("P", {}, wide), response("P", {}, narrow))
    elif fid == "LaplacianOfGaussian":
        _write(combine.write_sum, out_tile, col, cache, *[response("P", {a: 2}, sigma) for a in axes], as_tuple=True)
    elif fid == "GaussianGradientMagnitude":
        _write(combine.write_magnitude, out_tile, col, cache, *[response("P", {a: 1}, sigma) for a in axes], as_tuple=True)
    elif fid == "HessianOfGaussianEigenvalues":
        comps = [response("P", {a: 2} if a == b else {a: 1, b: 1}, sigma) for i, a in enumerate(axes) for b in axes[i:]]
        _write(_eigenvalue_writer(comps), out_tile, col, cache, *comps)
    elif fid == "StructureTensorEigenvalues":
        grad_sigma, tensor_sigma = structure_tensor_sigmas(spec.scale, structure_tensor_order)
        # The gradient is smoothed again, so it is needed beyond the interior.
        pad = kernel_radius(tensor_sigma, FILTER_WINDOW)
        grads = [response("P", {a: 1}, grad_sigma, pad) for a in axes]
        comps = []
        for i in range(len(axes)):
            for j in range(i, len(axes)):
                name = ("tensor", grad_sigma, i, j)
                if not cache.has_source(name):
                    (gi, origin), (gj, _) = grads[i], grads[j]
                    cache.add_source(name, np.multiply(gi, gj), origin)
                comps.append(response(name, {}, tensor_sigma))
        _write(_eigenvalue_writer(comps), out_tile, col, cache, *comps)
    else:  # validate_specs() rejects anything else
        raise AssertionError(fid)


def _eigenvalue_writer(comps):
    return combine.write_eigenvalues2 if len(comps) == 3 else combine.write_eigenvalues3


def _write(kernel, out_tile, col, cache, *responses, as_tuple=False):
    """Run a combine kernel on responses that all start at the same origin."""
    origin = responses[0][1]
    assert all(r[1] == origin for r in responses)
    (z0, _), (y0, _) = cache.interior
    offsets = (z0 - origin[0], y0 - origin[1], cache.x_offset)
    arrays = [r[0] for r in responses]
    if as_tuple:
        kernel(out_tile, col, tuple(arrays), *offsets)
    else:
        kernel(out_tile, col, *arrays, *offsets)


def _presmooth(channel, group, region_in, region_pre):
    """Pre-smoothed channel over region_pre (array coordinates), from region_in."""
    # Cast (never rescale) only the region this group needs.
    source = np.ascontiguousarray(channel[tuple(slice(a, b) for a, b in region_in)], dtype=np.float32)
    kernel = kernel32(presmoothing_sigma(group.scale), 0, PRESMOOTH_WINDOW)
    for axis in group.presmooth_axes:
        # z and y passes only produce the rows the filters need; x rows are filtered whole.
        (p0, p1), (i0, _) = region_pre[axis], region_in[axis]
        source = correlate(source, axis, kernel, p0 - i0, p1 - i0)
    (p0, p1), (i0, _) = region_pre[2], region_in[2]
    crop_z = slice(None) if 0 in group.presmooth_axes else slice(region_pre[0][0] - region_in[0][0], region_pre[0][1] - region_in[0][0])
    return source[crop_z, :, p0 - i0 : p1 - i0]


def compute_features(
    image: np.ndarray,
    specs: list[FeatureSpec],
    *,
    structure_tensor_order: str = "fastfilters",
    depth: int | None = None,
    interior: tuple | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Compute ilastik's pixel features of a (z, y, x, c) image.

    Returns float32 C-contiguous (z', y', x', F) (z', y', x' = the interior): for each spec
    in order, for each input channel, the filter's sub-channels (eigenvalues descending).
    ``depth`` is the z size of the whole volume (decides 2D vs 3D); ``interior`` selects
    the region to return when ``image`` is a block padded with ``halo()`` context (padding
    clipped at the image edges); ``out`` receives the result if given.
    """
    specs = list(specs)
    validate_specs(specs, structure_tensor_order)
    data = np.asarray(image)
    if data.ndim != 4:
        raise UserError(f"Pixel features need an image with axes (z, y, x, c), got {data.ndim} axes: reshape it first.")
    if data.dtype.kind not in "biuf":
        raise UserError(f"Pixel features need a numeric image, got dtype {data.dtype}: convert it to integers or floats.")
    shape = data.shape[:3]
    n_channels = data.shape[3]
    depth = shape[0] if depth is None else int(depth)
    if depth < shape[0]:
        raise ValueError(f"depth {depth} is smaller than the block's z size {shape[0]}")
    bounds = _normalise_interior(interior, shape)
    out_shape = tuple(b - a for a, b in bounds) + (feature_count(specs, n_channels, depth),)
    if out is None:
        out = np.empty(out_shape, dtype=np.float32)
    elif out.shape != out_shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {out_shape}")
    if not specs or n_channels == 0:
        return out

    groups = _plan_groups(specs, n_channels, depth, structure_tensor_order)
    _check_array_size(groups, shape)

    # Pre-smoothed channels, per group: (region_pre, [array per channel]).
    smoothed = []
    channels = [data[..., c] for c in range(n_channels)]
    for group in groups:
        region_pre = tuple(
            (max(0, a - group.margin), min(n, b + group.margin)) if axis in group.filter_axes else (a, b)
            for axis, ((a, b), n) in enumerate(zip(bounds, shape))
        )
        region_in = tuple(
            (max(0, a - group.presmooth_radius), min(n, b + group.presmooth_radius))
            if axis in group.presmooth_axes
            else (a, b)
            for axis, ((a, b), n) in enumerate(zip(region_pre, shape))
        )
        arrays = [_presmooth(channel, group, region_in, region_pre) for channel in channels]
        smoothed.append((region_pre, arrays))

    (z0, z1), (y0, y1), (x0, x1) = bounds
    tz, ty = _tile_shape((z1 - z0, y1 - y0, x1 - x0), any(not g.filter_2d for g in groups))
    for tile_z in range(z0, z1, tz):
        tile_z_end = min(z1, tile_z + tz)
        for tile_y in range(y0, y1, ty):
            tile_y_end = min(y1, tile_y + ty)
            out_tile = out[tile_z - z0 : tile_z_end - z0, tile_y - y0 : tile_y_end - y0]
            for group, (region_pre, arrays) in zip(groups, smoothed):
                _compute_tile(
                    group, region_pre, arrays, (tile_z, tile_z_end), (tile_y, tile_y_end), x0,
                    out_tile, structure_tensor_order,
                )
    return out


def _compute_tile(group, region_pre, arrays, tile_z, tile_y, x0, out_tile, structure_tensor_order):
    (pz0, pz1), (py0, py1), (px0, _) = region_pre
    margin = group.margin
    if group.filter_2d:
        src_z = tile_z
    else:
        src_z = (max(pz0, tile_z[0] - margin), min(pz1, tile_z[1] + margin))
    src_y = (max(py0, tile_y[0] - margin), min(py1, tile_y[1] + margin))
    interior = (
        (tile_z[0] - src_z[0], tile_z[1] - src_z[0]),
        (tile_y[0] - src_y[0], tile_y[1] - src_y[0]),
    )
    crop = (slice(src_z[0] - pz0, src_z[1] - pz0), slice(src_y[0] - py0, src_y[1] - py0))
    axes = group.filter_axes
    for c, presmoothed in enumerate(arrays):
        cache = PassCache(interior, x_offset=x0 - px0)
        cache.add_source("P", np.ascontiguousarray(presmoothed[crop]))
        for spec, first_column, count in group.members:
            _write_feature(cache, spec, axes, out_tile, first_column + c * count, structure_tensor_order)
