"""Cell Density Counting speed: pixelserve's regression forests against scikit-learn's
`predict` on the same four regressors, and a whole counting run of a big image.

Regressors are trained with ilastik's recipe (`pixelserve.counting`) from dots on a generated
image of blobs; the counted image is another generated image of `--size` x `--size` pixels
with a known count. Every figure is measured in this run, at equal threads, best of
`--repeats` (runs of both sides alternate, so load from other processes hits both alike):

1. prediction only: the feature rows of a 1024 x 1024 crop through our kernel and through
   scikit-learn's `predict` (n_jobs = threads), outputs compared to float32 rounding;
2. the whole run: features + prediction + count, block by block (512 x 512), ours against the
   same run with scikit-learn's `predict`;
3. the same whole run through the Counting workflow (`pixelserve.open_project(...).run`: a
   project trained by `pixelserve.train(..., workflow="counting")` from the same dots, its
   regressors stored; the lane's density plane, the count and the result array included),
   against the block-by-block run of 2 with our kernel;
4. with `--boxes`: whether box constraints could be honoured exactly: the leaf values are
   moved as little as possible (L1, weighted by training samples per leaf) so that each box's
   predicted count equals its given count, solved as a linear program by HiGHS
   (scipy.optimize.linprog); reports the solve time and the held-out counts before and after.

    .venv/bin/python scripts/bench_counting.py [--size 2048] [--threads 1 2] [--repeats 3] [--boxes]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import tifffile  # noqa: E402

from pixelserve import open_project, train  # noqa: E402
from pixelserve.blocks import iter_blocks, map_blocks  # noqa: E402
from pixelserve.classifiers.regression_trees import trees_from_sklearn  # noqa: E402
from pixelserve.counting import (  # noqa: E402
    DensityCounter,
    DensityPredictor,
    box_features,
    fit_regressors,
    training_samples,
)
from pixelserve.features import all_features  # noqa: E402
from pixelserve.project.counting import CountingRegressors  # noqa: E402
from pixelserve.project.label_sets import SparseLabels  # noqa: E402
from pixelserve.synthetic import blobs_image, dot_labels  # noqa: E402
from pixelserve.workflows.volume import Box, Volume  # noqa: E402

SPECS = all_features((0.7, 1.6, 3.5, 5.0))
ORDER = "fastfilters"
BLOCK = 512


def best(function, repeats):
    """(best wall seconds, CPU seconds of that run, result): on a shared machine the CPU
    seconds show the work done even when other processes take cores away."""
    runs, result = [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    wall, cpu = min(runs)
    return wall, cpu, result


def sklearn_density(forests, features, threads):
    rows = features.reshape(-1, features.shape[-1])
    for forest in forests:
        forest.set_params(n_jobs=threads)
    outputs = np.stack([forest.predict(rows) for forest in forests], axis=1).astype(np.float32)
    np.maximum(outputs, 0.0, out=outputs)
    return outputs.mean(axis=1, dtype=np.float32).reshape(features.shape[:-1] + (1,))


def counting_run(raw, density_of_box, threads):
    """Count of `raw` computed block by block on `threads` threads."""
    counter = DensityCounter(raw.spatial_shape[1:])
    blocks = iter_blocks((0, 0), raw.spatial_shape[1:], (BLOCK, BLOCK))

    def compute(start, stop):
        return density_of_box(Box((0, 1), (start[0], stop[0]), (start[1], stop[1])))

    def keep(start, stop, density):
        counter.add((start[0], stop[0]), (start[1], stop[1]), density)

    map_blocks(compute, blocks, keep, threads)
    return counter.total()


def box_constraint_lp(forests, raw, boxes):
    """Leaf values moved least (L1, weighted by training samples) so that each box's count
    equals its target; returns (seconds, leaves in the LP, new node values, node offsets)."""
    trees = [e for f in forests for e in f.estimators_]
    offsets = np.cumsum([0] + [e.tree_.node_count for e in trees])
    scale = 1.0 / (len(forests) * len(forests[0].estimators_))
    rows, cols, targets = [], [], []
    for number, (box, count) in enumerate(boxes):
        features = box_features(raw, 0, box, SPECS, ORDER)
        features = features.reshape(-1, features.shape[-1])
        for tree, offset in zip(trees, offsets):
            leaves = tree.apply(features)
            rows.append(np.full(leaves.size, number))
            cols.append(leaves + offset)
        targets.append(count)
    start = time.perf_counter()
    reach = sparse.coo_matrix((np.full(sum(c.size for c in cols), scale),
                               (np.concatenate(rows), np.concatenate(cols))),
                              shape=(len(boxes), int(offsets[-1]))).tocsc()
    values = np.concatenate([e.tree_.value.reshape(-1) for e in trees])
    weights = np.concatenate([e.tree_.weighted_n_node_samples for e in trees])
    # Only leaves that box pixels reach can move a box's count; the others stay as trained.
    used = np.flatnonzero(reach.getnnz(axis=0))
    reach, n = reach[:, used], used.size
    # variables: raise r >= 0 and lower l in [0, value] per leaf; reach @ (r - l) = gap
    gap = np.asarray(targets) - reach @ values[used]
    result = linprog(np.concatenate([weights[used], weights[used]]),
                     A_eq=sparse.hstack([reach, -reach]), b_eq=gap,
                     bounds=np.concatenate([np.stack([np.zeros(n), np.full(n, np.inf)], 1),
                                            np.stack([np.zeros(n), values[used]], 1)]),
                     method="highs")
    seconds = time.perf_counter() - start
    if not result.success:
        raise RuntimeError(result.message)
    values[used] += result.x[:n] - result.x[n:]
    return seconds, n, values, offsets


def features_only(raw, box):
    """A zero density after computing the box's features: the features' share of a run."""
    box_features(raw, 0, box, SPECS, ORDER)
    return np.zeros(box.shape[1:], np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--boxes", action="store_true")
    options = parser.parse_args()

    image, centres = blobs_image((512, 512), seed=0)
    labels_image = dot_labels(centres, image.shape, seed=0)
    labels = SparseLabels.from_dense(labels_image[None, None])
    training = Volume.from_array(image, "yx")
    rows, targets = training_samples([training], [labels], SPECS, ORDER, 2.5)
    forests = fit_regressors(rows, targets, seed=0, threads=max(options.threads))
    regressors = CountingRegressors([trees_from_sklearn(f) for f in forests], rows.shape[1], "")
    predictor = DensityPredictor(regressors, SPECS, ORDER)
    nodes = sum(e.tree_.node_count for f in forests for e in f.estimators_)
    print(f"training: {len(rows)} samples, {rows.shape[1]} features; 4 regressors x 10 trees, "
          f"{nodes} nodes, depth up to "
          f"{max(e.tree_.max_depth for f in forests for e in f.estimators_)}")

    big, truth = blobs_image((options.size, options.size), seed=1)
    raw = Volume.from_array(big, "yx")
    crop = Box((0, 1), (0, min(1024, options.size)), (0, min(1024, options.size)))
    features = box_features(raw, 0, crop, SPECS, ORDER)
    assert np.array_equal(predictor.density_from_features(features),
                          sklearn_density(forests, features, 1)), "kernel and scikit-learn differ"
    pixels = features[..., 0].size / 1e6
    print(f"\nprediction of {pixels:.2f} Mpx (4 regressors, clip, mean): outputs identical")
    print(f"{'threads':>7} {'pixelserve':>12} {'sklearn':>12} {'ratio':>6}   (CPU seconds: ours, "
          "sklearn, ratio)")
    for threads in options.threads:
        mine = theirs = (float("inf"), 0.0)
        for _ in range(options.repeats):   # alternate the two sides
            ours = best(lambda: predictor.density_from_features(features, threads), 1)
            baseline = best(lambda: sklearn_density(forests, features, threads), 1)
            mine, theirs = min(mine, ours[:2]), min(theirs, baseline[:2])
        print(f"{threads:>7} {pixels / mine[0]:>8.2f} Mpx/s {pixels / theirs[0]:>8.2f} Mpx/s "
              f"{theirs[0] / mine[0]:>5.1f}x   ({mine[1]:.2f}, {theirs[1]:.2f}, "
              f"{theirs[1] / mine[1]:.1f}x)")

    print(f"\nwhole counting run, {options.size} x {options.size} ({len(truth)} blobs), "
          f"{BLOCK} x {BLOCK} blocks:")
    print(f"{'threads':>7} {'pixelserve':>11} {'features':>9} {'sklearn run':>12} {'ratio':>6} "
          f"{'count':>8}   (CPU seconds: ours, sklearn run)")
    for threads in options.threads:
        mine, mine_cpu, count = best(lambda: counting_run(
            raw, lambda box: predictor.density(raw, box), threads), options.repeats)
        only_features, _, _ = best(lambda: counting_run(raw, lambda box: features_only(raw, box),
                                                        threads), options.repeats)
        theirs, theirs_cpu, their_count = best(lambda: counting_run(
            raw, lambda box: sklearn_density(forests, box_features(raw, 0, box, SPECS, ORDER),
                                             1), threads), 1)
        assert count == their_count
        print(f"{threads:>7} {mine:>10.2f}s {only_features:>8.2f}s {theirs:>11.2f}s "
              f"{theirs / mine:>5.2f}x {count:>8.1f}   ({mine_cpu:.1f}, {theirs_cpu:.1f})")

    measure_workflow(image, labels_image, big, options)

    if options.boxes:
        measure_box_constraints(raw, truth, training, centres)


def measure_workflow(image, labels, big, options):
    """The whole run through the Counting workflow against the engine's block-by-block run."""
    with tempfile.TemporaryDirectory() as folder:
        tifffile.imwrite(f"{folder}/train.tif", image)
        tifffile.imwrite(f"{folder}/dots.tif", labels)
        train(f"{folder}/train.tif", f"{folder}/dots.tif", f"{folder}/count.ilp", workflow="counting",
              features=SPECS, seed=0, threads=max(options.threads))
        project = open_project(f"{folder}/count.ilp")
        predictor = project.workflow.predictor(None)
        raw = Volume.from_array(big, "yx")
        print(f"\nthe same run through the Counting workflow (Project.run: density plane, count, "
              f"result array), {options.size} x {options.size}:")
        print(f"{'threads':>7} {'workflow':>9} {'engine':>8} {'ratio':>6} {'count':>8}   (CPU seconds: "
              "workflow, engine)")
        for threads in options.threads:
            mine, mine_cpu, result = best(lambda: project.run(big, "yx", threads=threads), options.repeats)
            engine, engine_cpu, count = best(lambda: counting_run(
                raw, lambda box: predictor.density(raw, box), threads), options.repeats)
            counted = result.tables["counts"].columns["count"][0]
            assert counted == count, (counted, count)
            print(f"{threads:>7} {mine:>8.2f}s {engine:>7.2f}s {mine / engine:>5.2f}x {counted:>8.1f}   "
                  f"({mine_cpu:.1f}, {engine_cpu:.1f})")


def measure_box_constraints(raw, truth, training, centres):
    """A user who marks little background gets an overcounting model; one box with its true
    count, honoured exactly, corrects the leaf values it reaches."""
    labelled = dot_labels(centres, training.spatial_shape[1:], background=300, clearance=10)
    sparse_labels = SparseLabels.from_dense(labelled[None, None])
    rows, targets = training_samples([training], [sparse_labels], SPECS, ORDER, 2.5)
    forests = fit_regressors(rows, targets, seed=0, threads=2)
    box = Box((0, 1), (0, 512), (0, 512))
    inside = int(np.sum((truth[:, 0] < 512) & (truth[:, 1] < 512)))
    held_out, held_truth = blobs_image((1024, 1024), seed=2)
    other = Volume.from_array(held_out, "yx")
    whole = Box.whole(other.spatial_shape)
    before_box = sklearn_density(forests, box_features(raw, 0, box, SPECS, ORDER), 1).sum()
    before_other = sklearn_density(forests, box_features(other, 0, whole, SPECS, ORDER), 1).sum()
    seconds, n, values, offsets = box_constraint_lp(forests, raw, [(box, float(inside))])
    trees = [e for f in forests for e in f.estimators_]
    for tree, a, b in zip(trees, offsets[:-1], offsets[1:]):
        tree.tree_.value[:, 0, 0] = values[a:b]
    after_box = sklearn_density(forests, box_features(raw, 0, box, SPECS, ORDER), 1).sum()
    after_other = sklearn_density(forests, box_features(other, 0, whole, SPECS, ORDER), 1).sum()
    print("\nbox constraints (model trained with 300 background pixels >= 10 px from dots):")
    print(f"HiGHS LP over the {n} of {int(offsets[-1])} tree nodes that the box's pixels reach: "
          f"{seconds * 1000:.0f} ms")
    print(f"box count {before_box:.1f} -> {after_box:.1f} (given {inside}); held-out image with "
          f"{len(held_truth)} blobs: {before_other:.1f} -> {after_other:.1f}")

if __name__ == "__main__":
    main()
