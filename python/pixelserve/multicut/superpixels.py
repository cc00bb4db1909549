"""Superpixels for the multicut: ilastik's watershed on the distance transform (DT Watershed).

Two algorithms, chosen by what the project stores:

- `superpixels` with `WatershedSettings` (ilastik >= 1.4, elf's `distance_transform_watershed`,
  elf 0.8.1 `segmentation/watershed.py`, called from ilastik's `opWsdt.py`): threshold the
  boundary map (strictly above), Euclidean distance of every other pixel to the boundary,
  Gaussian smoothing (fastfilters: radius ceil(3 sigma), mirrored border), seeds at the local
  maxima (plateaus and the image border allowed; 6-neighbourhood in 3D, 8 in 2D: vigra's
  defaults), height map alpha * G(boundary) + (1 - alpha) * (1 - (dt - min) / max), seeded
  watershed, then segments smaller than MinSize are dropped and flooded again. In blockwise
  mode (the default for new projects) blocks of 128^3 / 512^2 with a 10-pixel halo are
  computed independently; each block's inner part is relabelled by connected components and
  offset by the label count of the blocks before it (`opWsdt.parallel_watershed`).
- `legacy_superpixels` with `LegacyWatershedSettings` (ilastik <= 1.3.3, the `wsdt` package's
  `wsDtSegmentation`): threshold at or above Pmin, drop small boundary pieces, signed distance
  transform, seeds at the maxima of the (vigra-)smoothed distance transform off the boundary,
  optional seed grouping, watershed on the negated distance transform, small segments dropped
  and labels made consecutive.

The label values are ilastik's: seeds and segments are numbered the way vigra numbers them
(see `_grid_kernels`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as graph_components

from ..blocks import default_threads, iter_blocks, map_blocks
from ..errors import UserError
from ..features.kernels import gaussian_kernel
from . import _grid_kernels as kernels

# opWsdt.parallel_watershed: block edge per spatial dimension, and the halo around each block.
BLOCK_EDGE = {2: 512, 3: 128}
HALO = 10
# Bytes per pixel the algorithm holds at its peak (the watershed): boundary map, smoothed
# distance transform, smoothed boundary map, height map and labels (4 bytes each), priority
# keys, queue and queued border (8 bytes each).
BYTES_PER_PIXEL = 44


@dataclass(frozen=True)
class WatershedSettings:
    """The `DT Watershed` parameters of ilastik >= 1.4 (defaults: `opWsdt.py` slot values)."""

    channels: tuple[int, ...] = (0,)
    threshold: float = 0.5
    min_size: int = 100
    sigma: float = 3.0
    alpha: float = 0.9
    pixel_pitch: tuple[float, ...] = ()    # () = isotropic; else one value per spatial axis
    blockwise: bool = True
    invert: bool = False                   # ilastik never stores this switch: False headless


@dataclass(frozen=True)
class LegacyWatershedSettings:
    """The `DT Watershed` parameters of ilastik <= 1.3.3 (StorageVersion 0.1)."""

    channels: tuple[int, ...] = (0,)
    pmin: float = 0.5
    min_membrane_size: int = 0
    min_segment_size: int = 0
    sigma_minima: float = 3.0
    sigma_weights: float = 0.0
    group_seeds: bool = False
    preserve_membrane_pmaps: bool = False


def boundary_map(probabilities: np.ndarray, channels, invert: bool = False) -> np.ndarray:
    """The watershed input: the sum of the selected channels of `probabilities` (..., c),
    float32, optionally 1 - sum (ilastik's `OpSumChannels`)."""
    probabilities = np.asarray(probabilities)
    selected = sorted(int(c) for c in channels)
    if not selected:
        raise UserError("No probability channel is selected for the watershed. Fix: select at "
                        "least one boundary channel (DT Watershed > channels).")
    if selected[0] < 0 or selected[-1] >= probabilities.shape[-1]:
        raise UserError(f"The watershed reads probability channels {selected}, but the "
                        f"probabilities have {probabilities.shape[-1]} channel(s). Fix: pass the "
                        "probability map the project was trained with.")
    if len(selected) == 1:
        result = probabilities[..., selected[0]].astype(np.float32, copy=True)
    else:
        result = probabilities[..., selected].astype(np.float32).sum(axis=-1, dtype=np.float32)
    if invert:
        np.subtract(np.float32(1), result, out=result)
    return result


def whole_image_bytes(shape) -> int:
    """Peak memory of the non-blockwise watershed on an image of `shape` (spatial axes)."""
    return int(np.prod(shape, dtype=np.int64)) * BYTES_PER_PIXEL


def superpixels(boundary: np.ndarray, settings: WatershedSettings,
                memory_budget: int | None = None, threads: int | None = None, *,
                pool: Executor | None = None, cancel: threading.Event | None = None,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """ilastik's superpixels (uint32, same shape) of a 2D (y, x) or 3D (z, y, x) boundary map.

    `memory_budget` (bytes) applies where the algorithm cannot work in blocks
    (`settings.blockwise` False): a larger image is refused with the estimate. Blocks are
    computed on `threads` threads (default: all cores), each holding one block's working
    memory (`whole_image_bytes` of a block plus its halo); `pool`, `cancel` are
    `blocks.map_blocks`'s, and `progress(done, total)` counts finished blocks.
    """
    boundary = _spatial(boundary)
    pitch = _pixel_pitch(settings.pixel_pitch, boundary.ndim)
    if not settings.blockwise:
        _check_memory(boundary.shape, memory_budget)
        labels = _dt_watershed(boundary, settings, pitch)
        if progress is not None:
            progress(1, 1)
        return labels
    edge = BLOCK_EDGE[boundary.ndim]
    blocks = list(iter_blocks((0,) * boundary.ndim, boundary.shape, (edge,) * boundary.ndim))
    labels = np.zeros(boundary.shape, dtype=np.uint32)
    counts: dict = {}

    def label_block(start, stop) -> tuple[np.ndarray, int]:
        outer = tuple(slice(max(a - HALO, 0), min(b + HALO, n))
                      for a, b, n in zip(start, stop, boundary.shape))
        inner = tuple(slice(a - o.start, b - o.start) for a, b, o in zip(start, stop, outer))
        block_labels = np.ascontiguousarray(_dt_watershed(boundary[outer], settings, pitch)[inner])
        relabelled, count = kernels.connected_components(_as3d(block_labels), 0, False)
        return relabelled.reshape(block_labels.shape), int(count)

    def store(start, stop, result) -> None:
        labels[tuple(slice(a, b) for a, b in zip(start, stop))] = result[0]
        counts[(start, stop)] = result[1]
        if progress is not None:
            progress(len(counts), len(blocks))

    map_blocks(label_block, blocks, store, min(threads or default_threads(), len(blocks)),
               pool=pool, cancel=cancel)
    # Offsets follow the blocks' C order, whatever order they finished in.
    offsets = np.cumsum([0] + [counts[block] for block in blocks[:-1]])
    for (start, stop), offset in zip(blocks, offsets):
        if offset:
            labels[tuple(slice(a, b) for a, b in zip(start, stop))] += np.uint32(offset)
    return labels


def legacy_superpixels(boundary: np.ndarray, settings: LegacyWatershedSettings,
                       memory_budget: int | None = None) -> np.ndarray:
    """Superpixels (uint32, 1..N) of ilastik <= 1.3.3's `wsDtSegmentation` on a boundary map.
    It works on the whole image: a larger image than `memory_budget` (bytes) is refused."""
    boundary = _spatial(boundary)
    _check_memory(boundary.shape, memory_budget)
    membranes = boundary >= np.float32(settings.pmin)
    if not membranes.any():
        return np.ones(boundary.shape, dtype=np.uint32)
    if settings.min_membrane_size > 0:
        pieces, _ = kernels.connected_components(_as3d(membranes.view(np.uint8)), 0, True)
        membranes &= _sizes_at_least(pieces, settings.min_membrane_size).reshape(membranes.shape)
    distance = _distance_to(membranes)
    if settings.preserve_membrane_pmaps:
        distance[membranes] = -boundary[membranes]
    else:
        inside = _distance_to(~membranes)
        inside[inside > 0] -= np.float32(1)
        distance -= inside
    seeds_from = _smooth(distance, settings.sigma_minima, _vigra_radius(settings.sigma_minima))
    maxima = _local_maxima(seeds_from)
    maxima[seeds_from < 0] = False
    if settings.group_seeds:
        seeds = _grouped_seeds(maxima, distance)
    else:
        seeds = _label(maxima)
    heights = _smooth(distance, settings.sigma_weights, _vigra_radius(settings.sigma_weights))
    np.negative(heights, out=heights)
    kernels.seeded_watershed(_as3d(heights), _as3d(seeds))
    if settings.min_segment_size:
        seeds[~_sizes_at_least(seeds, settings.min_segment_size)] = 0
        kernels.seeded_watershed(_as3d(heights), _as3d(seeds))
        seeds = kernels.relabel_consecutive(_as3d(seeds))[0].reshape(seeds.shape)
    return seeds


def _dt_watershed(boundary: np.ndarray, settings: WatershedSettings, pitch) -> np.ndarray:
    """elf's distance_transform_watershed on one image or block (labels keep their gaps)."""
    membranes = boundary > np.float32(settings.threshold)
    if not membranes.any():
        # No boundary at all: the distance transform is one plateau, hence one segment.
        return np.ones(boundary.shape, dtype=np.uint32)
    distance = _distance_to(membranes, pitch)
    sigma = settings.sigma
    if sigma:
        distance = _fastfilters_smooth(distance, sigma)
    seeds = _label(_local_maxima(distance))
    if distance.size and distance.max() > 0:
        # elf divides by the maximum, not the range.
        inverted = np.float32(1.0) - (distance - distance.min()) / distance.max()
    else:
        inverted = np.ones_like(distance)
    smoothed = _fastfilters_smooth(boundary, sigma) if sigma else boundary
    heights = (np.float32(settings.alpha) * smoothed
               + np.float32(1.0 - settings.alpha) * inverted).astype(np.float32)
    kernels.seeded_watershed(_as3d(heights), _as3d(seeds))
    if settings.min_size > 0:
        seeds[~_sizes_at_least(seeds, settings.min_size)] = 0
        kernels.seeded_watershed(_as3d(heights), _as3d(seeds))
    return seeds


def _spatial(boundary) -> np.ndarray:
    boundary = np.ascontiguousarray(boundary, dtype=np.float32)
    if boundary.ndim not in (2, 3):
        raise UserError(f"The watershed needs a 2D (y, x) or 3D (z, y, x) boundary map, got "
                        f"shape {boundary.shape}. Fix: pass one time point and one channel.")
    return boundary


def _pixel_pitch(pitch, ndim: int):
    if not pitch:
        return None
    if len(pitch) != ndim or any(float(p) <= 0 for p in pitch):
        raise UserError(f"PixelPitch {list(pitch)} does not give one positive spacing per axis "
                        f"of this {ndim}D image. Fix: set one value per spatial axis, or none.")
    return tuple(float(p) for p in pitch)


def _check_memory(shape, budget: int | None) -> None:
    needed = whole_image_bytes(shape)
    if budget is not None and needed > budget:
        raise UserError(
            f"The project computes its superpixels on the whole image at once (its watershed is "
            f"not blockwise), which needs about {needed / 2**30:.1f} GiB for shape "
            f"{tuple(shape)}, more than the {budget / 2**30:.1f} GiB available. Fix: run on a "
            "machine with more memory, process a smaller region, or supply precomputed "
            "superpixels.")


def _as3d(array: np.ndarray) -> np.ndarray:
    return array if array.ndim == 3 else array.reshape((1,) + array.shape)


def _distance_to(mask: np.ndarray, pitch=None) -> np.ndarray:
    """float32 Euclidean distance of each pixel to the nearest pixel of `mask` (0 in it), with
    the pixel pitch of each axis; vigra's distanceTransform. An image without any mask pixel
    is uniformly far away."""
    if not mask.any():
        return np.full(mask.shape, np.float32(mask.size))
    spacing = np.ones(3)
    if pitch is not None:
        spacing[3 - mask.ndim:] = pitch
    return kernels.distance_to_mask(_as3d(mask), spacing).reshape(mask.shape)


def _vigra_radius(sigma: float) -> int:
    return int(3.0 * sigma + 0.5)


def _fastfilters_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """fastfilters' gaussianSmoothing (elf's choice when fastfilters is installed, as in
    ilastik): radius ceil(3 sigma), float32 taps normalised in float64 (`fir_kernel.c`)."""
    radius = math.ceil(3.0 * sigma)
    offsets = np.arange(radius + 1, dtype=np.float64)
    samples = (1.0 / (math.sqrt(2.0 * math.pi) * sigma)
               * np.exp(offsets * offsets * (-0.5 / sigma / sigma))).astype(np.float32)
    total = float(samples[0])
    for sample in samples[1:]:
        total += 2.0 * float(sample)
    taps = (samples.astype(np.float64) / total).astype(np.float32)
    return kernels.fastfilters_smooth(_as3d(image), taps).reshape(image.shape)


def _smooth(image: np.ndarray, sigma: float, radius: int) -> np.ndarray:
    """vigra's gaussianSmoothing: sampled Gaussian with normalised taps, mirrored border,
    axes in array order, float64 sums stored as float32 after each pass."""
    if not sigma:
        return image.copy()
    taps = gaussian_kernel(sigma, 0, max(radius, 1) / sigma)
    result = image.astype(np.float32)
    for axis in range(image.ndim):
        if image.shape[axis] > 1:
            result = ndi.correlate1d(result, taps, axis=axis, mode="mirror", output=np.float32)
    return result


def _local_maxima(values: np.ndarray) -> np.ndarray:
    offsets = kernels.DIRECT_3D if values.ndim == 3 else kernels.INDIRECT_2D
    return kernels.local_maxima(_as3d(np.ascontiguousarray(values)), offsets).reshape(values.shape)


def _label(mask: np.ndarray) -> np.ndarray:
    labels, _ = kernels.connected_components(_as3d(mask.view(np.uint8)), 0, True)
    return labels.reshape(mask.shape)


def _sizes_at_least(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Mask of pixels whose label (0 included) has at least `min_size` pixels."""
    counts = np.bincount(labels.reshape(-1))
    return (counts >= min_size)[labels]


def _grouped_seeds(maxima: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """wsdt's seed grouping: seeds closer to each other than both are to the boundary share a
    label; groups are numbered by their first seed in C order, seeds in no pair are dropped."""
    coords = np.argwhere(maxima).astype(np.float32)
    reach = distance[maxima]
    n = len(coords)
    rows, cols = [], []
    batch = max(1, int(math.sqrt(4 * maxima.size / 8)))
    for a in range(0, n, batch):
        squared = np.zeros((min(a + batch, n) - a, n), dtype=np.float32)
        for axis in range(coords.shape[1]):
            squared += np.square(np.subtract.outer(coords[a:a + batch, axis], coords[:, axis]))
        apart = np.sqrt(squared)
        close = (apart < reach[a:a + batch, None]) & (apart < reach[None, :])
        r, c = np.nonzero(close)
        rows.append(r + a)
        cols.append(c)
    rows, cols = np.concatenate(rows or [np.zeros(0, int)]), np.concatenate(cols or [np.zeros(0, int)])
    in_graph = np.zeros(n, dtype=bool)
    in_graph[rows] = True
    in_graph[cols] = True
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, component = graph_components(graph, directed=False)
    # Number components by their smallest member, as networkx meets them.
    seed_labels = np.zeros(n, dtype=np.uint32)
    members = np.flatnonzero(in_graph)
    first = {}
    for seed in members:
        first.setdefault(component[seed], len(first) + 1)
    seed_labels[members] = [first[component[s]] for s in members]
    seeds = np.zeros(maxima.shape, dtype=np.uint32)
    seeds[maxima] = seed_labels
    return seeds
