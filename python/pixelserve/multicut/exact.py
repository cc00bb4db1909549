"""The exact multicut: an integer linear program solved by HiGHS (scipy.optimize.milp) with
cycle inequalities added lazily.

One binary x_e per edge (1 = cut); minimise sum(w_e x_e) subject to: a cut edge closes no
cycle of uncut edges, x_e <= sum of x_f over any path from u to v. The inequalities are found
in rounds, all violated ones at once: first for the linear relaxation (for every edge, a
shortest path between its end nodes with lengths x; violated when shorter than x_e), then
for the integer program (a cut edge whose end nodes are still joined by uncut edges). Before that the graph is split
into the components of its attractive (w > 0) edges: an optimal multicut cuts every edge
between them, so each component is an independent, smaller program.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import LinearConstraint, milp
from scipy.sparse.csgraph import connected_components, dijkstra

from ..errors import UserError

# Largest component (in edges) the exact solver takes on; beyond it runtimes explode.
MAX_EDGES = 20000
_TOLERANCE = 1e-6
_FLOOR = 1e-9


def exact_multicut(edges: np.ndarray, weights: np.ndarray, n_nodes: int,
                   max_edges: int = MAX_EDGES) -> np.ndarray:
    """Optimal node labels (components of the uncut edges, numbered by their smallest node)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    weights = np.asarray(weights, dtype=np.float64)
    attractive = weights > 0
    _, component = _components(n_nodes, edges[attractive])
    inside = component[edges[:, 0]] == component[edges[:, 1]]
    cut = ~inside
    sizes = np.bincount(component[edges[inside, 0]], minlength=component.max() + 1)
    if sizes.size and sizes.max() > max_edges:
        raise UserError(
            f"The exact (ilp) multicut is limited to {max_edges} edges per connected part, this "
            f"graph has a part with {int(sizes.max())}. Fix: choose the default solver "
            "kernighan-lin (or fusion-moves), or process a smaller region.")
    for part in np.flatnonzero(sizes):
        members = np.flatnonzero(inside & (component[edges[:, 0]] == part))
        cut[members] = _solve_part(edges[members], weights[members])
    return labels_from_cut(edges, cut, n_nodes)


def labels_from_cut(edges: np.ndarray, cut: np.ndarray, n_nodes: int) -> np.ndarray:
    """Node labels 0..k-1: components of the uncut edges, numbered by their smallest node."""
    _, component = _components(n_nodes, np.asarray(edges)[~np.asarray(cut, dtype=bool)])
    return component.astype(np.int64)


def _components(n_nodes: int, edges: np.ndarray) -> tuple[int, np.ndarray]:
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                              shape=(n_nodes, n_nodes))
    count, labels = connected_components(graph, directed=False)
    # scipy numbers components in order of their smallest node already (it scans nodes
    # in order and labels each unvisited node's component next).
    return count, labels


def _solve_part(edges: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Optimal cut vector (bool) of one connected part."""
    _, local = np.unique(edges, return_inverse=True)
    local = local.reshape(-1, 2)
    edge_of = {(int(u), int(v)): e for e, (u, v) in enumerate(local)}
    rows: list[sparse.coo_matrix] = []
    for integral in (False, True):
        while True:
            x = _optimum(weights, rows, integral)
            if integral:
                x = (x > 0.5).astype(np.float64)
            new_rows = _violated_cycles(local, x, edge_of)
            if new_rows is None:
                break
            rows.append(new_rows)
    return x > 0.5


def _optimum(weights, rows, integral: bool) -> np.ndarray:
    constraints = []
    if rows:
        constraints = [LinearConstraint(sparse.vstack(rows).tocsr(), -np.inf, 0.0)]
    result = milp(weights, constraints=constraints, bounds=(0, 1),
                  integrality=np.full(len(weights), 1 if integral else 0))
    if result.x is None:
        raise UserError(f"The exact multicut solver failed ({result.message}). Fix: choose "
                        "another solver, e.g. kernighan-lin.")
    return np.clip(result.x, 0.0, 1.0)


def _violated_cycles(edges, x, edge_of):
    """x_e - sum(x_f, f on a shortest path from u to v with lengths x) <= 0 for every edge
    (u, v) whose path is shorter than x_e; None when there is none."""
    n_nodes = int(edges.max()) + 1
    candidates = np.flatnonzero(x > _TOLERANCE)
    if candidates.size == 0:
        return None
    # csgraph drops zero-length entries, so every length gets a tiny floor.
    lengths = np.maximum(x, _FLOOR)
    graph = sparse.coo_matrix((lengths, (edges[:, 0], edges[:, 1])),
                              shape=(n_nodes, n_nodes)).tocsr()
    sources = np.unique(edges[candidates, 0])
    distances, predecessors = dijkstra(graph, directed=False, indices=sources,
                                       return_predecessors=True)
    row_of, column, value = [], [], []
    count = 0
    for at, source in enumerate(sources):
        for e in candidates[edges[candidates, 0] == source]:
            target = int(edges[e, 1])
            if distances[at, target] >= x[e] - _TOLERANCE:
                continue
            path = []
            node = target
            while node != source:
                previous = int(predecessors[at, node])
                path.append(edge_of[(min(node, previous), max(node, previous))])
                node = previous
            if path == [e]:
                continue
            row_of += [count] * (len(path) + 1)
            column += [int(e)] + path
            value += [1.0] + [-1.0] * len(path)
            count += 1
    if count == 0:
        return None
    return sparse.coo_matrix((value, (row_of, column)), shape=(count, len(edges)))
