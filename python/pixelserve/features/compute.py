"""Fast computation of ilastik's pixel features into the pixel-major layout the forest reads.

Steps (the recipe itself is documented in ``reference.py``):

1. Group the specs by (scale, ComputeIn2d) (``plan.py``): one pre-smoothing per group and
   channel; the group's features share their 1D filter passes.
2. Pre-smooth each group's channels once, over the interior plus the filters' reach.
3. Walk the interior in tiles (whole x rows, a few y rows / z slices). For each tile, run
   every group's passes on the tile plus margin into one stack of responses, then one numba
   writer fills the tile's output rows with all features at once (``combine.py``).

Every pass computes only what later steps need (the tile, widened where a later filter
reaches further), so margins cost reads, not arithmetic. Values depend only on the image
and its edges, never on tiling or blocking: a block padded with ``halo()`` context (clipped
at the image edges) gives bit-identical features to the whole image.
"""

from __future__ import annotations

import numpy as np

from pixelserve.errors import UserError

from . import combine
from .kernels import FILTER_WINDOW, PRESMOOTH_WINDOW, filter_sigma, kernel_radius, presmoothing_sigma
from .passes import PassCache, correlate, kernel32, thread_pool
from .plan import PRESMOOTHED, build_program, plan_groups
from .spec import FeatureSpec, feature_count, validate_specs

# Bytes of filter responses held per tile: big enough to amortise per-call overhead, small
# enough that a tile's responses and output rows stay mostly in cache.
_STACK_BYTES = 64 << 20
_MIN_TILE_PIXELS = 4096
_MAX_TILE_SLICES_3D = 8


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
                    f"σ={float(group.scale)}: its filters reach {needed} pixels along {'zyx'[axis]}. "
                    "Choose smaller scales in the project's feature selection, or use a bigger image."
                )


def _tile_shape(interior_shape, any_3d, n_slots):
    """(z slices, y rows) per tile; tiles always span the interior's whole x range."""
    nz, ny, nx = interior_shape
    pixels = max(_MIN_TILE_PIXELS, _STACK_BYTES // (4 * max(1, n_slots)))
    if any_3d:
        tz = min(nz, _MAX_TILE_SLICES_3D)
        return tz, min(ny, max(1, pixels // (tz * nx)))
    plane = ny * nx
    if plane > pixels:
        return 1, min(ny, max(1, pixels // nx))
    return min(nz, max(1, pixels // plane)), ny


def _presmooth(channel, group, region_in, region_pre, pool):
    """Pre-smoothed channel over region_pre (array coordinates), from region_in.

    Returns (view, buffer): the buffer comes from the pool and goes back to it when done."""
    # Cast (never rescale) only the region this group needs.
    region = channel[tuple(slice(a, b) for a, b in region_in)]
    source = pool.take(region.shape)
    source[...] = region
    kernel = kernel32(presmoothing_sigma(group.scale), 0, PRESMOOTH_WINDOW)
    for axis in group.presmooth_axes:
        (p0, p1), (i0, _) = region_pre[axis], region_in[axis]
        filtered = correlate(source, axis, kernel, p0 - i0, p1 - i0, pool=pool)
        if filtered is not source:
            pool.give(source)
            source = filtered
    view = source
    if 0 not in group.presmooth_axes:  # z was not filtered, so not cropped yet
        (p0, p1), (i0, _) = region_pre[0], region_in[0]
        view = source[p0 - i0 : p1 - i0]
    return view, source


def _group_regions(group, bounds, shape):
    """(region_pre, region_in): where the group's pre-smoothed image is needed, and the input
    that takes. Both in array coordinates, clipped to the array (its edges are image edges)."""
    region_pre = tuple(
        (max(0, a - group.margin), min(n, b + group.margin)) if axis in group.filter_axes else (a, b)
        for axis, ((a, b), n) in enumerate(zip(bounds, shape))
    )
    region_in = tuple(
        (
            (max(0, a - group.presmooth_radius), min(n, b + group.presmooth_radius))
            if axis in group.presmooth_axes
            else (a, b)
        )
        for axis, ((a, b), n) in enumerate(zip(region_pre, shape))
    )
    return region_pre, region_in


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
    ``depth`` is the z size of the whole volume (decides 2D vs 3D); ``interior`` selects the
    region to return when ``image`` is a block padded with ``halo()`` context (padding
    clipped at the image edges); ``out`` receives the result if given. Heavy work runs in
    numba with the GIL released; no threads are started.
    """
    specs = list(specs)
    validate_specs(specs, structure_tensor_order)
    data = np.asarray(image)
    if data.ndim != 4:
        raise UserError(
            f"Pixel features need an image with axes (z, y, x, c), got {data.ndim} axes: reshape it first."
        )
    if data.dtype.kind not in "biuf":
        raise UserError(
            f"Pixel features need a numeric image, got dtype {data.dtype}: convert it to integers or floats."
        )
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

    groups = plan_groups(specs, n_channels, depth, structure_tensor_order)
    _check_array_size(groups, shape)
    program, first_slot = build_program(groups, n_channels)
    n_slots = sum(len(g.responses) for g in groups) * n_channels

    pool = thread_pool()
    smoothed = []  # per group: (region_pre, [pre-smoothed array per channel])
    buffers = []  # pool buffers to give back at the end
    for group in groups:
        region_pre, region_in = _group_regions(group, bounds, shape)
        arrays = []
        for c in range(n_channels):
            view, buffer = _presmooth(data[..., c], group, region_in, region_pre, pool)
            arrays.append(view)
            buffers.append(buffer)
        smoothed.append((region_pre, arrays))

    (z0, z1), (y0, y1), (x0, x1) = bounds
    tz, ty = _tile_shape((z1 - z0, y1 - y0, x1 - x0), any(not g.filter_2d for g in groups), n_slots)
    stack_buffer = pool.take((n_slots * tz * ty * (x1 - x0),))
    buffers.append(stack_buffer)
    for tile_z in range(z0, z1, tz):
        tile_z_end = min(z1, tile_z + tz)
        for tile_y in range(y0, y1, ty):
            tile_y_end = min(y1, tile_y + ty)
            tile_shape = (tile_z_end - tile_z, tile_y_end - tile_y, x1 - x0)
            stack = stack_buffer[: n_slots * int(np.prod(tile_shape))].reshape((n_slots,) + tile_shape)
            for group, (region_pre, arrays), slot in zip(groups, smoothed, first_slot):
                _group_responses(
                    group,
                    region_pre,
                    arrays,
                    (tile_z, tile_z_end),
                    (tile_y, tile_y_end),
                    (x0, x1),
                    stack,
                    slot,
                    pool,
                )
            combine.write_features(
                out[tile_z - z0 : tile_z_end - z0, tile_y - y0 : tile_y_end - y0],
                stack,
                program,
                combine.WRITER_CHUNK,
            )
    del smoothed, stack  # views into pool buffers: drop them before giving the buffers back
    for buffer in buffers:
        pool.give(buffer)
    return out


def _group_responses(group, region_pre, arrays, tile_z, tile_y, tile_x, stack, first_slot, pool):
    """Compute one group's responses for one tile into its stack slots, for every channel."""
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
        (tile_x[0] - px0, tile_x[1] - px0),
    )
    crop = (slice(src_z[0] - pz0, src_z[1] - pz0), slice(src_y[0] - py0, src_y[1] - py0))
    per_channel = len(group.responses)
    for c, presmoothed in enumerate(arrays):
        cache = PassCache(interior, pool)
        tile_source = presmoothed[crop]
        source = cache.take(tile_source.shape)
        source[...] = tile_source
        cache.add_source(PRESMOOTHED, source)
        for k, response in enumerate(group.responses):
            if response.source != PRESMOOTHED and not cache.has_source(response.source):
                tensor = group.tensors[response.source]
                gradient_i, origin = cache.get(PRESMOOTHED, tensor.gradient_i, tensor.pad)
                gradient_j, _ = cache.get(PRESMOOTHED, tensor.gradient_j, tensor.pad)
                product = cache.take(gradient_i.shape)
                np.multiply(gradient_i, gradient_j, out=product)
                cache.add_source(response.source, product, origin)
            cache.get(response.source, response.passes, 0, into=stack[first_slot + c * per_channel + k])
        cache.release()
