"""Tracking: time per stage, solver scaling, exact ILP against the fast solver, accuracy; and
the full path from a rendered movie to tracks.

Generates a 2D time series with a known ground truth: cells that move (random walk), divide
(children placed on both sides of the mother), leave through the border and enter at random;
each cell gives a detection whose count and division probabilities are noisy versions of the
truth, plus false detections and missed cells.

Prints, for 10x steps of the number of detections: time per stage (graph, energies, solve,
lineage), ILP against the LP-based solver (time, energy, ratio), and tracking accuracy against
the ground truth (link and division precision/recall).

`--project P.ilp` (a tracking project from a binary segmentation with one raw channel, e.g. the
fixtures' TrackingwLearning5t2d1c_wBin.ilp) also runs the full path on a rendered movie of the
largest size: the cells drawn as Gaussian blobs (raw) and thresholded (segmentation), then the
Tracking workflow as the command line runs it (objects and features per frame, classifiers,
graph, solve, mergers and lineage, the Tracking-Result image and the track table), with wall
and CPU seconds per stage (CPU of this process and of the solver's child process). The
project's classifiers were trained on other data, so only the times mean something there. `--movie PATH` writes a small rendered movie (raw + segmentation, h5).

    .venv/bin/python scripts/bench_tracking.py [--frames 100] [--cells 2 20 200 2000]
           [--ilp-limit 40000] [--seed 0] [--movie movie.h5] [--project P.ilp] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve.export import ExportSettings, export_to_array
from pixelserve.project.tracking import TrackingParameters
from pixelserve.tracking.detections import Detections
from pixelserve.tracking.pipeline import track_detections
from pixelserve.workflows import LaneRequest, Volume, load_workflow, parse_options
from pixelserve.workflows.tracking_lane import TRACKING_STAGES

SPEED = 3.0            # px per frame, per axis (random walk)
DIVISION_RATE = 0.01   # per cell and frame
CELL_SPACING = 40.0    # field side = spacing * sqrt(cells)
FALSE_RATE = 0.02      # false detections per cell and frame
MISS_RATE = 0.01       # missed cells per cell and frame


@dataclass
class Truth:
    """Ground truth of synthetic detections: the cell each detection shows (-1: false)."""

    cell: np.ndarray        # (n,) cell id per detection
    parent: dict            # cell id -> mother cell id (children of divisions)


def synthetic_detections(frames: int, cells: int, seed: int = 0) -> tuple[Detections, Truth, int]:
    """Detections of `cells` moving, dividing cells over `frames` frames, with ground truth.

    Returns (detections, truth, field side in pixels)."""
    rng = np.random.default_rng(seed)
    side = int(CELL_SPACING * np.sqrt(cells)) + 20
    position = rng.uniform(10, side - 10, (cells, 2))
    ids = np.arange(cells)
    next_id = cells
    parent: dict[int, int] = {}
    rows = []
    for t in range(frames):
        divides = rng.random(ids.size) < DIVISION_RATE
        # detections of this frame
        seen = rng.random(ids.size) >= MISS_RATE
        count_p = np.clip(rng.normal(0.9, 0.08, ids.size), 0.02, 0.999)
        div_p = np.where(divides, np.clip(rng.normal(0.8, 0.15, ids.size), 0.02, 0.999),
                         np.clip(rng.normal(0.05, 0.05, ids.size), 0.001, 0.98))
        for i in np.flatnonzero(seen):
            rows.append((t, position[i, 0], position[i, 1], count_p[i], div_p[i], ids[i]))
        n_false = rng.poisson(FALSE_RATE * ids.size)
        for x, y, p in zip(rng.uniform(0, side, n_false), rng.uniform(0, side, n_false),
                           np.clip(rng.normal(0.3, 0.15, n_false), 0.01, 0.95)):
            rows.append((t, x, y, p, 0.02, -1))
        # move, divide, leave, enter
        position = position + rng.normal(0, SPEED, position.shape)
        children_pos, children_ids = [], []
        for i in np.flatnonzero(divides):
            offset = rng.normal(0, 1, 2)
            offset *= 6.0 / np.linalg.norm(offset)
            for sign in (-1, 1):
                children_pos.append(position[i] + sign * offset)
                children_ids.append(next_id)
                parent[next_id] = int(ids[i])
                next_id += 1
        keep = ~divides
        position = np.concatenate([position[keep]] + ([np.array(children_pos)] if children_pos else []))
        ids = np.concatenate([ids[keep], np.array(children_ids, dtype=ids.dtype)])
        inside = np.all((position > 0) & (position < side), axis=1)
        position, ids = position[inside], ids[inside]
        n_enter = rng.poisson(max(0.0, cells - ids.size) * 0.1 + 0.02 * cells / 10)
        position = np.concatenate([position, rng.uniform(10, side - 10, (n_enter, 2))])
        ids = np.concatenate([ids, np.arange(next_id, next_id + n_enter)])
        next_id += n_enter
    table = np.array(rows)
    frame = table[:, 0].astype(np.int64)
    label = np.zeros(frame.size, dtype=np.int64)
    for t in np.unique(frame):
        where = np.flatnonzero(frame == t)
        label[where] = np.arange(1, where.size + 1)
    center = np.zeros((frame.size, 3))
    center[:, :2] = table[:, 1:3]
    count_p = np.clip(table[:, 3], 1e-7, 0.99999999)
    detection = np.column_stack([1.0 - count_p, count_p])
    detections = Detections(frame, label, center, detection, np.clip(table[:, 4], 1e-7, 0.99999999))
    return detections, Truth(table[:, 5].astype(np.int64), parent), side


def parameters_for(frames: int, side: int) -> TrackingParameters:
    return TrackingParameters(max_distance=30.0, max_objects=1, division_threshold=0.1, with_divisions=True,
                              with_merger_resolution=False, with_tracklets=False, border_width=10.0,
                              max_nearest_neighbors=2, size_range=(0, 10 ** 9), x_range=(0, side),
                              y_range=(0, side), z_range=(0, 1), time_range=(0, frames - 1),
                              transition_weight=10.0, division_weight=10.0, appearance_cost=100.0,
                              disappearance_cost=100.0)


def accuracy(detections: Detections, truth: Truth, result) -> dict[str, float]:
    """Link and division precision/recall and false-detection rejection against the truth."""
    graph = result.graph
    index = {(int(t), int(label)): i for i, (t, label) in enumerate(zip(detections.frame, detections.label))}
    rows = np.array([index[(int(t), int(label))] for t, label in zip(graph.frame, graph.label)])
    cell = truth.cell[rows]
    mother_of = np.full(max([int(truth.cell.max()), *truth.parent, *truth.parent.values()]) + 2, -2)
    for child, mother in truth.parent.items():
        mother_of[child] = mother
    source, target = cell[graph.source], cell[graph.target]
    correct = (source >= 0) & ((source == target) | (mother_of[target] == source))
    used = graph.link_value > 0
    # true links: a cell (or its mother) detected in consecutive frames
    seen = {(int(t), int(c)) for t, c in zip(detections.frame, truth.cell) if c >= 0}
    true_links = sum((t + 1, c) in seen for t, c in seen) + sum(
        (t - 1, int(mother_of[c])) in seen for t, c in seen if mother_of[c] >= 0)
    found = int(np.sum(used & correct))
    mothers = set(cell[graph.division].tolist())
    divided = set(truth.parent.values())
    detected_mothers = divided & set(truth.cell.tolist())
    false = cell < 0
    return {"link precision": found / max(int(used.sum()), 1), "link recall": found / max(true_links, 1),
            "division precision": len(mothers & divided) / max(len(mothers), 1),
            "division recall": len(mothers & detected_mothers) / max(len(detected_mothers), 1),
            "false detections rejected": float(np.mean(graph.value[false] == 0)) if false.any() else 1.0}


def render(detections: Detections, truth: Truth, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(raw float32 (t, y, x), binary segmentation uint8) of the cells of synthetic detections."""
    frames = int(detections.frame.max()) + 1
    raw = np.random.default_rng(seed).normal(0.1, 0.05, (frames, side, side)).astype(np.float32)
    radius = 10
    offsets = np.arange(-radius, radius + 1)
    blob = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 3.0 ** 2)).astype(np.float32)
    for i in np.flatnonzero(truth.cell >= 0):
        x, y = np.rint(detections.center[i, :2]).astype(int)
        y0, x0 = max(y - radius, 0), max(x - radius, 0)
        y1, x1 = min(y + radius + 1, side), min(x + radius + 1, side)
        if y0 < y1 and x0 < x1:
            raw[detections.frame[i], y0:y1, x0:x1] += blob[y0 - y + radius:y1 - y + radius,
                                                           x0 - x + radius:x1 - x + radius]
    return raw, (raw > 0.5).astype(np.uint8)


def render_movie(path: Path, frames: int = 20, cells: int = 8, seed: int = 0) -> None:
    """A small rendered movie (raw and binary segmentation, t, y, x) for trying the workflow."""
    raw, segmentation = render(*synthetic_detections(frames, cells, seed), seed)
    with h5py.File(path, "w") as file:
        file["raw"] = raw
        file["segmentation"] = segmentation
    print(f"wrote {path}: {frames} frames of {raw.shape[1]} x {raw.shape[2]}")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the solver's child process)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def full_path(project: Path, frames: int, cells: int, seed: int, threads: int) -> None:
    """The Tracking workflow on a rendered movie, with wall and CPU seconds per stage."""
    workflow = load_workflow(project)
    raw, segmentation = render(*synthetic_detections(frames, cells, seed), seed)
    roles = [role.name for role in workflow.input_roles]
    volumes = {roles[0]: Volume.from_array(raw[..., None], "tyxc"),
               roles[1]: Volume.from_array(segmentation[..., None], "tyxc")}
    request = LaneRequest("Tracking-Result", tables=True, options=parse_options(workflow.options, {}))
    marks = [("start", time.perf_counter(), cpu_seconds())]
    lane = workflow.open_lane(volumes, request, parallel_blocks=threads)
    lane.prepare(lambda done, total, phase: marks.append((phase.split(":")[0], time.perf_counter(),
                                                          cpu_seconds())), threads=threads)
    marks.append(("end", time.perf_counter(), cpu_seconds()))
    stages: dict[str, list[float]] = {}
    for (phase, wall, cpu), (_, next_wall, next_cpu) in zip(marks[1:-1], marks[2:]):
        if phase not in ("objects", *TRACKING_STAGES):
            continue
        spent = stages.setdefault(phase, [0.0, 0.0])
        spent[0] += next_wall - wall
        spent[1] += next_cpu - cpu
    for name, run in (("Tracking-Result", lambda: export_to_array(lane.image, ExportSettings(), threads=threads)),
                      ("track table", lane.tables)):
        wall, cpu = time.perf_counter(), cpu_seconds()
        run()
        stages[name] = [time.perf_counter() - wall, cpu_seconds() - cpu]
    result = lane.state.result
    print(f"\nfull path ({project.name}): {frames} frames of {raw.shape[1]} x {raw.shape[2]}, "
          f"{len(result.candidates.detections)} detections, {result.candidates.n_links} links, "
          f"{sum(len(fits) for fits in result.mergers.values())} mergers resolved, solver {result.solution.solver}, "
          f"{threads} threads")
    print(f"{'stage':>16} {'wall s':>8} {'CPU s':>8}")
    for name, (wall, cpu) in stages.items():
        print(f"{name:>16} {wall:8.2f} {cpu:8.2f}")
    total = [sum(v[0] for v in stages.values()), sum(v[1] for v in stages.values())]
    print(f"{'total':>16} {total[0]:8.2f} {total[1]:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--cells", type=int, nargs="+", default=[2, 20, 200, 2000])
    parser.add_argument("--ilp-limit", type=int, default=40_000, help="largest movie (detections) for the ILP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--movie", type=Path, help="also write a small rendered movie here (h5)")
    parser.add_argument("--project", type=Path, help="a tracking project (binary segmentation, one raw channel): "
                        "also run the full path on a rendered movie of the largest size")
    parser.add_argument("--threads", type=int, default=2, help="threads of the full path")
    args = parser.parse_args()
    if args.movie:
        render_movie(args.movie, seed=args.seed)
    header = (f"{'detections':>10} {'links':>8} {'graph s':>8} {'energy s':>8} {'ILP s':>8} {'LP s':>8} "
              f"{'LP/ILP time':>11} {'LP/ILP energy':>13} {'LP gap':>8} {'lineage s':>9}")
    print(header)
    accuracies = []
    for cells in args.cells:
        detections, truth, side = synthetic_detections(args.frames, cells, args.seed)
        params = parameters_for(args.frames, side)
        ilp = None
        if len(detections) <= args.ilp_limit:
            ilp = track_detections(detections, params, method="ilp")
        lp = track_detections(detections, params, method="lp")
        seconds = lp.seconds
        gap = (lp.solution.energy - lp.solution.lower_bound) / abs(lp.solution.lower_bound)
        if ilp is not None:
            time_ratio = f"{lp.seconds['solve'] / ilp.seconds['solve']:11.3f}"
            energy_ratio = f"{lp.solution.energy / ilp.solution.energy:13.6f}"
            ilp_time = f"{ilp.seconds['solve']:8.2f}"
        else:
            time_ratio, energy_ratio, ilp_time = f"{'-':>11}", f"{'-':>13}", f"{'(skipped)':>8}"
        print(f"{len(detections):10d} {lp.candidates.n_links:8d} {seconds['graph']:8.2f} {seconds['energies']:8.2f} "
              f"{ilp_time} {seconds['solve']:8.2f} {time_ratio} {energy_ratio} {100 * gap:7.3f}% "
              f"{seconds['lineage']:9.2f}", flush=True)
        accuracies.append((len(detections), "ILP" if ilp else "LP", accuracy(detections, truth, ilp or lp)))
    print()
    print(f"{'detections':>10} {'solver':>6} " + " ".join(f"{name:>13}" for name in accuracies[0][2]))
    for count, solver, values in accuracies:
        print(f"{count:10d} {solver:>6} " + " ".join(f"{value:13.4f}" for value in values.values()))
    if args.project:
        full_path(args.project, args.frames, args.cells[-1], args.seed, args.threads)


if __name__ == "__main__":
    main()
