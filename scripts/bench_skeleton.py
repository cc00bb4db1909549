"""Time `skeleton_features` on a 2048 x 2048 frame with ~2,000 round and elongated objects.

Yardstick: scikit-image's `skeletonize` of the same foreground, measured in the same run. It
is a different (thinning) skeleton without any per-object analysis, so the ratio only says
how far vigra's skeleton features are from "one plain skeletonisation of the frame".
Both run on one thread (numba kernels have no threads of their own). Needs scikit-image
(not a pixelserve dependency: `pip install scikit-image`). Usage:

    python scripts/bench_skeleton.py [--size 2048] [--objects 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage.morphology import skeletonize

from pixelserve.objects.skeleton import skeleton_features


def ellipse_frame(size: int, n_objects: int, seed: int = 0) -> np.ndarray:
    """Random ellipses, half of them round (axis ratio <= 1.3), half elongated (3-6), radii
    4-18 pixels, any orientation; later ones paint over earlier ones, so objects touch."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), dtype=np.uint32)
    for label in range(1, n_objects + 1):
        major = rng.uniform(6, 18)
        ratio = rng.uniform(1.0, 1.3) if label % 2 else rng.uniform(3.0, 6.0)
        minor = max(major / ratio, 2.0)
        angle = rng.uniform(0, np.pi)
        cy, cx = rng.uniform(0, size, 2)
        r = int(np.ceil(major)) + 1
        y0, y1 = max(0, int(cy) - r), min(size, int(cy) + r + 1)
        x0, x1 = max(0, int(cx) - r), min(size, int(cx) + r + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        inside = (u / major) ** 2 + (v / minor) ** 2 <= 1.0
        labels[y0:y1, x0:x1][inside] = label
    return labels


def best_of(repeat: int, function, *args) -> tuple[float, float]:
    """Best wall-clock and best CPU time of this thread (steadier on a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.thread_time()
        function(*args)
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    labels = ellipse_frame(args.size, args.objects)
    present = len(np.unique(labels)) - 1
    skeleton_features(labels[:64, :64])   # compile (or load the numba cache) outside the timing
    foreground = labels > 0
    ours = best_of(args.repeat, skeleton_features, labels)
    reference = best_of(args.repeat, skeletonize, foreground)
    print(f"frame {args.size}x{args.size}, {present} objects, {foreground.mean():.0%} foreground")
    print(f"skeleton_features (vigra's 2D Skeleton Features): {ours[0]:.3f} s wall, {ours[1]:.3f} s CPU")
    print(f"skimage.morphology.skeletonize (foreground only):  {reference[0]:.3f} s wall, {reference[1]:.3f} s CPU")
    print(f"ratio ours / skimage: {ours[0] / reference[0]:.2f} wall, {ours[1] / reference[1]:.2f} CPU")


if __name__ == "__main__":
    main()
