"""Multicut pipeline speed and solver quality on a generated 3D volume (default 256^3).

The volume holds Voronoi "cells" with noisy interiors; their boundaries are given as a
probability map (1 on the cell boundary, falling off over two pixels, dimmed in random patches
so that some boundaries are weak, plus noise). The
benchmark times each stage of the engine: superpixels (blockwise DT watershed, ilastik's
default mode), region adjacency graph, edge features (a typical ilastik selection on the raw
data and the boundary map), edge probabilities (a 100-tree forest trained on edges labelled
from the true cells; training is not timed) and each solver; every time is also given as a
ratio to one scipy Gaussian (sigma 2) of the volume, measured in the same run. Energies are
compared with the exact optimum when the ILP can take the graph, else with the best solver.

    .venv/bin/python scripts/bench_multicut.py [--size 256] [--cells 600] [--ilp]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve.classifiers import ForestEnsemble, forest_from_sklearn
from pixelserve.multicut.edge_features import BOUNDARY_CHANNEL, edge_features
from pixelserve.multicut.exact import MAX_EDGES, exact_multicut
from pixelserve.multicut.rag import region_adjacency_graph
from pixelserve.multicut.solvers import SOLVERS, multicut_energy, solve
from pixelserve.multicut.superpixels import WatershedSettings, superpixels
from pixelserve.multicut.weights import classifier_probabilities, edge_weights

FEATURES = {
    "Raw Data": ["standard_edge_mean", "standard_edge_variance", "standard_edge_quantiles",
                 "standard_sp_mean", "standard_sp_count", "edgeregion_edge_regionradii"],
    BOUNDARY_CHANNEL: ["standard_edge_mean", "standard_edge_maximum", "standard_edge_minimum",
                       "standard_edge_quantiles", "standard_sp_mean"],
}


def generate(size: int, cells: int, seed: int):
    """(true cells uint32, raw float32, boundary probabilities float32)."""
    rng = np.random.default_rng(seed)
    shape = (size,) * 3
    seeds = np.zeros(shape, dtype=bool)
    seeds[tuple(rng.integers(0, size, (3, cells)))] = True
    _, nearest = ndi.distance_transform_edt(~seeds, return_indices=True)
    seed_labels = np.zeros(shape, dtype=np.uint32)
    seed_labels[seeds] = np.arange(1, seeds.sum() + 1)
    truth = seed_labels[tuple(nearest)]
    del nearest
    border = np.zeros(shape, dtype=bool)
    for axis in range(3):
        step = np.diff(truth, axis=axis) != 0
        border[tuple(slice(0, -1) if a == axis else slice(None) for a in range(3))] |= step
    distance = ndi.distance_transform_edt(~border).astype(np.float32)
    boundary = np.exp(-0.5 * (distance / 1.5) ** 2)
    patches = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 8)
    boundary *= np.where(patches > np.quantile(patches, 0.8), 0.35, 1.0).astype(np.float32)
    boundary += rng.normal(0, 0.25, shape).astype(np.float32)
    boundary = np.clip(boundary, 0, 1).astype(np.float32)
    brightness = rng.uniform(80, 180, truth.max() + 1).astype(np.float32)
    raw = brightness[truth] - 60 * boundary + rng.normal(0, 10, shape).astype(np.float32)
    return truth, raw.astype(np.float32), boundary


def timed(function, *args, **kwargs):
    """(result, (wall seconds, CPU seconds of this process)): on a shared machine the CPU time
    is the steadier figure."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, (time.perf_counter() - start, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cells", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ilp", action="store_true",
                        help=f"also run the exact solver (refused above {MAX_EDGES} edges per part)")
    args = parser.parse_args()

    truth, raw, boundary = generate(args.size, args.cells, args.seed)
    _, (baseline, baseline_cpu) = timed(ndi.gaussian_filter, raw, 2.0)
    print(f"volume {raw.shape}, {truth.max()} cells; baseline (scipy Gaussian sigma 2 of the "
          f"volume): {baseline:.2f} s ({baseline_cpu:.2f} s CPU)")

    # Warm the numba kernels on a small crop, so that compile time stays out of the figures.
    crop = (slice(0, 40),) * 3
    small = superpixels(boundary[crop], WatershedSettings(min_size=20, sigma=1.0))
    small_rag = region_adjacency_graph(small)
    small_table = edge_features(small_rag, [("Raw Data", raw[crop]),
                                            (BOUNDARY_CHANNEL, boundary[crop])], FEATURES)
    solve(small_rag.edges, np.ones(small_rag.n_edges) - 1.5 * small_table.values[:, 0] / 255,
          small_rag.n_nodes)

    rows = []
    settings = WatershedSettings(threshold=0.5, min_size=50, sigma=2.0, alpha=0.9)
    labels, seconds = timed(superpixels, boundary, settings)
    rows.append(("superpixels", seconds, f"{int(labels.max())} superpixels"))
    rag, seconds = timed(region_adjacency_graph, labels)
    rows.append(("graph", seconds, f"{rag.n_edges} edges"))
    table, seconds = timed(edge_features, rag, [("Raw Data", raw), (BOUNDARY_CHANNEL, boundary)],
                           FEATURES)
    rows.append(("features", seconds, f"{len(table.names)} columns"))

    majority = ndi.maximum(truth, labels, index=np.arange(rag.n_nodes)).astype(np.int64)
    edge_labels = np.where(majority[rag.edges[:, 0]] != majority[rag.edges[:, 1]], 2, 1)
    rng = np.random.default_rng(args.seed)
    training = rng.choice(rag.n_edges, size=min(300, rag.n_edges), replace=False)
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=-1)
    forest.fit(table.values[training], edge_labels[training])
    ensemble = ForestEnsemble([forest_from_sklearn(forest, labels=[1, 2])])
    probabilities, seconds = timed(classifier_probabilities, table.values, ensemble, [1, 2])
    rows.append(("probabilities", seconds, "100 trees"))
    weights = edge_weights(rag.edges, probabilities)

    energies = {}
    for name in SOLVERS:
        if name == "ilp":
            continue
        node_labels, seconds = timed(solve, rag.edges, weights, rag.n_nodes, name)
        energies[name] = multicut_energy(rag.edges, weights, node_labels)
        rows.append((f"solve: {name}", seconds, f"energy {energies[name]:.2f}"))
    reference, what = min(energies.values()), "best solver"
    if args.ilp:
        optimum, seconds = timed(exact_multicut, rag.edges, weights, rag.n_nodes)
        reference, what = multicut_energy(rag.edges, weights, optimum), "exact optimum"
        rows.append(("solve: ilp", seconds, f"energy {reference:.2f}"))

    print(f"\n{'stage':28s} {'seconds':>8s} {'CPU s':>8s} {'x baseline':>11s}  detail")
    for stage, (seconds, cpu), detail in rows:
        print(f"{stage:28s} {seconds:8.2f} {cpu:8.2f} {seconds / baseline:11.2f}  {detail}")
    print(f"\nenergy against the {what} ({reference:.2f}); 0 % = as good:")
    for name, energy in energies.items():
        gap = (energy - reference) / abs(reference) * 100 if reference else 0.0
        print(f"  {name:22s} {energy:12.2f}  {gap:6.2f} %")


if __name__ == "__main__":
    main()
