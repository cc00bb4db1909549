"""Slow, plain reference implementation of ilastik's pixel features (scipy.ndimage only).

This is the executable statement of the recipe that the fast path in ``compute.py`` must
reproduce; tests and ``scripts/bench_features.py`` compare the two. It favours clarity over
speed: every 1D pass is ``scipy.ndimage.correlate1d`` with the explicit kernels from
``kernels.py`` and ``mode='mirror'`` (mirror without repeating the edge pixel, as
fastfilters and vigra do). Identical 1D pass sequences are computed once and reused, the
way a careful scipy implementation would, so that benchmark ratios are fair. Eigenvalues
come from numpy.linalg.eigvalsh in float64.

The recipe, per feature scale s and input channel:
1. pre-smooth with sigma sqrt(s^2 - 1) if s > 1 else s (window 3.5), per z-slice when the
   scale is computed in 2D;
2. filter at s' = min(s, 1) with window 2.0: GS = G(s'); LoG = sum of second derivatives;
   GGM = |gradient|; DoG = G(s') - G(0.66 s'); Hessian eigenvalues; structure tensor
   eigenvalues (gradient/smoothing sigmas per ``structure_tensor_sigmas``); eigenvalues
   descending; per z-slice when ``filter_in_2d``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .kernels import (
    FILTER_WINDOW,
    PRESMOOTH_WINDOW,
    difference_of_gaussians_sigmas,
    filter_sigma,
    gaussian_kernel,
    presmoothing_sigma,
    structure_tensor_sigmas,
)
from .spec import FeatureSpec, feature_count, filter_in_2d, presmooth_in_2d, subchannel_count, validate_specs


class _PassCache:
    """Memoises separable pass sequences: key = (source key, ((axis, sigma, order, window), ...))."""

    def __init__(self):
        self._store = {}

    def apply(self, source_key, source, passes):
        passes = tuple(passes)
        key = (source_key, passes)
        if key in self._store:
            return self._store[key]
        if not passes:
            return source
        previous = self.apply(source_key, source, passes[:-1])
        axis, sigma, order, window = passes[-1]
        result = ndimage.correlate1d(
            previous, gaussian_kernel(sigma, order, window), axis=axis, output=np.float32, mode="mirror"
        )
        self._store[key] = result
        return result


def _separable(cache, key, source, axes, orders, sigma):
    """Gaussian derivative with the given order per axis (others smoothed), axes in z, y, x order."""
    return cache.apply(key, source, [(axis, sigma, orders.get(axis, 0), FILTER_WINDOW) for axis in axes])


def _eigenvalues_descending(components, n):
    """components: dict (i, j) -> array for i <= j of a symmetric n x n field."""
    shape = components[(0, 0)].shape
    matrix = np.empty(shape + (n, n), dtype=np.float64)
    for (i, j), value in components.items():
        matrix[..., i, j] = value
        matrix[..., j, i] = value
    values = np.linalg.eigvalsh(matrix)  # ascending
    return values[..., ::-1].astype(np.float32)


def _feature(cache, key, smoothed, spec, axes, structure_tensor_order):
    """Sub-channels (list of float32 arrays) of one feature of one channel."""
    sigma = filter_sigma(spec.scale)
    fid = spec.feature_id
    if fid == "GaussianSmoothing":
        return [_separable(cache, key, smoothed, axes, {}, sigma)]
    if fid == "DifferenceOfGaussians":
        wide, narrow = difference_of_gaussians_sigmas(spec.scale)
        return [
            _separable(cache, key, smoothed, axes, {}, wide)
            - _separable(cache, key, smoothed, axes, {}, narrow)
        ]
    if fid == "LaplacianOfGaussian":
        total = np.zeros(smoothed.shape, dtype=np.float32)
        for a in axes:
            total += _separable(cache, key, smoothed, axes, {a: 2}, sigma)
        return [total]
    if fid == "GaussianGradientMagnitude":
        total = np.zeros(smoothed.shape, dtype=np.float64)
        for a in axes:
            total += _separable(cache, key, smoothed, axes, {a: 1}, sigma).astype(np.float64) ** 2
        return [np.sqrt(total).astype(np.float32)]
    if fid == "HessianOfGaussianEigenvalues":
        comps = {}
        for i, a in enumerate(axes):
            for j, b in enumerate(axes):
                if j >= i:
                    orders = {a: 2} if a == b else {a: 1, b: 1}
                    comps[(i, j)] = _separable(cache, key, smoothed, axes, orders, sigma)
        values = _eigenvalues_descending(comps, len(axes))
        return [values[..., k] for k in range(len(axes))]
    if fid == "StructureTensorEigenvalues":
        grad_sigma, tensor_sigma = structure_tensor_sigmas(spec.scale, structure_tensor_order)
        grads = [_separable(cache, key, smoothed, axes, {a: 1}, grad_sigma) for a in axes]
        comps = {}
        for i in range(len(axes)):
            for j in range(i, len(axes)):
                product = grads[i] * grads[j]
                comps[(i, j)] = cache.apply(
                    (key, "tensor", grad_sigma, axes, i, j),
                    product,
                    [(a, tensor_sigma, 0, FILTER_WINDOW) for a in axes],
                )
        values = _eigenvalues_descending(comps, len(axes))
        return [values[..., k] for k in range(len(axes))]
    raise ValueError(fid)


def reference_features(
    image: np.ndarray,
    specs: list[FeatureSpec],
    *,
    structure_tensor_order: str = "fastfilters",
    depth: int | None = None,
    interior: tuple | None = None,
) -> np.ndarray:
    """Same contract as ``compute_features`` (without ``out``), computed the slow, plain way."""
    validate_specs(specs, structure_tensor_order)
    data = np.asarray(image)
    if data.ndim != 4:
        raise ValueError("image must be (z, y, x, c)")
    depth = data.shape[0] if depth is None else int(depth)
    n_channels = data.shape[3]
    result = np.empty(data.shape[:3] + (feature_count(specs, n_channels, depth),), dtype=np.float32)
    # Output columns: for each spec in order, for each channel, the sub-channels.
    first_column = {}
    column = 0
    for index, spec in enumerate(specs):
        first_column[index] = column
        column += subchannel_count(spec, depth) * n_channels
    # Compute one scale at a time (sharing its passes), so that memory stays bounded.
    groups = {}
    for index, spec in enumerate(specs):
        groups.setdefault((spec.scale, spec.in_2d), []).append(index)
    for c in range(n_channels):
        channel = np.ascontiguousarray(data[..., c], dtype=np.float32)
        for indices in groups.values():
            cache = _PassCache()
            for index in indices:
                spec = specs[index]
                smooth_axes = (1, 2) if presmooth_in_2d(spec, depth) else (0, 1, 2)
                filter_axes = (1, 2) if filter_in_2d(spec, depth) else (0, 1, 2)
                pre_sigma = presmoothing_sigma(spec.scale)
                smoothed = cache.apply(
                    "channel", channel, [(a, pre_sigma, 0, PRESMOOTH_WINDOW) for a in smooth_axes]
                )
                smoothed_key = ("smoothed", pre_sigma, smooth_axes)
                subchannels = _feature(
                    cache, smoothed_key, smoothed, spec, filter_axes, structure_tensor_order
                )
                assert len(subchannels) == subchannel_count(spec, depth)
                start = first_column[index] + c * len(subchannels)
                for k, values in enumerate(subchannels):
                    result[..., start + k] = values
    if interior is not None:
        result = np.ascontiguousarray(result[tuple(interior)])
    return result
