"""Boundary-based Segmentation with Multicut: superpixels, region adjacency graph, edge
features, edge probabilities and weights, and multicut solvers, as ilastik computes them."""
