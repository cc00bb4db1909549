"""A tracking solution of the solver model, its energy and its feasibility.

A solution gives every tracklet its number of objects (0 = false detection), every link its
number of objects, and every tracklet whether it divides. Appearances and disappearances follow
from flow conservation, as in multiHypothesesTracking (segmentationhypothesis.cpp:57-138):

    appearance    = value - sum(incoming links)
    disappearance = value + division - sum(outgoing links)

Constraints (same file, 140-352, with ilastik's settings allowPartialMergerAppearance False,
requireSeparateChildrenOfDivision True, allowLengthOneTracks True): appearance and
disappearance lie in 0..S-1; a division needs value 1, a division variable, and two outgoing
links of value 1; an appearing tracklet has no incoming link in use, a disappearing one no
outgoing link in use and no division.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .energies import TrackingModel


@dataclass
class Solution:
    node: np.ndarray        # int64 (k,): objects per tracklet
    link: np.ndarray        # int64 (l,): objects per link
    division: np.ndarray    # bool (k,)
    energy: float
    solver: str             # which solver produced it
    optimal: bool           # proven optimal (within the ILP's 1e-9 relative gap)
    lower_bound: float | None = None   # the solver's bound on the optimum, when it has one


def flows(model: TrackingModel, node: np.ndarray, link: np.ndarray,
          division: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(appearance, disappearance) per tracklet implied by a solution."""
    incoming = np.bincount(model.target, weights=link, minlength=model.n_nodes)
    outgoing = np.bincount(model.source, weights=link, minlength=model.n_nodes)
    appearance = np.rint(node - incoming).astype(np.int64)
    disappearance = np.rint(node + division - outgoing).astype(np.int64)
    return appearance, disappearance


def energy(model: TrackingModel, node: np.ndarray, link: np.ndarray, division: np.ndarray) -> float:
    """The solution's energy: the sum of every variable's cost of its state."""
    appearance, disappearance = flows(model, node, link, division)
    rows = np.arange(model.n_nodes)
    total = (model.detection[rows, node].sum() + model.appearance[rows, appearance].sum()
             + model.disappearance[rows, disappearance].sum()
             + model.transition[np.arange(model.n_links), link].sum())
    divides = model.can_divide
    total += model.division[divides, division[divides].astype(np.int64)].sum()
    return float(total)


def violations(model: TrackingModel, node: np.ndarray, link: np.ndarray, division: np.ndarray) -> list[str]:
    """What makes a solution infeasible (an empty list when it is feasible)."""
    problems = []
    top = model.states - 1
    appearance, disappearance = flows(model, node, link, division)
    for name, values in (("value", node), ("link", link), ("appearance", appearance),
                         ("disappearance", disappearance)):
        bad = np.flatnonzero((values < 0) | (values > top))
        if bad.size:
            problems.append(f"{name} outside 0..{top} at {bad[:5].tolist()}")
    divides = np.asarray(division, dtype=bool)
    if np.any(divides & ~model.can_divide):
        problems.append("division without a division variable")
    if np.any(divides & (node != 1)):
        problems.append("division of a tracklet whose value is not 1")
    single_out = np.bincount(model.source, weights=(link == 1), minlength=model.n_nodes)
    if np.any(divides & (single_out < 2)):
        problems.append("division without two outgoing links of value 1")
    used_in = np.bincount(model.target, weights=(link > 0), minlength=model.n_nodes)
    used_out = np.bincount(model.source, weights=(link > 0), minlength=model.n_nodes)
    if np.any((appearance > 0) & (used_in > 0)):
        problems.append("appearance with an incoming link in use")
    if np.any((disappearance > 0) & ((used_out > 0) | divides)):
        problems.append("disappearance with an outgoing link or division in use")
    return problems
