"""The solved detection graph and its track and lineage numbering.

`solved_graph` puts a solution of the (tracklet) solver model back onto the detections, as
hytra's `insertSolution` does (hypothesesgraph.py:560-610): every detection of a tracklet gets
its value, the links inside a tracklet carry that value too, and a division belongs to the
tracklet's last detection.

`compute_lineage` is hytra's `computeLineage(firstTrackId=2, firstLineageId=2)`
(hypothesesgraph.py:652-750; 0 means background and 1 false detection in ilastik's images):
- in node order, every detection with a value > 0 and no incoming objects starts a track; it
  gets the next lineage id and the next track id, and is queued;
- the queue is processed last-in first-out; a detection reached again keeps the ids it got
  first (merging tracks, when mergers were not resolved);
- a dividing detection's children (its outgoing links in use, in link order) are queued with
  the parent's lineage and a new track id each, numbered when the parent is processed; other
  detections pass their ids to every child (a merger splitting up keeps one track id).
With one frame of look-ahead (ilastik never uses more) there are no gap links, so hytra's
`gap_parent` never occurs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import CandidateGraph, Tracklets
from .solution import Solution

NO_ID = -1   # hytra's None: no track (false detection or filtered object)


@dataclass
class SolvedGraph:
    """ilastik's hypotheses graph after solving (and after merger resolution): detections in
    node order, links in insertion order (the order of each detection's outgoing links matters)."""

    frame: np.ndarray          # int64 (n,)
    label: np.ndarray          # int64 (n,): object id in the frame's label image
    uuid: np.ndarray           # int64 (n,): hytra's node id (creation order; JSON ids)
    center: np.ndarray         # float64 (n, 3): x, y, z
    detection: np.ndarray      # float64 (n, S): P(0 .. maxObj objects); 0 for split mergers' objects
    division_probability: np.ndarray   # float64 (n,): P(dividing), NaN where unknown
    value: np.ndarray          # int64 (n,): number of objects
    division: np.ndarray       # bool (n,)
    merger_label: np.ndarray   # int64 (n,): the merger's label this object was split from, else 0
    source: np.ndarray         # int64 (m,)
    target: np.ndarray         # int64 (m,)
    link_value: np.ndarray     # int64 (m,)

    def __len__(self) -> int:
        return int(self.frame.size)

    def node_index(self) -> dict[tuple[int, int], int]:
        return {(int(t), int(label)): i for i, (t, label) in enumerate(zip(self.frame, self.label))}


@dataclass
class Lineage:
    """Track and lineage ids per detection (NO_ID where hytra has None) and division parents."""

    track: np.ndarray          # int64 (n,)
    lineage: np.ndarray        # int64 (n,)
    parent: np.ndarray         # int64 (n,): index of the dividing parent, -1 if none


def solved_graph(graph: CandidateGraph, tracklets: Tracklets, solution: Solution) -> SolvedGraph:
    """The solution on the detections (hytra's insertSolution)."""
    detections = graph.detections
    value = solution.node[tracklets.of_detection]
    link_value = np.zeros(graph.n_links, dtype=np.int64)
    link_value[tracklets.links] = solution.link
    link_value[tracklets.internal] = value[graph.target[tracklets.internal]]
    division = np.zeros(len(detections), dtype=bool)
    division[tracklets.last] = solution.division
    return SolvedGraph(detections.frame.copy(), detections.label.copy(), np.arange(len(detections)),
                       detections.center.copy(), detections.detection.copy(), detections.division.copy(),
                       value.astype(np.int64), division, np.zeros(len(detections), dtype=np.int64),
                       graph.source.copy(), graph.target.copy(), link_value)


def compute_lineage(graph: SolvedGraph, first_track_id: int = 2, first_lineage_id: int = 2) -> Lineage:
    """hytra's computeLineage (see the module docstring)."""
    n = len(graph)
    incoming = np.bincount(graph.target, weights=graph.link_value, minlength=n)
    order = np.argsort(graph.source, kind="stable")
    active = order[graph.link_value[order] > 0]
    out_start = np.concatenate([[0], np.cumsum(np.bincount(graph.source[active], minlength=n))])
    children = graph.target[active]
    track = np.full(n, NO_ID, dtype=np.int64)
    lineage = np.full(n, NO_ID, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    starts = np.flatnonzero((incoming == 0) & (graph.value > 0))
    queue = [(int(node), first_lineage_id + i, first_track_id + i) for i, node in enumerate(starts.tolist())]
    next_track = first_track_id + starts.size
    while queue:
        node, lineage_id, track_id = queue.pop()
        if track[node] != NO_ID:
            continue
        lineage[node] = lineage_id
        track[node] = track_id
        following = children[out_start[node]:out_start[node + 1]].tolist()
        if graph.division[node]:
            for child in following:
                parent[child] = node
                queue.append((child, lineage_id, next_track))
                next_track += 1
        else:
            queue.extend((child, lineage_id, track_id) for child in following)
    return Lineage(track, lineage, parent)
