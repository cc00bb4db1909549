"""Tracking detections: candidate graph, energies, solving, merger resolution, lineage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..blocks import Cancelled
from ..project.tracking import TrackingParameters
from .detections import Detections
from .energies import TrackingModel, energy_features, tracking_model
from .graph import (
    CandidateGraph,
    Tracklets,
    build_candidate_graph,
    contract_tracklets,
    single_tracklets,
)
from .lineage import Lineage, SolvedGraph, compute_lineage, solved_graph
from .mergers import ResolvedMergers, resolve_mergers
from .solution import Solution
from .solvers import solve

logger = logging.getLogger(__name__)

StageProgress = Callable[[str, int, int], None]   # (stage, done, total)


@dataclass
class TrackingResult:
    candidates: CandidateGraph
    tracklets: Tracklets
    model: TrackingModel
    solution: Solution
    graph: SolvedGraph            # after merger resolution
    mergers: ResolvedMergers      # frame -> merger label -> fit (empty without resolution)
    lineage: Lineage
    seconds: dict[str, float]     # time per stage


def track_detections(detections: Detections, parameters: TrackingParameters,
                     label_frame: Callable[[int], np.ndarray] | None = None, *, method: str = "auto",
                     progress: StageProgress | None = None, cancel: threading.Event | None = None,
                     time_limit: float | None = None) -> TrackingResult:
    """Track a movie's detections as ilastik's track() does (see the package docstring).

    label_frame(t) gives frame t's (z, y, x) object labels; it is needed only when mergers are
    resolved (maxObj > 1 with merger resolution on)."""
    seconds: dict[str, float] = {}

    def stage(name: str):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        if progress:
            progress(name, 0, 1)
        seconds[name] = time.perf_counter()

    def done(name: str):
        seconds[name] = time.perf_counter() - seconds[name]
        if progress:
            progress(name, 1, 1)

    stage("graph")
    candidates = build_candidate_graph(detections, parameters.max_nearest_neighbors, parameters.max_distance,
                                       parameters.with_divisions, parameters.division_threshold)
    tracklets = contract_tracklets(candidates) if parameters.with_tracklets else single_tracklets(candidates)
    done("graph")
    stage("energies")
    model = tracking_model(energy_features(candidates, tracklets, parameters), parameters.solver_weights())
    done("energies")
    stage("solve")
    solution = solve(model, method, cancel=cancel, time_limit=time_limit,
                     progress=(lambda d, t: progress("solve", d, t)) if progress else None)
    done("solve")
    stage("lineage")
    graph = solved_graph(candidates, tracklets, solution)
    mergers: ResolvedMergers = {}
    if parameters.with_merger_resolution and parameters.max_objects > 1 and np.any(graph.value > 1):
        if label_frame is None:
            raise ValueError("merger resolution needs the label frames")
        graph, mergers = resolve_mergers(graph, label_frame, full_graph=parameters.animal_tracking)
    lineage = compute_lineage(graph)
    done("lineage")
    logger.info("tracking: %d detections, %d links, energy %.6g (%s): %s", len(detections), candidates.n_links,
                solution.energy, solution.solver, ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))
    return TrackingResult(candidates, tracklets, model, solution, graph, mergers, lineage, seconds)
