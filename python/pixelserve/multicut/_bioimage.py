"""The one module that calls bioimage-cpp (MIT, pinned to 0.10.0 in pyproject.toml): its
multicut solvers, a port of the nifty solvers ilastik runs through elf.

Every function takes the graph as (n_nodes, edges (E, 2), weights (E,), positive =
attractive) and returns one label per node. Keep all use of the library here, so that a
version change or a replacement touches one file.
"""

from __future__ import annotations

import numpy as np
from bioimage_cpp import graph as bic_graph
from bioimage_cpp.graph import multicut as bic_multicut


def _objective(n_nodes: int, edges: np.ndarray, weights: np.ndarray,
               labels: np.ndarray | None = None):
    graph = bic_graph.UndirectedGraph.from_edges(int(n_nodes), edges.astype(np.uint64))
    start = None if labels is None else np.asarray(labels, dtype=np.uint64)
    return bic_multicut.MulticutObjective(graph, np.asarray(weights, dtype=np.float64), start)


def kernighan_lin(n_nodes: int, edges: np.ndarray, weights: np.ndarray,
                  start: np.ndarray) -> np.ndarray:
    """Kernighan-Lin local search from the labelling `start` (nifty's defaults: 100 outer
    iterations, epsilon 1e-6)."""
    objective = _objective(n_nodes, edges, weights, start)
    return bic_multicut.KernighanLinMulticut().optimize(objective).astype(np.int64)


def greedy_fixation(n_nodes: int, edges: np.ndarray, weights: np.ndarray) -> np.ndarray:
    objective = _objective(n_nodes, edges, weights)
    return bic_multicut.GreedyFixationMulticut().optimize(objective).astype(np.int64)


def fusion_moves(n_nodes: int, edges: np.ndarray, weights: np.ndarray, start: np.ndarray, *,
                 sigma: float, seed_fraction: float, iterations: int, stop_after: int,
                 kernighan_lin_fusion: bool, seed: int, proposals: int | None = None) -> np.ndarray:
    """Fusion moves with watershed proposals from the labelling `start`, single-threaded so
    that a fixed `seed` gives the same result every run. Each fusion is solved by
    Kernighan-Lin (elf's "fusion-moves") or greedy additive contraction (ilastik's legacy
    `Nifty_FmGreedy`). `proposals`: proposals per iteration (nifty makes one per thread;
    None: the library's default for one thread)."""
    sub_solver = (bic_multicut.KernighanLinMulticut() if kernighan_lin_fusion
                  else bic_multicut.GreedyAdditiveMulticut())
    solver = bic_multicut.FusionMoveMulticut(
        proposal_generator=bic_multicut.WatershedProposalGenerator(
            sigma=sigma, n_seeds_fraction=seed_fraction, seed=seed),
        sub_solver=sub_solver, number_of_iterations=iterations,
        stop_if_no_improvement=stop_after, number_of_threads=1, number_of_parallel_proposals=proposals)
    return solver.optimize(_objective(n_nodes, edges, weights, start)).astype(np.int64)


def decomposition(n_nodes: int, edges: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """elf's "decomposition": each component of the attractive subgraph solved separately
    with Kernighan-Lin warm-started by greedy additive contraction."""
    chain = bic_multicut.ChainedMulticutSolvers([bic_multicut.GreedyAdditiveMulticut(),
                                                 bic_multicut.KernighanLinMulticut()])
    solver = bic_multicut.MulticutDecomposer(chain, fallthrough_solver=chain,
                                             number_of_threads=1)
    return solver.optimize(_objective(n_nodes, edges, weights)).astype(np.int64)
