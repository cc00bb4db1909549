"""Object feature speed: pixelserve's full ilastik feature set against scikit-image's regionprops.

Generates a 2048 x 2048 image with a few thousand blob-shaped objects (ellipses of random
size and orientation, some touching, over a smooth background), then computes on one thread:
- pixelserve: every "Standard Object Features" feature ilastik offers for one channel,
  every `X in neighborhood` variant (margin 30, 30, also giving `X in object and
  neighborhood`), the "2D Convex Hull Features", the "2D Skeleton Features" and the default
  features;
- scikit-image `regionprops_table` with the comparable properties (area, bounding box,
  centroid, intensity mean/min/max/std, inertia tensor and its eigenvalues, axis lengths,
  orientation, extent): a fraction of what pixelserve computes.
Runs alternate and the best of `--repeats` counts (CPU time of this process), so that load
from other processes hits both alike; wall times are printed too.

    .venv/bin/python scripts/bench_objects.py [--size 2048] [--objects 2600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops_table  # optional: pip install pixelserve[bench]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve.objects import catalog  # noqa: E402
from pixelserve.objects.features import compute_object_features  # noqa: E402
from pixelserve.objects.segmentation import label_segmentation  # noqa: E402

SKIMAGE_PROPERTIES = ("label", "area", "bbox", "area_bbox", "centroid", "intensity_mean",
                      "intensity_min", "intensity_max", "intensity_std", "inertia_tensor",
                      "inertia_tensor_eigvals", "axis_major_length", "axis_minor_length",
                      "orientation", "extent")


def synthetic_objects(size: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw (1, size, size) float32, labels (1, size, size) uint32): random ellipses."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[-24:25, -24:25]
    for _ in range(count):
        a, b = rng.uniform(3, 14), rng.uniform(3, 9)
        angle = rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        shape = (u / a) ** 2 + (v / b) ** 2 <= 1
        y, x = rng.integers(24, size - 25, 2)
        mask[y - 24:y + 25, x - 24:x + 25] |= shape
    labels = label_segmentation(mask[None])
    background = ndi.gaussian_filter(rng.standard_normal((size, size)), 30) * 200
    raw = (background + 40 * mask + 5 * rng.standard_normal((size, size))).astype(np.float32)
    return raw[None], labels


def full_selection() -> dict:
    margin = (30, 30)
    standard = {name: margin if catalog.local_base(name) else () for name in catalog.standard_features(1)}
    return {catalog.STANDARD: standard,
            catalog.HULL_2D: {name: () for name in catalog.HULL_FEATURES},
            catalog.SKELETON: {name: () for name in catalog.SKELETON_FEATURES}}


def timed(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--objects", type=int, default=2600, help="ellipses drawn (some merge)")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    numba.set_num_threads(1)
    raw, labels = synthetic_objects(options.size, options.objects, seed=1)
    n_objects = int(labels.max())
    selection = full_selection()

    def ours():
        return compute_object_features(raw, labels, selection, threads=1)

    def theirs():
        return regionprops_table(labels[0], intensity_image=raw[0], properties=SKIMAGE_PROPERTIES)

    features, table = ours(), theirs()   # compile and warm up
    our_columns = sum(v.shape[1] for plugin in features.values() for v in plugin.values())
    their_columns = sum(1 for name in table if name != "label")
    print(f"image {options.size}x{options.size}, {n_objects} objects, "
          f"{int((labels > 0).sum())} object pixels, one thread")
    best = {"pixelserve": (np.inf, np.inf), "scikit-image": (np.inf, np.inf)}
    for _ in range(options.repeats):
        for name, function in (("pixelserve", ours), ("scikit-image", theirs)):
            wall, cpu = timed(function)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    for name, columns in (("pixelserve", our_columns), ("scikit-image", their_columns)):
        wall, cpu = best[name]
        print(f"{name:13s} {cpu:7.3f} s CPU ({wall:7.3f} s wall)  {columns:4d} values per object")
    ratio = best["scikit-image"][1] / best["pixelserve"][1]
    print(f"pixelserve is {ratio:.1f}x faster than scikit-image's regionprops_table "
          f"(CPU time, best of {options.repeats}), computing {our_columns / their_columns:.1f}x "
          "as many values")


if __name__ == "__main__":
    main()
