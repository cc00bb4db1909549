"""Greedy additive edge contraction (GAEC) exactly as nifty runs it, so that the node labels are
nifty's: each node is labelled with the representative of its cluster in nifty's union-find.

Facts from nifty (`multicut_greedy_additive.hxx`, `edge_contraction_graph.hxx`, `ufd.hxx`,
`changable_priority_queue.hxx`):

- All edges go into an indexed binary max-heap in edge order; while the top weight is > 0 the
  top edge is contracted.
- Contracting (u, v) (the current representatives of the edge's end nodes) merges the two
  union-find sets by rank (equal ranks: u stays root and gains rank); the root is the alive
  node. The dead node's neighbours are visited in increasing node id: a neighbour already
  adjacent to the alive node makes a parallel edge, and the two edges are merged in an edge
  union-find (by rank, the first argument winning ties); the surviving edge takes the sum of
  both weights and the other leaves the heap. Other neighbours are handed to the alive node.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict, List


@njit(cache=True, nogil=True)
def _find(parents, x):
    root = x
    while parents[root] != root:
        root = parents[root]
    while parents[x] != root:
        parents[x], x = root, parents[x]
    return root


@njit(cache=True, nogil=True)
def _merge(parents, ranks, a, b):
    """nifty's Ufd::merge; returns the new root."""
    a = _find(parents, a)
    b = _find(parents, b)
    if ranks[a] < ranks[b]:
        parents[a] = b
        return b
    if ranks[a] > ranks[b]:
        parents[b] = a
        return a
    if a != b:
        parents[b] = a
        ranks[a] += 1
    return a


@njit(cache=True, nogil=True)
def _swap(heap, index, i, j):
    heap[i], heap[j] = heap[j], heap[i]
    index[heap[i]] = i
    index[heap[j]] = j


@njit(cache=True, nogil=True)
def _bubble_up(heap, index, priority, k):
    while k > 1 and priority[heap[k // 2]] < priority[heap[k]]:
        _swap(heap, index, k, k // 2)
        k //= 2


@njit(cache=True, nogil=True)
def _bubble_down(heap, index, priority, k, size):
    while 2 * k <= size:
        j = 2 * k
        if j < size and priority[heap[j]] < priority[heap[j + 1]]:
            j += 1
        if priority[heap[k]] >= priority[heap[j]]:
            break
        _swap(heap, index, k, j)
        k = j


@njit(cache=True, nogil=True)
def _delete(heap, index, priority, item, size):
    at = index[item]
    _swap(heap, index, at, size)
    size -= 1
    _bubble_up(heap, index, priority, at)
    _bubble_down(heap, index, priority, at, size)
    index[item] = -1
    return size


@njit(cache=True, nogil=True)
def _change(heap, index, priority, item, value, size):
    old = priority[item]
    priority[item] = value
    if value < old:
        _bubble_down(heap, index, priority, index[item], size)
    elif value > old:
        _bubble_up(heap, index, priority, index[item])


@njit(cache=True)
def greedy_additive(n_nodes, edges, weights):
    """Node labels (int64) after contracting every positive-weight edge greedily."""
    n_edges = edges.shape[0]
    adjacency = List()
    for _ in range(n_nodes):
        adjacency.append(Dict.empty(key_type=types.int64, value_type=types.int64))
    for e in range(n_edges):
        u, v = np.int64(edges[e, 0]), np.int64(edges[e, 1])
        adjacency[u][v] = e
        adjacency[v][u] = e
    node_parent = np.arange(n_nodes)
    node_rank = np.zeros(n_nodes, dtype=np.int64)
    edge_parent = np.arange(n_edges)
    edge_rank = np.zeros(n_edges, dtype=np.int64)
    priority = weights.astype(np.float64).copy()
    heap = np.full(n_edges + 1, -1, dtype=np.int64)
    index = np.full(n_edges + 1, -1, dtype=np.int64)
    size = 0
    for e in range(n_edges):
        size += 1
        index[e] = size
        heap[size] = e
        _bubble_up(heap, index, priority, size)
    nodes_left = n_nodes
    while size > 0 and nodes_left > 1 and priority[heap[1]] > 0.0:
        edge = heap[1]
        size = _delete(heap, index, priority, edge, size)
        u = _find(node_parent, np.int64(edges[edge, 0]))
        v = _find(node_parent, np.int64(edges[edge, 1]))
        alive = _merge(node_parent, node_rank, u, v)
        dead = v if alive == u else u
        nodes_left -= 1
        alive_adj = adjacency[alive]
        dead_adj = adjacency[dead]
        del alive_adj[dead]
        del dead_adj[alive]
        neighbours = np.empty(len(dead_adj), dtype=np.int64)
        for at, w in enumerate(dead_adj):
            neighbours[at] = w
        neighbours.sort()
        for w in neighbours:
            dead_edge = dead_adj[w]
            if w in alive_adj:
                edge_in_alive = alive_adj[w]
                kept = _merge(edge_parent, edge_rank, edge_in_alive, dead_edge)
                gone = dead_edge if kept == edge_in_alive else edge_in_alive
                if kept != edge_in_alive:
                    alive_adj[w] = kept
                    adjacency[w][alive] = kept
                total = priority[kept] + priority[gone]
                size = _delete(heap, index, priority, gone, size)
                _change(heap, index, priority, kept, total, size)
                del adjacency[w][dead]
            else:
                alive_adj[w] = dead_edge
                del adjacency[w][dead]
                adjacency[w][alive] = dead_edge
        dead_adj.clear()
    labels = np.empty(n_nodes, dtype=np.int64)
    for node in range(n_nodes):
        labels[node] = _find(node_parent, node)
    return labels
