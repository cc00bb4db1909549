"""Merger resolution: splitting detections that hold several objects, as ilastik does.

ilastik (opConservationTracking.py `_resolveMergers`, maxObj > 1 with merger resolution on)
runs hytra's IlastikMergerResolver (ilastikmergerresolver.py, mergerresolver.py):

1. mergers are detections with value > 1; the "unresolved graph" holds every link in use that
   touches a merger, with both ends (Animal tracking: the whole candidate graph);
2. frame by frame, each merger's pixels are fitted with a Gaussian mixture of `value`
   components (scikit-learn GaussianMixture, k-means initialisation, random_state 42; the
   predecessors' fits hytra passes as "initialisation" are overwritten by fit()); its objects
   get the ids max(label in frame) + 1, + 2, ... in order of merger label, and take over the
   merger's links (to the split objects of a split predecessor);
3. a cheapest maximum flow (dpct `trackMaxFlow`) assigns the split objects: detection cost
   i**2 per object count, appearance / disappearance 0.01 * i**2 where a node has no incoming /
   outgoing link, links -ln [1 - p, p] with p = exp(-distance / 5) between centres (the fit's
   mean for split objects); a dividing node without incoming links may carry two units;
4. in the solved graph the merger is replaced by its objects (value 1, `mergerValue` = the
   merger's label, centre = the fit's mean), appended at the end of the node order; every
   resolved link touching them is added with its flow, and where that flow is used the
   other links out of its source and into its target are switched off.

Pixel coordinates are ilastik's x, y, z (z = 0 in 2D) in the label image's x-major order, so
that the mixture sees the same points in the same order as in ilastik.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture

from ..errors import UserError
from .flow import SINK, SOURCE, min_cost_max_flow
from .lineage import SolvedGraph

RANDOM_SEED = 42                 # ilastik's RANDOM_SEED_MERGER
TRANSITION_PARAMETER = 5.0
BORDER_COST = 0.01
LOWEST_NEGLOG_ARGUMENT = 1e-10


@dataclass
class MergerFit:
    """The Gaussian mixture of one resolved merger, and the ids of its objects."""

    new_labels: np.ndarray        # int64 (k,)
    weights: np.ndarray           # (k,)
    means: np.ndarray             # (k, 3): x, y, z
    precisions_cholesky: np.ndarray   # (k, 3, 3)


# frame -> merger label -> its fit
ResolvedMergers = dict[int, dict[int, MergerFit]]


def resolve_mergers(graph: SolvedGraph, label_frame: Callable[[int], np.ndarray], *, full_graph: bool = False,
                    seed: int = RANDOM_SEED) -> tuple[SolvedGraph, ResolvedMergers]:
    """Split every merger of a solved graph (see the module docstring).

    label_frame(t) returns frame t's object labels as a (z, y, x) array; only frames with
    mergers are read. Returns the new graph and the fits, which `relabel.split_mergers` uses
    to label the split objects' pixels."""
    if not np.any(graph.value > 1):
        return graph, {}
    used = graph.link_value > 0
    divides = graph.division & (np.bincount(graph.source[used], minlength=len(graph)) > 0)
    nodes, edges = _unresolved(graph, used, full_graph)
    if not full_graph and np.any((graph.value[nodes] > 1) & divides[nodes]):
        raise UserError("Merger resolution met an object classified as a merger and as dividing. Fix: retrain "
                        "the object count and division classifiers with clearer examples (ilastik's uncertainty "
                        "layer shows where), or switch merger resolution off.")
    mergers = [node for node in nodes if graph.value[node] > 1]
    fits: ResolvedMergers = {}
    split: dict[int, MergerFit] = {}
    for frame in sorted({int(graph.frame[node]) for node in mergers}):
        labels = label_frame(frame)
        next_label = int(labels.max()) + 1
        points_xyz = np.transpose(labels, (2, 1, 0))       # ilastik's x-major pixel order
        for node in sorted((n for n in mergers if graph.frame[n] == frame), key=lambda n: graph.label[n]):
            count = int(graph.value[node])
            fit = MergerFit(np.arange(next_label, next_label + count),
                            *_fit(np.argwhere(points_xyz == graph.label[node]), count, seed))
            fits.setdefault(frame, {})[int(graph.label[node])] = fit
            split[node] = fit
            next_label += count
    resolved = _Resolved(graph, nodes, edges, split, divides)
    flow = resolved.max_flow()
    return _updated(graph, resolved, flow), fits


def _unresolved(graph: SolvedGraph, used: np.ndarray, full_graph: bool) -> tuple[list[int], list[tuple[int, int]]]:
    """hytra's unresolved graph: nodes and links around mergers, or the whole candidate graph."""
    if full_graph:
        return list(range(len(graph))), list(zip(graph.source.tolist(), graph.target.tolist()))
    is_merger = graph.value > 1
    touching = used & (is_merger[graph.source] | is_merger[graph.target])
    nodes: dict[int, None] = {}
    edges = []
    for source, target in zip(graph.source[touching].tolist(), graph.target[touching].tolist()):
        nodes.setdefault(source)
        nodes.setdefault(target)
        edges.append((source, target))
    return list(nodes), edges


def _fit(coordinates: np.ndarray, count: int, seed: int):
    mixture = GaussianMixture(n_components=count, random_state=seed).fit(coordinates)
    if not mixture.converged_:
        raise UserError(f"A merger of {count} objects could not be split: the Gaussian mixture did not converge. "
                        "Fix: lower 'Max. Objects per merger' or switch merger resolution off.")
    return mixture.weights_.copy(), mixture.means_.copy(), mixture.precisions_cholesky_.copy()


class _Resolved:
    """hytra's resolved graph: the unresolved one with each merger replaced by its objects.

    Nodes are ("old", index into the solved graph) or ("new", (merger, k)). It is built by
    replaying hytra's networkx operations (`fitAndRefineNodesForTimestep`: mergers frame by
    frame in label order; add the objects, copy the merger's outgoing links, then its incoming
    ones, from a split predecessor's objects; remove the merger), because the order of nodes
    and links decides how ties are resolved later."""

    def __init__(self, graph: SolvedGraph, nodes: list[int], edges: list[tuple[int, int]],
                 split: dict[int, MergerFit], divides: np.ndarray):
        self.graph, self.split, self.divides = graph, split, divides
        successors: dict = {("old", n): {} for n in nodes}
        predecessors: dict[int, list[int]] = {n: [] for n in nodes}
        for source, target in edges:
            successors[("old", source)][("old", target)] = None
            predecessors[target].append(source)
        order = sorted(split, key=lambda n: (graph.frame[n], graph.label[n]))
        for merger in order:
            for k in range(len(split[merger].new_labels)):
                new = ("new", (merger, k))
                successors[new] = {("old", target): None for source, target in edges if source == merger}
                for source in predecessors[merger]:
                    ends = ([("new", (source, j)) for j in range(len(split[source].new_labels))]
                            if source in split else [("old", source)])
                    for end in ends:
                        successors[end][new] = None
            del successors[("old", merger)]
            for adjacency in successors.values():
                adjacency.pop(("old", merger), None)
        self.nodes = list(successors)
        self.position = {node: i for i, node in enumerate(self.nodes)}
        self.edges = [(a, b) for a, adjacency in successors.items() for b in adjacency]
        # ilastik appends the split objects to its graph in the order the mergers entered hytra's
        # unresolved graph (`_updateHypothesesGraph`)
        self.new_nodes = [("new", (n, k)) for n in nodes if n in split for k in range(len(split[n].new_labels))]
        self.unresolved_out = np.bincount([s_ for s_, _ in edges], minlength=len(graph))

    def center(self, node) -> np.ndarray:
        kind, i = node
        return self.split[i[0]].means[i[1]] if kind == "new" else self.graph.center[i]

    def frame(self, node) -> int:
        kind, i = node
        return int(self.graph.frame[i[0] if kind == "new" else i])

    def max_flow(self) -> np.ndarray:
        """Flow per edge of dpct's trackMaxFlow (see the module docstring)."""
        has_in = {b for _, b in self.edges}
        has_out = {a for a, _ in self.edges}
        tail, head, cost = [], [], []
        for node, i in self.position.items():
            u, v = 2 + 2 * i, 3 + 2 * i
            kind, index = node
            two = (kind == "old" and node not in has_in and self.divides[index] and self.unresolved_out[index] == 2)
            # dpct's maxFlow prices every unit of an arc at its first cost difference
            for _ in range(2 if two else 1):
                tail.append(u), head.append(v), cost.append(1.0)
                if node not in has_in:
                    tail.append(SOURCE), head.append(u), cost.append(BORDER_COST)
                if node not in has_out:
                    tail.append(v), head.append(SINK), cost.append(BORDER_COST)
        for a, b in self.edges:
            p = np.exp(-np.linalg.norm(self.center(b) - self.center(a)) / TRANSITION_PARAMETER)
            costs = -np.log(np.maximum([1.0 - p, p], LOWEST_NEGLOG_ARGUMENT))
            tail.append(3 + 2 * self.position[a]), head.append(2 + 2 * self.position[b]), cost.append(costs[1] - costs[0])
        frames = np.array([self.frame(node) for node in self.nodes])
        by_time = np.argsort(frames, kind="stable")
        order = np.concatenate([[SOURCE], np.stack([2 + 2 * by_time, 3 + 2 * by_time], axis=1).ravel(), [SINK]])
        flow = min_cost_max_flow(np.asarray(tail), np.asarray(head), np.asarray(cost), order, 2 + 2 * len(self.nodes))
        return flow[len(flow) - len(self.edges):]


def _updated(graph: SolvedGraph, resolved: _Resolved, flow: np.ndarray) -> SolvedGraph:
    """The solved graph with the mergers replaced (hytra `_updateHypothesesGraph`)."""
    keep = np.ones(len(graph), dtype=bool)
    keep[list(resolved.split)] = False
    old_position = np.cumsum(keep) - 1
    new_nodes = resolved.new_nodes
    n_old = int(keep.sum())
    position = {("old", int(i)): int(old_position[i]) for i in np.flatnonzero(keep)}
    position.update({node: n_old + k for k, node in enumerate(new_nodes)})
    frame = np.concatenate([graph.frame[keep], [resolved.frame(node) for node in new_nodes]]).astype(np.int64)
    label = np.concatenate([graph.label[keep], [resolved.split[m].new_labels[k] for _, (m, k) in new_nodes]])
    center = np.concatenate([graph.center[keep], np.reshape([resolved.center(node) for node in new_nodes], (-1, 3))])
    uuid = np.concatenate([graph.uuid[keep], int(graph.uuid.max()) + 1 + np.arange(len(new_nodes))])
    # hytra's split objects carry only a centre: no probabilities (the JSON export writes zeros)
    detection = np.concatenate([graph.detection[keep], np.zeros((len(new_nodes), graph.detection.shape[1]))])
    division_probability = np.concatenate([graph.division_probability[keep], np.full(len(new_nodes), np.nan)])
    value = np.concatenate([graph.value[keep], np.ones(len(new_nodes), dtype=np.int64)])
    division = np.concatenate([graph.division[keep], np.zeros(len(new_nodes), dtype=bool)])
    merger_label = np.concatenate([graph.merger_label[keep], [graph.label[m] for _, (m, _k) in new_nodes]])
    kept = keep[graph.source] & keep[graph.target]
    sources = old_position[graph.source[kept]].tolist()
    targets = old_position[graph.target[kept]].tolist()
    values = graph.link_value[kept].tolist()
    where = {(s, t): i for i, (s, t) in enumerate(zip(sources, targets))}
    for (a, b), units in zip(resolved.edges, flow.tolist()):
        if a[0] != "new" and b[0] != "new":
            continue
        s, t = position[a], position[b]
        dividing = a[0] == "old" and bool(resolved.divides[a[1]])
        if units > 0 and not dividing:
            for i, (source, target) in enumerate(zip(sources, targets)):
                if source == s or target == t:
                    values[i] = 0
        if (s, t) in where:
            values[where[(s, t)]] = units
        else:
            where[(s, t)] = len(sources)
            sources.append(s), targets.append(t), values.append(units)
    return SolvedGraph(frame, label.astype(np.int64), uuid.astype(np.int64), center, detection, division_probability,
                       value.astype(np.int64), division,
                       merger_label.astype(np.int64), np.asarray(sources, dtype=np.int64),
                       np.asarray(targets, dtype=np.int64), np.asarray(values, dtype=np.int64))
