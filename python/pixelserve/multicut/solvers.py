"""Multicut solvers under ilastik's names, and the energy they minimise.

ilastik (`opMulticut.py`) solves with elf's solvers by name, "kernighan-lin" by default, on a
graph of max superpixel id + 1 nodes; older projects store nifty/OpenGM names
(`multicutLegacy.py`). Weights are positive for attractive edges; the energy of a labelling
is the sum of the weights of the edges it cuts, and solvers minimise it.

Node labels are ilastik's where we know them exactly: greedy additive contraction labels each
node with its cluster's union-find representative, as nifty does (`_gaec`); Kernighan-Lin
keeps those labels when it changes nothing and otherwise numbers the clusters 0, 1, ... by
their smallest node, as nifty's Kernighan-Lin relabels them. Other solvers return that
numbering too. Fusion moves draw random proposals: `seed` fixes them, so a run is
reproducible.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import UserError
from . import _bioimage
from ._gaec import greedy_additive
from .exact import exact_multicut, labels_from_cut

logger = logging.getLogger(__name__)

DEFAULT_SOLVER = "kernighan-lin"
SOLVERS = ("kernighan-lin", "greedy-additive", "greedy-fixation", "fusion-moves",
           "decomposition", "ilp", "legacy-fusion-moves")

# Names ilastik offers or stored, mapped to the solver that gives the result the project
# was made with. elf's "cut-glue-cut", "rama" (GPU) and "blockwise-multicut" (which needs a
# pixel segmentation ilastik never passes) have no counterpart here: Kernighan-Lin, ilastik's
# default, stands in. Legacy exact solvers (CPLEX, Gurobi, OpenGM) become the exact ILP;
# fusion moves with an exact sub-solver become fusion moves.
ALIASES = {
    "cut-glue-cut": "kernighan-lin",
    "rama": "kernighan-lin",
    "blockwise-multicut": "kernighan-lin",
    "Nifty_FmGreedy": "legacy-fusion-moves",
    "Nifty_ExactCplex": "ilp",
    "Nifty_ExactGurobi": "ilp",
    "Opengm_Exact": "ilp",
    "Nifty_FmCplex": "fusion-moves",
    "Nifty_FmGurobi": "fusion-moves",
    "Opengm_IntersectionBased": "fusion-moves",
    "Opengm_Cgc": "kernighan-lin",
}


def solver_name(name: str) -> str:
    """The solver that runs for a stored or requested name (see ALIASES)."""
    name = str(name or DEFAULT_SOLVER)
    if name in SOLVERS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise UserError(f"Unknown multicut solver {name!r}. Fix: choose one of "
                    f"{', '.join(SOLVERS[:-1])}.")


def multicut_energy(edges: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> float:
    """Sum of the weights of the edges whose end nodes carry different labels."""
    edges = np.asarray(edges)
    labels = np.asarray(labels)
    cut = labels[edges[:, 0]] != labels[edges[:, 1]]
    return float(np.sum(np.asarray(weights, dtype=np.float64)[cut]))


def solve(edges: np.ndarray, weights: np.ndarray, n_nodes: int,
          solver: str = DEFAULT_SOLVER, *, seed: int = 0) -> np.ndarray:
    """Node labels (uint32, one per node 0..n_nodes-1) of a multicut of the graph."""
    edges, weights = _checked(edges, weights, n_nodes)
    name = solver_name(solver)
    if name == "ilp":
        labels = exact_multicut(edges, weights, n_nodes)
    elif name == "greedy-fixation":
        labels = _renumbered(edges, _bioimage.greedy_fixation(n_nodes, edges, weights), n_nodes)
    elif name == "decomposition":
        labels = _renumbered(edges, _bioimage.decomposition(n_nodes, edges, weights), n_nodes)
    else:
        labels = greedy_additive(n_nodes, edges, weights)
        if name == "kernighan-lin":
            labels = _kernighan_lin(n_nodes, edges, weights, labels)
        elif name == "fusion-moves":
            # elf: warm start by GAEC and Kernighan-Lin, watershed proposals (sigma 2, 5 %
            # seeds), Kernighan-Lin fusions, 1000 iterations, stop after 25 without gain.
            start = _kernighan_lin(n_nodes, edges, weights, labels)
            labels = _renumbered(edges, _bioimage.fusion_moves(
                n_nodes, edges, weights, start, sigma=2.0, seed_fraction=0.05,
                iterations=1000, stop_after=25, kernighan_lin_fusion=True, seed=seed), n_nodes)
        elif name == "legacy-fusion-moves":
            # ilastik's Nifty_FmGreedy (multicutLegacy.py): GAEC, then fusion moves with
            # watershed proposals (sigma 1, 1 % seeds) fused by GAEC, 500 iterations, stop
            # after 20; its 8 threads make 8 proposals per iteration, made here one by one.
            labels = _renumbered(edges, _bioimage.fusion_moves(
                n_nodes, edges, weights, labels, sigma=1.0, seed_fraction=0.01,
                iterations=500, stop_after=20, kernighan_lin_fusion=False, seed=seed,
                proposals=8), n_nodes)
    return np.asarray(labels, dtype=np.uint32)


def segmentation(superpixels: np.ndarray, node_labels: np.ndarray) -> np.ndarray:
    """The multicut segmentation: each superpixel replaced by its node's label (uint32)."""
    node_labels = np.asarray(node_labels, dtype=np.uint32)
    if superpixels.size and int(superpixels.max()) >= node_labels.size:
        raise UserError(f"The superpixels contain id {int(superpixels.max())}, but the node "
                        f"labels cover only {node_labels.size} nodes. Fix: solve on the graph "
                        "of these superpixels.")
    return node_labels[superpixels]


def _kernighan_lin(n_nodes, edges, weights, start):
    result = _bioimage.kernighan_lin(n_nodes, edges, weights, start)
    if _same_partition(edges, start, result):
        return start
    return _renumbered(edges, result, n_nodes)


def _same_partition(edges, a, b) -> bool:
    return bool(np.array_equal(a[edges[:, 0]] != a[edges[:, 1]], b[edges[:, 0]] != b[edges[:, 1]]))


def _renumbered(edges, labels, n_nodes):
    return labels_from_cut(edges, labels[edges[:, 0]] != labels[edges[:, 1]], n_nodes)


def _checked(edges, weights, n_nodes):
    edges = np.asarray(edges)
    weights = np.asarray(weights, dtype=np.float64)
    if edges.ndim != 2 or edges.shape[1] != 2 or weights.shape != (edges.shape[0],):
        raise UserError(f"Edges must be an (E, 2) array with one weight each, got edges "
                        f"{edges.shape} and weights {weights.shape}.")
    if not np.all(np.isfinite(weights)):
        raise UserError("Some edge weights are NaN or infinite. Fix: check the edge "
                        "probabilities (they must lie in [0, 1]).")
    if edges.size and (edges.min() < 0 or edges.max() >= n_nodes):
        raise UserError(f"Edges refer to nodes outside 0..{n_nodes - 1}. Fix: pass "
                        "n_nodes = largest superpixel id + 1.")
    if edges.size and np.any(edges[:, 0] == edges[:, 1]):
        raise UserError("An edge joins a node to itself. Fix: pass the graph's edges.")
    return edges.astype(np.int64), weights
