"""Synthetic example images with known classes, for the demo, tests and benchmarks.

Bright round "cells" of varying size on a dim, uneven background with noise; the truth is
known for every pixel, and scribbles (a few short strokes per class) play the user's labels.
Also blurred spots for counting, and round and elongated objects for object classification.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def cells_image(shape=(512, 512), *, n_cells: int | None = None, seed: int = 0):
    """(image uint8, truth uint8 with 1 = background and 2 = cell) in 2D or 3D."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    n_cells = n_cells or max(4, int(np.prod(shape) / (1400 if len(shape) == 2 else 40000)))
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    truth = np.zeros(shape, dtype=bool)
    for _ in range(n_cells):
        center = [rng.uniform(0, n) for n in shape]
        radius = rng.uniform(6, 14)
        distance = sum(((g - c) / radius) ** 2 for g, c in zip(grids, center))
        truth |= distance <= 1.0
    background = ndimage.gaussian_filter(rng.normal(0, 1, shape), 20) * 120 + 60
    image = np.where(truth, 150.0, 0.0) + background + rng.normal(0, 18, shape)
    image = ndimage.gaussian_filter(image, 1.0)
    return np.clip(image, 0, 255).astype(np.uint8), (truth + 1).astype(np.uint8)


def scribbles(truth: np.ndarray, *, per_class: int = 12, seed: int = 0) -> np.ndarray:
    """Sparse labels: short strokes well inside each class (0 elsewhere)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros_like(truth)
    for value in np.unique(truth):
        inside = ndimage.binary_erosion(truth == value, iterations=3)
        candidates = np.argwhere(inside)
        if not len(candidates):
            continue
        for index in rng.choice(len(candidates), size=min(per_class, len(candidates)), replace=False):
            start = candidates[index]
            stroke = tuple(slice(max(0, c - 2), c + 3) for c in start)
            labels[stroke] = np.where(inside[stroke], value, labels[stroke])
    return labels


def blobs_image(shape=(256, 256), *, n_blobs: int | None = None, seed: int = 0):
    """(image uint8, centres (N, 2) int64 as (y, x)): blurred round spots of varying size and
    brightness, free to touch and overlap, on an uneven noisy background. Each centre is one
    object, so the true count is len(centres): a test image for density counting."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    n_blobs = n_blobs or max(4, int(np.prod(shape) / 900))
    centres = np.stack([rng.integers(4, n - 4, n_blobs) for n in shape], axis=1)
    spots = np.zeros(shape)
    np.add.at(spots, tuple(centres.T), rng.uniform(0.7, 1.3, n_blobs))
    image = 2600.0 * ndimage.gaussian_filter(spots, 2.5)   # peak ~ 66 above the background
    image += ndimage.gaussian_filter(rng.normal(0, 1, shape), 30) * 60 + 40
    image += rng.normal(0, 6, shape)
    return np.clip(image, 0, 255).astype(np.uint8), centres.astype(np.int64)


def dot_labels(centres: np.ndarray, shape, *, background: int = 1000, clearance: float = 6.0,
               seed: int = 0) -> np.ndarray:
    """Counting labels as a user clicks them: 1 on each centre, 2 on `background` random pixels
    at least `clearance` pixels away from every centre (0 elsewhere)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=np.uint8)
    spots = np.ones(shape, dtype=bool)
    spots[tuple(np.asarray(centres).T)] = False
    far = np.argwhere(ndimage.distance_transform_edt(spots) >= clearance)
    chosen = far[rng.choice(len(far), size=min(background, len(far)), replace=False)]
    labels[tuple(chosen.T)] = 2
    labels[tuple(np.asarray(centres).T)] = 1
    return labels


def shapes_image(shape=(256, 256), *, n_objects: int | None = None, seed: int = 0):
    """(image uint8, truth uint8): separate objects of one brightness on a noisy uneven
    background, each either round (truth 1: a disk of radius 4-7) or elongated (truth 2: an
    ellipse of half-axes 9-13 by 2.5-3.5 at any angle), 0 elsewhere; in 2D (y, x) or 3D
    (z, y, x; the ellipse elongated in its y-x plane). Only shape tells the classes apart."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    n_objects = n_objects or max(4, int(np.prod(shape[-2:]) / 1500))
    truth = np.zeros(shape, dtype=np.uint8)
    taken = np.zeros(shape, dtype=bool)
    half = 14
    offsets = np.mgrid[tuple(slice(-half, half + 1) for _ in shape)]
    placed = 0
    for _ in range(n_objects * 20):
        if placed == n_objects:
            break
        kind = 1 + int(rng.integers(0, 2))
        angle = rng.uniform(0, np.pi)
        u = offsets[-1] * np.cos(angle) + offsets[-2] * np.sin(angle)
        v = -offsets[-1] * np.sin(angle) + offsets[-2] * np.cos(angle)
        if kind == 1:
            a = b = rng.uniform(4, 7)
        else:
            a, b = rng.uniform(9, 13), rng.uniform(2.5, 3.5)
        inside = (u / a) ** 2 + (v / b) ** 2 <= 1
        if len(shape) == 3:
            inside &= np.abs(offsets[0]) <= b
        centre = [int(rng.integers(half + 1, n - half - 1)) for n in shape]
        box = tuple(slice(c - half, c + half + 1) for c in centre)
        if (taken[box] & inside).any():
            continue
        truth[box][inside] = kind
        taken[box] |= ndimage.binary_dilation(inside, iterations=2)
        placed += 1
    background = ndimage.gaussian_filter(rng.normal(0, 1, shape), 20) * 60 + 60
    image = np.where(truth > 0, 110.0, 0.0) + background + rng.normal(0, 12, shape)
    return np.clip(ndimage.gaussian_filter(image, 0.7), 0, 255).astype(np.uint8), truth
