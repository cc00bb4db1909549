"""Benchmark pixelserve's pixel features against the plain scipy.ndimage reference.

Both compute ilastik's full default selection (six features at scales 0.3 .. 10; smoothing
only at 0.3, as ilastik offers) on the same image, single-threaded, and the script prints
throughput, the speed ratio, and how far apart the results are relative to each feature
channel's range.

    python scripts/bench_features.py            # 2D 2048x2048 and 3D 128x256x256
    python scripts/bench_features.py --quick    # 2D 512x512 and 3D 48x96x96
"""

from __future__ import annotations

import os

# Single thread everywhere (set before numpy/numba load their thread pools).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from pixelserve.features import (
    DEFAULT_SCALES,
    all_features,
    compute_features,
    feature_count,
    feature_names,
)  # noqa: E402
from pixelserve.features.reference import reference_features  # noqa: E402


def structured_image(shape, seed=0) -> np.ndarray:
    """uint8 (z, y, x, 1): blobs of several sizes, a ramp and noise (features at all scales
    have a meaningful range, unlike pure noise smoothed at sigma 10)."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    small = tuple(max(2, n // 8) for n in shape)
    coarse = rng.random(small)
    from scipy import ndimage

    value = ndimage.zoom(coarse, [n / m for n, m in zip(shape, small)], order=3)[
        tuple(slice(0, n) for n in shape)
    ]
    value = value + 0.15 * rng.random(shape)
    value += 0.3 * (np.indices(shape)[-1] / shape[-1])
    value -= value.min()
    return (value / value.max() * 255).astype(np.uint8)[..., None]


def timed(function, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def compare(label, image, specs, repeats, reference_repeats):
    depth = image.shape[0]
    pixels = int(np.prod(image.shape[:3]))
    n_features = feature_count(specs, 1, depth)
    print(
        f"\n== {label}: image {' x '.join(map(str, image.shape[:3]))} (z y x), "
        f"{n_features} features per pixel"
    )

    compute_features(image, specs)  # JIT compile and first-touch of memory, not timed
    ours, fast = timed(lambda: compute_features(image, specs), repeats)
    out = np.empty_like(fast)
    ours_out, _ = timed(lambda: compute_features(image, specs, out=out), repeats)
    theirs, reference = timed(lambda: reference_features(image, specs), reference_repeats)

    flat_fast = fast.reshape(-1, n_features).astype(np.float64)
    flat_ref = reference.reshape(-1, n_features).astype(np.float64)
    span = np.ptp(flat_ref, axis=0)
    relative = np.abs(flat_fast - flat_ref).max(axis=0) / np.maximum(span, np.finfo(np.float32).tiny)
    worst = int(np.argmax(relative))
    names = feature_names(specs, 1, depth)

    print(
        f"  pixelserve compute_features  {ours:8.3f} s  {pixels / ours / 1e6:7.2f} Mpx/s"
        f"   (median of {repeats})"
    )
    print(f"    ... into a reused `out`    {ours_out:8.3f} s  {pixels / ours_out / 1e6:7.2f} Mpx/s")
    print(
        f"  scipy.ndimage reference      {theirs:8.3f} s  {pixels / theirs / 1e6:7.2f} Mpx/s"
        f"   (median of {reference_repeats})"
    )
    print(
        f"  speed ratio                  {theirs / ours:8.1f} x"
        f"  ({theirs / ours_out:.1f} x with reused `out`)"
    )
    print(
        f"  max |difference| / channel range: {relative.max():.2e} (worst: {names[worst]}), "
        f"median over channels {np.median(relative):.2e}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small images (seconds instead of minutes)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of compute_features (median)")
    parser.add_argument(
        "--reference-repeats", type=int, default=1, help="timed runs of the reference (median)"
    )
    parser.add_argument("--skip-2d", action="store_true")
    parser.add_argument("--skip-3d", action="store_true")
    options = parser.parse_args(argv)

    shape_2d = (1, 512, 512) if options.quick else (1, 2048, 2048)
    shape_3d = (48, 96, 96) if options.quick else (128, 256, 256)
    print("single thread; all six ilastik features at scales", ", ".join(map(str, DEFAULT_SCALES)))
    if not options.skip_2d:
        compare(
            "2D",
            structured_image(shape_2d, seed=1),
            all_features(in_2d=True),
            options.repeats,
            options.reference_repeats,
        )
    if not options.skip_3d:
        compare(
            "3D",
            structured_image(shape_3d, seed=2),
            all_features(in_2d=False),
            options.repeats,
            options.reference_repeats,
        )


if __name__ == "__main__":
    main()
