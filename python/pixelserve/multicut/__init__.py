"""Boundary-based Segmentation with Multicut, as ilastik computes it: superpixels (DT
watershed), region adjacency graph, edge features, edge probabilities and weights, and the
multicut solvers. Plain functions on numpy arrays; a workflow chains them:

    boundary = boundary_map(probabilities, settings.channels)
    labels = superpixels(boundary, settings)          # or legacy_superpixels / stored ones
    rag = region_adjacency_graph(labels)
    table = edge_features(rag, voxel_channels(raw, probabilities, boundary), selections)
    p = classifier_probabilities(table.values, ensemble, known_labels)
    node_labels = solve(rag.edges, edge_weights(rag.edges, p, beta, threshold), rag.n_nodes)
    result = segmentation(labels, node_labels)
"""

from .edge_features import (
                            BOUNDARY_CHANNEL,
                            EdgeFeatureTable,
                            channel_names,
                            edge_features,
                            feature_columns,
                            require_columns,
                            supported_features,
                            voxel_channels,
)
from .exact import exact_multicut
from .rag import RegionAdjacencyGraph, region_adjacency_graph
from .solvers import DEFAULT_SOLVER, SOLVERS, multicut_energy, segmentation, solve, solver_name
from .superpixels import LegacyWatershedSettings, WatershedSettings, boundary_map, legacy_superpixels, superpixels, whole_image_bytes
from .weights import classifier_probabilities, edge_weights, no_classifier_probabilities

__all__ = [
    "BOUNDARY_CHANNEL", "DEFAULT_SOLVER", "SOLVERS", "EdgeFeatureTable",
    "LegacyWatershedSettings", "RegionAdjacencyGraph", "WatershedSettings", "boundary_map",
    "channel_names", "classifier_probabilities", "edge_features", "edge_weights",
    "exact_multicut", "feature_columns", "legacy_superpixels", "multicut_energy",
    "no_classifier_probabilities", "region_adjacency_graph", "require_columns", "segmentation",
    "solve", "solver_name", "superpixels", "supported_features", "voxel_channels",
    "whole_image_bytes",
]
