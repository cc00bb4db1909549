"""Edge probabilities, weights and solvers: ilastik's reference segmentations, the exact optimum
of the fixture projects' problems, and the solvers' own guarantees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from multicut_helpers import (
    OPTIMUM_3D,
    REFERENCE_WATERSHED,
    legacy_project,
    mean_segmentation_accuracy,
    read_h5,
    reference_inputs,
)
from pixelserve.classifiers import ForestEnsemble, forest_from_sklearn
from pixelserve.errors import UserError
from pixelserve.multicut.edge_features import BOUNDARY_CHANNEL, edge_features, voxel_channels
from pixelserve.multicut.exact import exact_multicut
from pixelserve.multicut.rag import region_adjacency_graph
from pixelserve.multicut.solvers import SOLVERS, multicut_energy, segmentation, solve, solver_name
from pixelserve.multicut.superpixels import WatershedSettings, boundary_map, superpixels
from pixelserve.multicut.weights import (
    classifier_probabilities,
    edge_weights,
    no_classifier_probabilities,
)


def _no_classifier_weights(rag, boundary, threshold=0.5):
    mean = edge_features(rag, [(BOUNDARY_CHANNEL, boundary)],
                         {BOUNDARY_CHANNEL: ["standard_edge_mean"]}).values[:, 0]
    return edge_weights(rag.edges, no_classifier_probabilities(mean), 0.5, threshold)


def test_no_classifier_multicut_on_ilastiks_superpixels_is_ilastiks_result(multicut_reference):
    _, probabilities = reference_inputs()
    labels = read_h5(multicut_reference / "superpixels.h5")[..., 0]
    reference = read_h5(multicut_reference / "multicut_segmentation_no_rf_t0.5_kerningham-lin.h5")
    rag = region_adjacency_graph(labels)
    weights = _no_classifier_weights(rag, boundary_map(probabilities, [1]))
    result = segmentation(labels, solve(rag.edges, weights, rag.n_nodes))
    # Not only the same partition: the same label values (nifty's union-find representatives).
    np.testing.assert_array_equal(result, reference[..., 0])
    np.testing.assert_array_equal(np.unique(result), [1, 6, 8, 10, 11])


@pytest.fixture(scope="module")
def our_superpixels():
    _, probabilities = reference_inputs()
    settings = WatershedSettings(**REFERENCE_WATERSHED)
    return superpixels(boundary_map(probabilities, settings.channels), settings)


def test_no_classifier_multicut_reaches_ilastiks_bar(multicut_reference, our_superpixels):
    _, probabilities = reference_inputs()
    reference = read_h5(multicut_reference / "multicut_segmentation_no_rf_t0.5_kerningham-lin.h5")
    rag = region_adjacency_graph(our_superpixels)
    weights = _no_classifier_weights(rag, boundary_map(probabilities, [1]))
    result = segmentation(our_superpixels, solve(rag.edges, weights, rag.n_nodes))
    assert mean_segmentation_accuracy(result, reference[..., 0]) > 0.98
    assert np.unique(result).size == 5


def test_multicut_with_an_edge_classifier_reaches_ilastiks_bar(multicut_reference,
                                                               our_superpixels):
    # ilastik's GUI test trains its forest from the reference segmentation with these
    # features; a scikit-learn forest trained the same way stands in for its vigra forest.
    raw, probabilities = reference_inputs()
    reference = read_h5(multicut_reference / "multicut_segmentation_rf_t0.5_kerningham-lin.h5")
    reference = reference[..., 0]
    rag = region_adjacency_graph(our_superpixels)
    selections = {"Raw Data": ["standard_sp_mean"], "Probabilities-1": ["standard_edge_mean"]}
    table = edge_features(rag, voxel_channels(raw, probabilities), selections)
    assert table.names == ("Raw Data standard_sp_mean_sum", "Raw Data standard_sp_mean_difference",
                           "Probabilities-1 standard_edge_mean")
    majority = np.zeros(rag.n_nodes, dtype=np.int64)
    for node in np.unique(our_superpixels):
        majority[node] = np.bincount(reference[our_superpixels == node]).argmax()
    labels = np.where(majority[rag.edges[:, 0]] != majority[rag.edges[:, 1]], 2, 1)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(table.values, labels)
    ensemble = ForestEnsemble([forest_from_sklearn(forest, labels=[1, 2])])
    weights = edge_weights(rag.edges, classifier_probabilities(table.values, ensemble, [1, 2]))
    result = segmentation(our_superpixels, solve(rag.edges, weights, rag.n_nodes))
    assert mean_segmentation_accuracy(result, reference) > 0.98


@pytest.fixture(scope="module")
def fixture_problems(test_projects):
    """name -> (edges, weights, n_nodes) of the 2018 projects, from their stored features."""
    problems = {}
    for name in ("3d", "3d1c", "3d2c"):
        model, superpixels_, stored = legacy_project(test_projects, name)
        ensemble = ForestEnsemble(list(model.classifier.forests))
        probabilities = classifier_probabilities(stored.values, ensemble,
                                                 model.classifier.known_labels)
        weights = edge_weights(stored.edges, probabilities, model.beta,
                               model.probability_threshold)
        problems[name] = (stored.edges, weights, int(superpixels_.max()) + 1)
    return problems


@pytest.mark.parametrize("name", ["3d1c", "3d2c"])
def test_default_solver_is_within_one_percent_of_the_optimum(fixture_problems, name):
    edges, weights, n_nodes = fixture_problems[name]
    optimum = multicut_energy(edges, weights, solve(edges, weights, n_nodes, "ilp"))
    found = multicut_energy(edges, weights, solve(edges, weights, n_nodes))
    assert optimum <= found <= optimum + 0.01 * abs(optimum)


@pytest.mark.slow
def test_default_solver_is_within_one_percent_of_the_optimum_on_the_large_fixture(
        fixture_problems):
    edges, weights, n_nodes = fixture_problems["3d"]   # 2023 edges: the ILP takes 1-2 minutes
    optimum = multicut_energy(edges, weights, exact_multicut(edges, weights, n_nodes))
    assert optimum == pytest.approx(OPTIMUM_3D, abs=1e-6)   # what the faster tests compare with
    found = multicut_energy(edges, weights, solve(edges, weights, n_nodes))
    assert optimum <= found <= optimum + 0.01 * abs(optimum)


@pytest.mark.parametrize("solver", [s for s in SOLVERS if s != "ilp"])
def test_every_solver_is_reproducible_and_no_worse_than_greedy(fixture_problems, solver):
    edges, weights, n_nodes = fixture_problems["3d"]
    first = solve(edges, weights, n_nodes, solver, seed=3)
    np.testing.assert_array_equal(first, solve(edges, weights, n_nodes, solver, seed=3))
    assert first.dtype == np.uint32 and first.shape == (n_nodes,)
    greedy = multicut_energy(edges, weights, solve(edges, weights, n_nodes, "greedy-additive"))
    assert multicut_energy(edges, weights, first) <= greedy + 0.005 * abs(greedy)


def _partitions(n_nodes, prefix=(0,)):
    """Every partition of n nodes as a restricted growth string (877 for 7 nodes)."""
    if len(prefix) == n_nodes:
        yield np.array(prefix)
        return
    for label in range(max(prefix) + 2):
        yield from _partitions(n_nodes, prefix + (label,))


def _optimal_energy(edges, weights, n_nodes):
    return min(multicut_energy(edges, weights, labels) for labels in _partitions(n_nodes))


@pytest.mark.parametrize("seed", range(4))
def test_exact_solver_finds_the_optimum_of_small_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n_nodes = 7
    edges = np.array([(u, v) for u in range(n_nodes) for v in range(u + 1, n_nodes)
                      if rng.random() < 0.7])
    weights = rng.normal(size=len(edges))
    labels = solve(edges, weights, n_nodes, "ilp")
    assert multicut_energy(edges, weights, labels) == pytest.approx(
        _optimal_energy(edges, weights, n_nodes))


def test_exact_solver_refuses_graphs_beyond_its_size_limit():
    edges = np.array([[0, 1], [1, 2], [0, 2]])
    with pytest.raises(UserError, match="kernighan-lin"):
        exact_multicut(edges, np.ones(3), 3, max_edges=2)


def test_greedy_additive_labels_are_union_find_representatives():
    # 0-1 and 2-3 merge first (weight 5), then the pair joins over the summed parallel edges
    # 1-2 and 0-3 (1 + 1); node 4 is only repelled.
    edges = np.array([[0, 1], [1, 2], [2, 3], [0, 3], [3, 4]])
    weights = np.array([5.0, 1.0, 5.0, 1.0, -2.0])
    labels = solve(edges, weights, 5, "greedy-additive")
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 4])
    assert multicut_energy(edges, weights, labels) == -2.0


def test_weights_follow_ilastiks_formula():
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    p = np.array([0.0, 0.3, 0.8, 1.0], dtype=np.float32)
    weights = edge_weights(edges, p, beta=0.4, threshold=0.6)
    clipped = np.clip(p.astype(np.float64), 0.001, 0.999)
    rescaled = np.where(clipped <= 0.6, clipped / 1.2, 0.5 + (clipped - 0.6) / 0.8)
    expected = np.log(1 / rescaled - 1) + np.log(1 / 0.4 - 1)
    expected[0] = -1000.0   # touches node 0
    np.testing.assert_allclose(weights, expected, rtol=1e-5)   # ilastik computes in float32
    with pytest.raises(UserError, match="Beta"):
        edge_weights(edges, p, beta=1.0)


def test_probabilities_without_a_classifier_or_with_one_known_label():
    np.testing.assert_allclose(no_classifier_probabilities([2.0, 4.0, 3.0]), [0.0, 1.0, 0.5])
    features = np.zeros((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(classifier_probabilities(features, None, [1]), 0)
    np.testing.assert_array_equal(classifier_probabilities(features, None, [2]), 1)
    np.testing.assert_array_equal(classifier_probabilities(features, None, []), 0)


def test_solver_names_map_ilastiks_current_and_legacy_names():
    assert solver_name("") == "kernighan-lin"
    assert solver_name("Nifty_FmGreedy") == "legacy-fusion-moves"
    assert solver_name("Nifty_ExactCplex") == "ilp"
    assert solver_name("cut-glue-cut") == "kernighan-lin"
    with pytest.raises(UserError, match="Unknown multicut solver"):
        solver_name("simulated-annealing")
