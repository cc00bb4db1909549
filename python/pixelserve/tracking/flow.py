"""Minimum-cost maximum flow by successive shortest paths on a time-ordered network (numba).

Merger resolution assigns the objects of split mergers with dpct's `trackMaxFlow`
(mergerresolver.py `_minCostMaxFlowMergerResolving`): the largest flow from a source to a sink
through unit-capacity arcs, and among those the cheapest. Successive shortest paths give
exactly that: starting from zero flow, each augmentation along a cheapest residual path keeps
the flow cheapest for its value, until no path is left.

Shortest paths: the network is acyclic and time-ordered, so the first potentials come from one
pass in reverse topological order (minus the distance to the sink); after that Dijkstra on
reduced costs, stopped once the sink is settled, with only the settled nodes' potentials moved
(the usual early-exit update, which keeps every residual arc's reduced cost non-negative).
Measured as a tracking solver (dpct's `trackFlowBased` idea), this is exact without divisions
but each search settles most of the network, so it lost to the LP-based solver at every size
(`solvers.py`); it stays the tool for the small merger graphs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SOURCE = 0
SINK = 1
_INF = np.inf


@njit(cache=True)
def _build_residual(tail, head, n_nodes):
    """CSR over residual arcs: arc 2a is forward (tail -> head), 2a+1 its reverse."""
    n_arcs = tail.size
    degree = np.zeros(n_nodes + 1, np.int64)
    for a in range(n_arcs):
        degree[tail[a] + 1] += 1
        degree[head[a] + 1] += 1
    start = np.cumsum(degree)
    fill = start[:-1].copy()
    residual = np.empty(2 * n_arcs, np.int64)
    for a in range(n_arcs):
        residual[fill[tail[a]]] = 2 * a
        fill[tail[a]] += 1
        residual[fill[head[a]]] = 2 * a + 1
        fill[head[a]] += 1
    return start, residual


@njit(cache=True)
def _heap_push(keys, items, size, key, item):
    i = size
    keys[i] = key
    items[i] = item
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        items[parent], items[i] = items[i], items[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(keys, items, size):
    key = keys[0]
    item = items[0]
    size -= 1
    keys[0] = keys[size]
    items[0] = items[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            child = left + 1
        if keys[i] <= keys[child]:
            break
        keys[i], keys[child] = keys[child], keys[i]
        items[i], items[child] = items[child], items[i]
        i = child
    return key, item, size


@njit(cache=True)
def _initial_potentials(tail, head, cost, start, residual, order, n_nodes):
    """Minus the shortest distance to the sink in the (acyclic) network; 0 where it cannot reach it.

    These potentials point the first searches at the sink: a node's reduced distance from the
    source is how much worse the best path through it is than the best path overall, so
    Dijkstra settles little more than the shortest path itself."""
    to_sink = np.full(n_nodes, _INF)
    to_sink[SINK] = 0.0
    for i in range(order.size - 1, -1, -1):
        node = order[i]
        for r in range(start[node], start[node + 1]):
            arc = residual[r]
            if arc % 2 == 1:
                continue
            a = arc // 2
            candidate = cost[a] + to_sink[head[a]]
            to_sink[node] = min(to_sink[node], candidate)
    potential = np.zeros(n_nodes)
    for node in range(n_nodes):
        if to_sink[node] < _INF:
            potential[node] = -to_sink[node]
    return potential


@njit(cache=True)
def _augment(tail, head, cost, start, residual, flow, potential):
    """Augment along cheapest residual source-sink paths until none is left."""
    n_nodes = potential.size
    n_arcs = tail.size
    distance = np.full(n_nodes, _INF)
    via = np.full(n_nodes, -1, np.int64)
    settled = np.zeros(n_nodes, np.bool_)
    touched = np.empty(n_nodes, np.int64)
    keys = np.empty(2 * n_arcs + n_nodes, np.float64)
    items = np.empty(2 * n_arcs + n_nodes, np.int64)
    while True:
        n_touched = 1
        distance[SOURCE] = 0.0
        touched[0] = SOURCE
        size = _heap_push(keys, items, 0, 0.0, SOURCE)
        while size > 0:
            d, node, size = _heap_pop(keys, items, size)
            if settled[node] or d > distance[node]:
                continue
            settled[node] = True
            if node == SINK:
                break
            for r in range(start[node], start[node + 1]):
                arc = residual[r]
                a = arc // 2
                if arc % 2 == 0:
                    if flow[a] >= 1:
                        continue
                    other = head[a]
                    reduced = cost[a] + potential[node] - potential[other]
                else:
                    if flow[a] <= 0:
                        continue
                    other = tail[a]
                    reduced = -cost[a] + potential[node] - potential[other]
                if settled[other]:
                    continue
                reduced = max(reduced, 0.0)     # rounding only; potentials keep reduced costs >= 0
                candidate = d + reduced
                if candidate < distance[other]:
                    if distance[other] == _INF:
                        touched[n_touched] = other
                        n_touched += 1
                    distance[other] = candidate
                    via[other] = arc
                    size = _heap_push(keys, items, size, candidate, other)
        if not settled[SINK]:
            return
        node = SINK
        while node != SOURCE:
            arc = via[node]
            a = arc // 2
            if arc % 2 == 0:
                flow[a] += 1
                node = tail[a]
            else:
                flow[a] -= 1
                node = head[a]
        reach = distance[SINK]
        for i in range(n_touched):
            x = touched[i]
            if settled[x]:
                potential[x] += distance[x] - reach
            distance[x] = _INF
            settled[x] = False


def min_cost_max_flow(tail: np.ndarray, head: np.ndarray, cost: np.ndarray, order: np.ndarray,
                      n_nodes: int) -> np.ndarray:
    """The flow (0/1 per arc) of a cheapest maximum flow from node 0 to node 1 through the
    unit-capacity arcs tail -> head; `order` is a topological order of the nodes."""
    tail = np.ascontiguousarray(tail, np.int64)
    head = np.ascontiguousarray(head, np.int64)
    cost = np.ascontiguousarray(cost, np.float64)
    start, residual = _build_residual(tail, head, int(n_nodes))
    potential = _initial_potentials(tail, head, cost, start, residual, np.ascontiguousarray(order, np.int64),
                                    int(n_nodes))
    flow = np.zeros(tail.size, np.int64)
    _augment(tail, head, cost, start, residual, flow, potential)
    return flow
