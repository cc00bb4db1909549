"""Sampled Gaussian kernels exactly as ilastik's filter libraries build them.

ilastik (through fastfilters, and vigra before it) does not use a truncated continuous
Gaussian the way scipy's ``order=`` derivatives do: it samples the Gaussian (or its
derivative) on integer offsets, cuts it at ``radius = floor(window_ratio * sigma + 0.5)``
and then re-normalises the sampled kernel so that it behaves exactly like the operator it
stands for on polynomials:

* order 0: the taps sum to 1 (a constant stays constant);
* order 1: applied to the ramp ``f(i) = i`` it returns 1 (slope 1);
* order 2: the DC part is removed first (taps sum to 0), then applied to ``f(i) = i**2 / 2``
  it returns 1, i.e. ``sum(w[k] * k**2) == 2``. (fastfilters' ``fir_kernel.c`` sums
  ``c_k k^2 / 2!`` over both sides; shared/notes/ilastik-compat.md's "sum c_k k^2 = 1" is off
  by that factor 2. This normalisation reproduces ilastik's stored results end to end.)

At the small sigmas ilastik uses (0.3 .. 1.0) these re-normalised kernels differ a lot
from scipy's, so every pass in pixelserve uses the kernels from this module.

Kernels are returned in *correlation* form: ``out[i] = sum_k w[k + r] * in[i + k]`` for
``k = -r .. r``; that is what OpenCV's ``filter2D`` and ``scipy.ndimage.correlate1d``
apply. (The sign convention of odd kernels never matters for ilastik's features: they are
squared or only enter eigenvalues.)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Window ratios used by ilastik: pre-smoothing uses 3.5, the feature filters 2.0.
PRESMOOTH_WINDOW = 3.5
FILTER_WINDOW = 2.0

# Below this sigma the kernel collapses to the identity (as in fastfilters).
_TINY_SIGMA = 1e-6


def kernel_radius(sigma: float, window_ratio: float) -> int:
    """Half-width of the sampled kernel: floor(window_ratio * sigma + 0.5)."""
    if sigma < _TINY_SIGMA:
        return 0
    return int(math.floor(window_ratio * sigma + 0.5))


@lru_cache(maxsize=256)
def _kernel64(sigma: float, order: int, window_ratio: float) -> tuple[float, ...]:
    radius = kernel_radius(sigma, window_ratio)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    if radius == 0:
        if order == 0:
            return (1.0,)
        # A one-tap kernel cannot represent a derivative (fastfilters divides 0 by 0 here).
        raise ValueError(f"a derivative kernel needs sigma >= 0.25 with window {window_ratio}")
    gauss = np.exp(-0.5 * (offsets / sigma) ** 2)
    if order == 0:
        taps = gauss / gauss.sum()
    elif order == 1:
        taps = offsets * gauss
        taps /= np.sum(taps * offsets)
    elif order == 2:
        taps = ((offsets / sigma) ** 2 - 1.0) * gauss
        taps -= taps.mean()
        taps /= np.sum(taps * offsets**2) / 2.0
    else:
        raise ValueError(f"derivative order {order} is not used by ilastik's features")
    return tuple(float(t) for t in taps)


def gaussian_kernel(sigma: float, order: int = 0, window_ratio: float = FILTER_WINDOW) -> np.ndarray:
    """Correlation kernel (float64, length 2*radius+1) of a sampled Gaussian derivative."""
    return np.array(_kernel64(float(sigma), int(order), float(window_ratio)), dtype=np.float64)


def presmoothing_sigma(scale: float) -> float:
    """ilastik's pre-smoothing sigma: sqrt(s^2 - 1) above 1, else s itself.

    Scales <= 1 are therefore smoothed twice (pre-smoothing and the feature filter at the
    same sigma); ilastik does this and its classifiers were trained on it.
    """
    return math.sqrt(scale * scale - 1.0) if scale > 1.0 else float(scale)


def filter_sigma(scale: float) -> float:
    """Sigma of the feature filters after pre-smoothing: min(s, 1)."""
    return min(float(scale), 1.0)


def structure_tensor_sigmas(scale: float, order: str) -> tuple[float, float]:
    """(gradient sigma, tensor smoothing sigma) for one feature scale.

    ilastik asks for inner scale s' and outer scale s'/2, but the fastfilters binding takes
    its arguments the other way round, so fastfilters-era projects (the default) really use
    the gradient at s'/2 and smooth the tensor at s'. vigra-era projects did what was asked.
    """
    sigma = filter_sigma(scale)
    if order == "fastfilters":
        return 0.5 * sigma, sigma
    if order == "vigra":
        return sigma, 0.5 * sigma
    raise ValueError(f"unknown structure tensor order {order!r}")


def difference_of_gaussians_sigmas(scale: float) -> tuple[float, float]:
    """(larger, smaller) sigma of ilastik's DoG: s' and 0.66 s'."""
    sigma = filter_sigma(scale)
    return sigma, 0.66 * sigma
