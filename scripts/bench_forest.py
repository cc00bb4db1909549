"""Random-forest prediction speed: pixelserve's ForestEnsemble against scikit-learn.

Trains a scikit-learn RandomForestClassifier (100 full-depth trees) on a few thousand labelled
pixels of a smooth synthetic image described by 40 ilastik-like filter responses, converts it
with `forest_from_sklearn`, and predicts every pixel of the image with both, on the same trees
and the same rows, at 1 and 2 threads. Runs alternate and the best of `--repeats` counts, so
that load from other processes hits both sides alike.

    .venv/bin/python scripts/bench_forest.py [--pixels 2] [--repeats 3] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve.classifiers import ForestEnsemble, forest_from_sklearn  # noqa: E402

SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)


def smooth_image(shape, seed):
    """Blobs at several sizes plus a little pixel noise, like a micrograph."""
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, np.float32)
    for sigma, weight in ((40, 1.0), (12, 0.5), (3, 0.25), (1, 0.1)):
        noise = rng.standard_normal(shape).astype(np.float32)
        image += weight * sigma * ndi.gaussian_filter(noise, sigma)
    return image


def filter_responses(image, count=40):
    """ilastik-like features, pixel-major rows (N, count) float32."""
    columns = []
    for s in SCALES:
        g = ndi.gaussian_filter(image, s)
        hxx = ndi.gaussian_filter(image, s, order=(0, 2))
        hyy = ndi.gaussian_filter(image, s, order=(2, 0))
        hxy = ndi.gaussian_filter(image, s, order=(1, 1))
        half_trace, root = (hxx + hyy) / 2, np.sqrt(((hxx - hyy) / 2) ** 2 + hxy ** 2)
        columns += [g, hxx + hyy, ndi.gaussian_gradient_magnitude(image, s),
                    g - ndi.gaussian_filter(image, 0.66 * s), half_trace + root, half_trace - root]
    rows = np.empty((image.size, count), np.float32)
    for i, column in enumerate(columns[:count]):
        rows[:, i] = column.ravel()
    return rows


def labelled_pixels(image, n_labels, seed):
    """Three classes from a smoothed image plus an independent smooth field, so that classes
    overlap in feature space as hand labels of real images do; `n_labels` random pixels."""
    rng = np.random.default_rng(seed)
    nuisance = ndi.gaussian_filter(rng.standard_normal(image.shape).astype(np.float32), 6)
    signal = ndi.gaussian_filter(image, 4)
    truth = signal / signal.std() + 0.25 * nuisance / nuisance.std()
    classes = np.digitize(truth.ravel(), np.quantile(truth, [0.35, 0.7])) + 1
    picked = rng.choice(image.size, n_labels, replace=False)
    return picked, classes[picked]


def compile_times() -> tuple[float, float]:
    """First-call time in a fresh process: with an empty numba cache, then with the cache."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / 'python')!r})
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
        from pixelserve.classifiers import ForestEnsemble, forest_from_sklearn
        rng = np.random.default_rng(0)
        X = rng.standard_normal((500, 6)).astype(np.float32)
        clf = RandomForestClassifier(3, random_state=0).fit(X, (X[:, 0] > 0) + 1)
        ensemble = ForestEnsemble([forest_from_sklearn(clf)])
        start = time.perf_counter()
        ensemble.predict_proba(X)
        print(time.perf_counter() - start)
    """)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                      capture_output=True, text=True).stdout.split()[-1])
                 for _ in range(2)]
    return times[0], times[1]


def best_of(repeats, runs):
    """Alternate the callables `repeats` times; best seconds of each."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pixels", type=float, default=2.0, help="Mpx to predict (default 2)")
    parser.add_argument("--labels", type=int, default=4000, help="labelled pixels (default 4000)")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-compile", action="store_true", help="do not measure compile time")
    options = parser.parse_args()
    from sklearn.ensemble import RandomForestClassifier

    side = int(round(np.sqrt(options.pixels * 1e6 / 2)))
    image = smooth_image((2 * side, side), seed=1)
    start = time.perf_counter()
    rows = filter_responses(image)
    print(f"image {image.shape[0]}x{image.shape[1]} = {image.size / 1e6:.2f} Mpx, "
          f"{rows.shape[1]} features ({time.perf_counter() - start:.1f} s)")
    picked, classes = labelled_pixels(image, options.labels, seed=2)
    clf = RandomForestClassifier(n_estimators=options.trees, random_state=0, n_jobs=-1)
    clf.fit(rows[picked], classes)
    trees = [e.tree_ for e in clf.estimators_]
    print(f"sklearn forest: {len(trees)} trees, {options.labels} labelled pixels, 3 classes, "
          f"mean {np.mean([t.node_count for t in trees]):.0f} nodes, "
          f"mean depth {np.mean([t.max_depth for t in trees]):.1f}")
    start = time.perf_counter()
    ensemble = ForestEnsemble([forest_from_sklearn(clf)])
    print(f"convert + compile node table: {time.perf_counter() - start:.2f} s")
    if not options.skip_compile:
        cold, warm = compile_times()
        print(f"first predict_proba call in a fresh process: {cold:.2f} s with an empty numba "
              f"cache (compiling), {warm:.2f} s with the cache")
    ensemble.predict_proba(rows[:1000])

    mpx = rows.shape[0] / 1e6
    results = {}
    print(f"\n{'threads':>7} {'sklearn Mpx/s':>14} {'pixelserve Mpx/s':>17} {'speed-up':>9}")
    for threads in options.threads:
        clf.n_jobs = threads
        ours = np.empty((rows.shape[0], 3), np.float32)
        sk, mine = best_of(options.repeats, [
            lambda: results.__setitem__("sklearn", clf.predict_proba(rows)),
            lambda: ensemble.predict_proba(rows, out=ours, threads=threads),  # noqa: B023  (called at once)
        ])
        results[threads] = ours
        print(f"{threads:>7} {mpx / sk:>14.3f} {mpx / mine:>17.3f} {sk / mine:>8.2f}x")
    first = results[options.threads[0]]
    difference = np.abs(first.astype(np.float64) - results["sklearn"])
    print(f"\nmax |pixelserve - sklearn| = {difference.max():.2e} over {rows.shape[0]} pixels "
          f"(float32 rounding is ~6e-8)")
    same = all(np.array_equal(first, results[t]) for t in options.threads)
    print(f"results identical across thread counts: {same}")


if __name__ == "__main__":
    main()
