"""Tracking engine on scripted movies: energies, solvers, cancelling, divisions and lineage."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from pixelserve.blocks import Cancelled
from pixelserve.project.tracking import TrackingParameters
from pixelserve.tracking.detections import Detections
from pixelserve.tracking.energies import (
    FieldOfView,
    convexify,
    energy_features,
    tracking_model,
)
from pixelserve.tracking.flow import min_cost_max_flow
from pixelserve.tracking.graph import (
    build_candidate_graph,
    contract_tracklets,
    single_tracklets,
)
from pixelserve.tracking.pipeline import track_detections
from pixelserve.tracking.solution import violations
from pixelserve.tracking.solvers import (
    IN_PROCESS_VARIABLES,
    solve_ilp,
    solve_lp_rounding,
)


def parameters(frames: int, side: int = 200, **changes) -> TrackingParameters:
    return replace(TrackingParameters(), max_distance=30.0, max_objects=1, division_threshold=0.1,
                   with_divisions=True, with_merger_resolution=False, with_tracklets=False, border_width=10.0,
                   max_nearest_neighbors=2, size_range=(0, 10 ** 9), x_range=(0, side), y_range=(0, side),
                   z_range=(0, 1), time_range=(0, frames - 1), transition_weight=10.0, division_weight=10.0,
                   appearance_cost=100.0, disappearance_cost=100.0, **changes)


def scripted_movie() -> Detections:
    """Three cells crossing the field left to right over 8 frames; the middle one divides after
    frame 3 into an upper and a lower daughter; one false detection in frame 5."""
    rows = []      # frame, x, y, P(1 object), P(division)
    for t in range(8):
        rows.append((t, 40 + 8 * t, 40, 0.95, 0.02))
        rows.append((t, 40 + 8 * t, 160, 0.95, 0.02))
        if t <= 3:
            rows.append((t, 40 + 8 * t, 100, 0.95, 0.9 if t == 3 else 0.02))
        else:
            rows.append((t, 40 + 8 * t, 100 - 6 * (t - 3), 0.9, 0.02))
            rows.append((t, 40 + 8 * t, 100 + 6 * (t - 3), 0.9, 0.02))
        if t == 5:
            rows.append((t, 150, 120, 0.1, 0.02))
    table = np.array(rows)
    frame = table[:, 0].astype(np.int64)
    label = np.concatenate([np.arange(1, np.sum(frame == t) + 1) for t in range(8)])
    center = np.column_stack([table[:, 1], table[:, 2], np.zeros(len(rows))])
    return Detections(frame, label, center, np.column_stack([1 - table[:, 3], table[:, 3]]), table[:, 4])


def random_movie(cells: int, frames: int, seed: int) -> tuple[Detections, TrackingParameters]:
    """Cells on a random walk, each detected with a noisy count probability."""
    rng = np.random.default_rng(seed)
    side = int(40 * np.sqrt(cells)) + 20
    position = rng.uniform(10, side - 10, (cells, 2))
    parts = []
    for t in range(frames):
        p = np.clip(rng.normal(0.85, 0.1, cells), 0.05, 0.99)
        parts.append(Detections(np.full(cells, t), np.arange(1, cells + 1), np.column_stack([position, np.zeros(cells)]),
                                np.column_stack([1 - p, p]), np.clip(rng.normal(0.05, 0.05, cells), 0.001, 0.9)))
        position = position + rng.normal(0, 3.0, position.shape)
    return Detections.concatenate(parts), parameters(frames, side)


def test_convexify_follows_hytra():
    # [0, m] stays; [0, 0] gets eps; a dip after the minimum is lifted to keep the slope growing
    np.testing.assert_allclose(convexify(np.array([[0.0, 2.0], [0.0, 0.0]])), [[0.0, 2.0], [0.0, 1e-6]])
    np.testing.assert_allclose(convexify(np.array([[1.0, 0.0, 0.5, 0.6]])), [[1.0, 0.0, 0.5, 1.0 + 1e-6]])


def test_field_of_view_distances_are_hytras_planes():
    fov = FieldOfView.from_parameters(parameters(5, side=100))
    # x from 0 to 99, y from 0 to 99; 2D ignores z
    np.testing.assert_allclose(fov.border_distance(np.array([[10.0, 50.0, 0], [97.0, 60.0, 0], [50, 1.5, 0]])),
                               [10.0, 2.0, 1.5])


def test_scripted_division_is_found_and_numbered():
    detections = scripted_movie()
    result = track_detections(detections, parameters(8), method="ilp")
    graph, lineage = result.graph, result.lineage
    mother = np.flatnonzero((graph.frame == 3) & (graph.center[:, 1] == 100))[0]
    assert graph.division[mother] and graph.division.sum() == 1
    daughters = np.flatnonzero(lineage.parent == mother)
    assert sorted(graph.frame[daughters].tolist()) == [4, 4]
    # hytra's numbering: starts in node order get tracks 2, 3, 4 and lineages alike; the
    # daughters get new track ids in link order when their mother is processed
    assert lineage.track[graph.frame == 0].tolist() == [2, 3, 4]
    assert lineage.lineage[daughters].tolist() == [lineage.lineage[mother]] * 2
    assert sorted(lineage.track[daughters].tolist()) == [5, 6]
    false = np.flatnonzero((graph.frame == 5) & (graph.center[:, 0] == 150))[0]
    assert graph.value[false] == 0 and lineage.track[false] == -1


def test_lp_solver_matches_the_ilp_and_bounds_it():
    detections, params = random_movie(cells=30, frames=30, seed=1)
    result = track_detections(detections, params, method="ilp")
    approximate = solve_lp_rounding(result.model)
    assert not violations(result.model, approximate.node, approximate.link, approximate.division)
    assert approximate.lower_bound <= result.solution.energy + 1e-9 * abs(result.solution.energy)
    assert abs(approximate.energy - result.solution.energy) <= 1e-3 * abs(result.solution.energy)


def test_tracklets_contract_chains_as_hytra():
    # two cells far apart, one link each way per frame: every cell is one tracklet, but a
    # tracklet is never left without any link (hytra keeps the last step of each chain apart)
    detections, _ = random_movie(cells=2, frames=6, seed=3)
    graph = build_candidate_graph(detections, 1, 500.0, False, 0.5)
    tracklets = contract_tracklets(graph)
    sizes = np.diff(tracklets.start)
    assert sizes.sum() == len(detections) and len(tracklets.links) >= 1
    assert all(np.all(np.diff(detections.frame[tracklets.members[a:b]]) == 1)
               for a, b in zip(tracklets.start[:-1], tracklets.start[1:]))


def test_min_cost_max_flow_prefers_the_cheap_route():
    # source 0, sink 1; a (2) and b (3); two units must go through, via a if possible
    tail = np.array([0, 0, 2, 3, 2])
    head = np.array([2, 3, 1, 1, 3])
    cost = np.array([1.0, 5.0, 1.0, 1.0, 0.0])
    assert min_cost_max_flow(tail, head, cost, np.array([0, 2, 3, 1]), 4).tolist() == [1, 1, 1, 1, 0]


def test_ilp_in_a_child_process_stops_on_cancel():
    detections, params = random_movie(cells=250, frames=40, seed=2)
    graph = build_candidate_graph(detections, params.max_nearest_neighbors, params.max_distance, True, 0.1)
    model = tracking_model(energy_features(graph, single_tracklets(graph), params), params.solver_weights())
    assert model.n_nodes * 4 > IN_PROCESS_VARIABLES
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        solve_ilp(model, cancel=cancel)
    assert time.perf_counter() - started < 0.5 + 1.0
