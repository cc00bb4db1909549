"""The candidate graph of a movie: which detections may be the same object in the next frame.

hytra's `HypothesesGraph.buildFromProbabilityGenerator` (hypothesesgraph.py:175-290), which
ilastik uses with one frame of look-ahead (skipLinks 1):

- forward: each detection of frame t is linked to its k nearest detections of frame t+1
  (a scikit-learn KDTree on the centres, Euclidean), keeping those closer than maxDist;
  k = max_nearest_neighbors, raised to 2 with divisions on when `divProb[0] > divThreshold`.
  ilastik stores divProb = [1 - P(div), P(div)] (opConservationTracking.py:900-909), so the test
  is on 1 - P(div): nearly every detection gets two candidates. Copied as is.
- backward: each detection of frame t+1 is linked to its k nearest detections of frame t.
- PITFALL copied: when the other frame has <= k detections, all of them are linked, with no
  distance test (`_findNearestNeighbors`).
- frames without detections get no links across them (ilastik crashes on two empty frames in
  a row; here the gap simply stays unlinked).

The order of nodes and links is networkx's insertion order in hytra (frames ascending, labels
ascending; per source: forward candidates nearest first, then the backward ones), because
tracklet contraction and lineage numbering depend on it.

`contract_tracklets` is hytra's `generateTrackletGraph` (hypothesesgraph.py:292-352), which
ilastik's tracking uses when withTracklets is set (every Tracking with Learning project).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import KDTree

from .detections import Detections


@dataclass
class CandidateGraph:
    """Detections and candidate links (index pairs into the detections), in hytra's order."""

    detections: Detections
    source: np.ndarray    # int64 (m,)
    target: np.ndarray    # int64 (m,)

    @property
    def n_links(self) -> int:
        return int(self.source.size)


@dataclass
class Tracklets:
    """Chains of detections that hytra merges into one solver node.

    members[start[i]:start[i + 1]] are the detections of tracklet i in time order; `links` are the
    candidate links between tracklets (indices into the candidate graph's links), `internal` the
    contracted ones (each inside one tracklet)."""

    start: np.ndarray     # int64 (k + 1,)
    members: np.ndarray   # int64 (n,)
    of_detection: np.ndarray   # int64 (n,): the tracklet of each detection
    links: np.ndarray     # int64: candidate-graph link indices that stay links
    internal: np.ndarray  # int64: contracted candidate-graph link indices

    def __len__(self) -> int:
        return int(self.start.size - 1)

    @property
    def first(self) -> np.ndarray:
        return self.members[self.start[:-1]]

    @property
    def last(self) -> np.ndarray:
        return self.members[self.start[1:] - 1]


def build_candidate_graph(detections: Detections, max_nearest_neighbors: int, max_distance: float,
                          with_divisions: bool, division_threshold: float) -> CandidateGraph:
    """hytra's candidate links between consecutive frames (see the module docstring)."""
    frames = detections.frame
    frame_values, frame_starts = np.unique(frames, return_index=True)
    if len(frames) and np.any(np.diff(frames) < 0):
        raise ValueError("detections must be sorted by frame")
    bounds = dict(zip(frame_values.tolist(), zip(frame_starts.tolist(),
                                                 np.append(frame_starts[1:], len(frames)).tolist())))
    sources, targets = [], []
    trees: dict[int, KDTree] = {}

    def tree_of(frame: int) -> KDTree:
        if frame not in trees:
            first, stop = bounds[frame]
            trees[frame] = KDTree(detections.center[first:stop], metric="euclidean")
        trees.pop(frame - 2, None)
        return trees[frame]

    for frame in frame_values.tolist():
        if frame + 1 not in bounds:
            continue
        here = np.arange(*bounds[frame])
        there = np.arange(*bounds[frame + 1])
        # 1 - P(div) > threshold, as ilastik stores and hytra reads divProb (see the docstring)
        wants_two = (np.full(here.size, False) if not with_divisions
                     else (1.0 - detections.division[here]) > division_threshold)
        k_here = np.where(wants_two & (max_nearest_neighbors < 2), 2, max_nearest_neighbors)
        for k in np.unique(k_here).tolist():
            rows = here[k_here == k]
            _link(rows, there, tree_of(frame + 1), detections.center, k, max_distance, sources, targets,
                  forward=True)
        backward_s, backward_t = [], []
        _link(there, here, tree_of(frame), detections.center, max_nearest_neighbors, max_distance,
              backward_s, backward_t, forward=False)
        sources += backward_s
        targets += backward_t
    if not sources:
        empty = np.zeros(0, dtype=np.int64)
        return CandidateGraph(detections, empty, empty)
    source = np.concatenate(sources)
    target = np.concatenate(targets)
    # networkx keeps the first insertion of an edge; per source, edges stay in insertion order.
    pair = source * (len(frames) + 1) + target
    _, first = np.unique(pair, return_index=True)
    first.sort()
    source, target = source[first], target[first]
    order = np.argsort(source, kind="stable")
    return CandidateGraph(detections, source[order], target[order])


def _link(queries: np.ndarray, candidates: np.ndarray, tree: KDTree, centers: np.ndarray, k: int,
          max_distance: float, sources: list, targets: list, forward: bool) -> None:
    """Append the links from each query detection to its k nearest candidates (in query order,
    nearest first); reversed (candidate -> query) for backward links."""
    if len(candidates) <= k:
        # all of them, in frame order, with no distance test (hytra's _findNearestNeighbors)
        found = np.broadcast_to(candidates, (queries.size, candidates.size))
        keep = np.ones(found.shape, dtype=bool)
    else:
        distances, indices = tree.query(centers[queries], k=k, return_distance=True)
        found = candidates[indices]
        keep = distances < max_distance
    query_of = np.broadcast_to(queries[:, None], found.shape)
    if forward:
        sources.append(query_of[keep])
        targets.append(found[keep])
    else:
        # backward links are added grouped by the later frame's detection, nearest first
        sources.append(found[keep])
        targets.append(query_of[keep])


def contract_tracklets(graph: CandidateGraph) -> Tracklets:
    """hytra's tracklet contraction: every link whose source has one outgoing and whose target
    has one incoming candidate link is contracted, in link order, except where that would leave
    a tracklet with no links at all (`generateTrackletGraph`)."""
    n = len(graph.detections)
    source, target = graph.source, graph.target
    out_degree = np.bincount(source, minlength=n)
    in_degree = np.bincount(target, minlength=n)
    contractible = np.flatnonzero((out_degree[source] == 1) & (in_degree[target] == 1))
    representative = np.arange(n)
    tail = np.arange(n)                 # last detection of the tracklet a representative heads
    following = np.full(n, -1)          # next detection inside a tracklet
    rep_in = in_degree.copy()
    rep_out = out_degree.copy()
    contracted = np.zeros(source.size, dtype=bool)
    for link in contractible.tolist():
        head = representative[source[link]]
        nxt = target[link]              # always its own representative: its only in-link is this one
        if rep_in[head] == 0 and rep_out[nxt] == 0:
            continue
        following[tail[head]] = nxt
        rep_out[head] = rep_out[nxt]
        node = nxt
        while node >= 0:
            representative[node] = head
            node = following[node]
        tail[head] = tail[nxt]
        contracted[link] = True
    heads = np.flatnonzero(representative == np.arange(n))
    members, start = [], [0]
    for head in heads.tolist():
        node = head
        while node >= 0:
            members.append(node)
            node = following[node]
        start.append(len(members))
    members = np.asarray(members, dtype=np.int64)
    of_detection = np.empty(n, dtype=np.int64)
    of_detection[members] = np.repeat(np.arange(heads.size), np.diff(start))
    return Tracklets(np.asarray(start, dtype=np.int64), members, of_detection,
                     np.flatnonzero(~contracted), np.flatnonzero(contracted))


def single_tracklets(graph: CandidateGraph) -> Tracklets:
    """One tracklet per detection: the model ilastik solves when withTracklets is off."""
    n = len(graph.detections)
    every = np.arange(n, dtype=np.int64)
    return Tracklets(np.arange(n + 1, dtype=np.int64), every, every.copy(),
                     np.arange(graph.n_links, dtype=np.int64), np.zeros(0, dtype=np.int64))
