"""Solving the tracking model: an exact ILP and a fast LP-based approximation, both HiGHS.

- `solve_ilp`: multiHypothesesTracking's integer program (see `solution.py` for the
  constraints) with one binary per non-zero state of every variable, solved by HiGHS through
  `scipy.optimize.milp` to a relative gap of 1e-9 (ilastik's CPLEX/Gurobi runs stop at 1 %).
- `solve_lp_rounding`: the same program's LP relaxation, which is integral almost everywhere
  (0.4 % fractional binaries on a 32,000-detection movie); the integral part is kept and the
  rest, widened by `RELEASED_RINGS` rings of constraint neighbours, solved exactly as a small
  MIP. The LP optimum is a lower bound, so the result comes with a certified gap.
- `solve`: the ILP up to `ILP_MAX_TRACKLETS` solver nodes, the LP-based solver above; the choice
  is logged.

Cancelling: HiGHS cannot be interrupted from Python, so programs above `IN_PROCESS_VARIABLES`
binaries are solved in a child process (`highs_worker.py`), which is killed when `cancel` is
set (checked every 0.1 s); smaller ones, which take well under a second, run in-process.

Measured alternatives (scripts/bench_tracking.py, 2 cores): highspy 1.16, whose interrupt
callbacks would allow cancelling in-process, took 328 s where scipy's HiGHS took 56 s on a
32,000-detection model; eliminating the appearance and disappearance variables made HiGHS 5x
slower (its root LP loses the network structure); a dpct-like successive-shortest-path flow
solver with a division search (`flow.py`) came within 0.04 % of the optimum but took 10-30 s
there, against 3-4 s for the LP-based solver at 0.01 %.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..blocks import Cancelled
from ..errors import UserError
from .energies import TrackingModel
from .highs_worker import load_result, run_highs, save_program
from .solution import Solution, energy

logger = logging.getLogger(__name__)

ILP_MAX_TRACKLETS = 5_000      # the exact ILP takes ~2 s there (2 cores), the LP-based solver ~0.3 s
IN_PROCESS_VARIABLES = 20_000     # <= ~1 s of HiGHS; larger programs run in a child process
RELEASED_RINGS = 6
_FRACTIONAL = 1e-6
_POLL = 0.1
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]

Progress = Callable[[int, int], None]


def solve(model: TrackingModel, method: str = "auto", *, progress: Progress | None = None,
          cancel: threading.Event | None = None, time_limit: float | None = None) -> Solution:
    """Minimise the model's energy with `method` "ilp", "lp" or "auto" (see the module docstring)."""
    if method == "auto":
        method = "ilp" if model.n_nodes <= ILP_MAX_TRACKLETS else "lp"
        logger.info("tracking: %d tracklets, %d links: %s chosen", model.n_nodes, model.n_links,
                    "the exact ILP" if method == "ilp" else "the LP-based approximate solver")
    if method == "ilp":
        return solve_ilp(model, progress=progress, cancel=cancel, time_limit=time_limit)
    if method == "lp":
        return solve_lp_rounding(model, progress=progress, cancel=cancel, time_limit=time_limit)
    raise UserError(f"Unknown tracking solver '{method}'. Fix: use 'auto', 'ilp' or 'lp'.")


# -- the exact ILP -------------------------------------------------------------------------------

class _Layout:
    """Where each variable's state binaries sit in the ILP's column vector."""

    def __init__(self, model: TrackingModel):
        self.m = model.states - 1
        k, links = model.n_nodes, model.n_links
        self.divisible = np.flatnonzero(model.can_divide)
        self.detection = 0
        self.appearance = k * self.m
        self.disappearance = 2 * k * self.m
        self.division = 3 * k * self.m
        self.link = self.division + self.divisible.size
        self.size = self.link + links * self.m

    def columns(self, block: int, index: np.ndarray) -> np.ndarray:
        return block + np.asarray(index)[:, None] * self.m + np.arange(self.m)[None, :]


def _ilp(model: TrackingModel):
    """(costs, constant, A, lower, upper, layout) of the integer program."""
    layout = _Layout(model)
    k, n_links, m = model.n_nodes, model.n_links, layout.m
    divisible = layout.divisible
    cost = np.zeros(layout.size)
    cost[layout.detection:layout.appearance] = (model.detection[:, 1:] - model.detection[:, :1]).ravel()
    cost[layout.appearance:layout.disappearance] = (model.appearance[:, 1:] - model.appearance[:, :1]).ravel()
    cost[layout.disappearance:layout.division] = (model.disappearance[:, 1:] - model.disappearance[:, :1]).ravel()
    cost[layout.division:layout.link] = model.division[divisible, 1] - model.division[divisible, 0]
    cost[layout.link:] = (model.transition[:, 1:] - model.transition[:, :1]).ravel()
    constant = (model.detection[:, 0].sum() + model.appearance[:, 0].sum() + model.disappearance[:, 0].sum()
                + model.division[divisible, 0].sum() + model.transition[:, 0].sum())
    states = np.arange(1, m + 1, dtype=np.float64)
    nodes, links, divisions = np.arange(k), np.arange(n_links), np.arange(divisible.size)
    rows, cols, vals, lower, upper = [], [], [], [], []

    def add(row, col, val):
        col = np.asarray(col).ravel()
        rows.append(np.asarray(row).ravel())
        cols.append(col)
        vals.append(np.broadcast_to(val, col.shape))

    def value_terms(row_of, block, index, sign):
        add(np.repeat(row_of, m), layout.columns(block, index), sign * np.tile(states, len(index)))

    # flow conservation: in + appearance = value; out + disappearance = value + division
    value_terms(nodes, layout.appearance, nodes, 1.0)
    value_terms(nodes, layout.detection, nodes, -1.0)
    value_terms(model.target, layout.link, links, 1.0)
    value_terms(k + nodes, layout.disappearance, nodes, 1.0)
    value_terms(k + nodes, layout.detection, nodes, -1.0)
    value_terms(k + model.source, layout.link, links, 1.0)
    add(k + divisible, layout.division + divisions, -1.0)
    lower += [0.0] * (2 * k)
    upper += [0.0] * (2 * k)
    row = 2 * k
    # a division needs value 1 and two outgoing links of value 1
    add(row + divisions, layout.division + divisions, 1.0)
    add(row + divisions, layout.detection + divisible * m, -1.0)
    row += divisible.size
    division_row = np.full(k, -1)
    division_row[divisible] = row + divisions
    add(row + divisions, layout.division + divisions, 2.0)
    outgoing = division_row[model.source] >= 0
    add(division_row[model.source[outgoing]], layout.link + links[outgoing] * m, -1.0)
    row += divisible.size
    lower += [-np.inf] * (2 * divisible.size)
    upper += [0.0] * (2 * divisible.size)
    if m > 1:
        # one state per variable; partial merger appearance/disappearance excluded
        # (with two states these follow from flow conservation)
        for block, count in ((layout.detection, k), (layout.appearance, k), (layout.disappearance, k),
                             (layout.link, n_links)):
            index = np.arange(count)
            add(np.repeat(row + index, m), layout.columns(block, index), 1.0)
            row += count
        for block, ends in ((layout.appearance, model.target), (layout.disappearance, model.source)):
            add(np.repeat(row + links, m), layout.columns(block, ends), 1.0)
            add(np.repeat(row + links, m), layout.columns(layout.link, links), 1.0)
            row += n_links
        add(np.repeat(row + divisions, m), layout.columns(layout.disappearance, divisible), 1.0)
        add(row + divisions, layout.division + divisions, 1.0)
        row += divisible.size
        count = 3 * k + 3 * n_links + divisible.size
        lower += [-np.inf] * count
        upper += [1.0] * count
    matrix = sp.csr_matrix((np.concatenate(vals).astype(np.float64), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(row, layout.size))
    return cost, float(constant), matrix, np.asarray(lower), np.asarray(upper), layout


def _run_highs(cost, matrix, lower, upper, integral, bounds, time_limit, cancel):
    """HiGHS in-process for small programs, else in a child process terminated on cancel."""
    if cost.size <= IN_PROCESS_VARIABLES:
        return run_highs(cost, matrix, lower, upper, integral, bounds, time_limit)
    with tempfile.TemporaryDirectory(prefix="pixelserve-tracking-") as folder:
        program, result = Path(folder) / "program.npz", Path(folder) / "result.npz"
        save_program(program, cost, matrix, lower, upper, integral, bounds, time_limit)
        # the child must import this very pixelserve, wherever the caller found it
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])))
        child = subprocess.Popen([sys.executable, "-m", "pixelserve.tracking.highs_worker", str(program), str(result)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
        try:
            while child.poll() is None:
                if cancel is not None and cancel.wait(_POLL):
                    raise Cancelled()
                if cancel is None:
                    time.sleep(_POLL)
        finally:
            if child.poll() is None:
                child.kill()
            _, errors = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"the HiGHS process failed (exit code {child.returncode}): "
                               f"{errors.decode(errors='replace')[-2000:]}")
        return load_result(result)


def _decode(x: np.ndarray, model: TrackingModel, layout: _Layout):
    z = np.rint(x).astype(np.int64)
    states = np.arange(1, layout.m + 1)
    node = (z[layout.detection:layout.appearance].reshape(model.n_nodes, layout.m) * states).sum(axis=1)
    link = (z[layout.link:].reshape(model.n_links, layout.m) * states).sum(axis=1)
    division = np.zeros(model.n_nodes, dtype=bool)
    division[layout.divisible] = z[layout.division:layout.link] > 0
    return node, link, division


def _solve_program(cost, matrix, lower, upper, integral, bounds, time_limit, cancel):
    x, status, message, bound = _run_highs(cost, matrix, lower, upper, integral, bounds, time_limit, cancel)
    if x is None:
        raise UserError(f"The tracking solver found no solution ({message}). Fix: raise the time limit, or "
                        "let pixelserve choose the solver.")
    return x, status, message, bound


def solve_ilp(model: TrackingModel, *, progress: Progress | None = None, cancel: threading.Event | None = None,
              time_limit: float | None = None) -> Solution:
    """The exact optimum (within a 1e-9 relative gap) by HiGHS."""
    if progress:
        progress(0, 1)
    started = time.perf_counter()
    cost, constant, matrix, lower, upper, layout = _ilp(model)
    x, status, message, bound = _solve_program(cost, matrix, lower, upper, True, (0, 1), time_limit, cancel)
    node, link, division = _decode(x, model, layout)
    logger.info("tracking ILP: %d binaries, %d constraints: %s in %.2f s", cost.size, matrix.shape[0],
                message, time.perf_counter() - started)
    if progress:
        progress(1, 1)
    lower_bound = constant + bound if bound is not None else None
    return Solution(node, link, division, energy(model, node, link, division), "ilp", status == 0, lower_bound)


def solve_lp_rounding(model: TrackingModel, *, progress: Progress | None = None,
                      cancel: threading.Event | None = None, time_limit: float | None = None) -> Solution:
    """The LP relaxation, then an exact MIP over its fractional part and that part's neighbours."""
    if progress:
        progress(0, 2)
    started = time.perf_counter()
    cost, constant, matrix, lower, upper, layout = _ilp(model)
    x, _, _, bound = _solve_program(cost, matrix, lower, upper, False, (0, 1), time_limit, cancel)
    if progress:
        progress(1, 2)
    free = np.abs(x - np.rint(x)) > _FRACTIONAL
    fractional = int(free.sum())
    columns = matrix.tocsc()
    for _ in range(RELEASED_RINGS):
        rows = np.unique(columns[:, np.flatnonzero(free)].indices)
        free[np.unique(matrix[rows].indices)] = True
    fixed = np.rint(x)
    integer_x, *_ = _solve_program(cost, matrix, lower, upper, True,
                                                   (np.where(free, 0.0, fixed), np.where(free, 1.0, fixed)),
                                                   time_limit, cancel)
    node, link, division = _decode(integer_x, model, layout)
    value = energy(model, node, link, division)
    lp_bound = constant + bound
    logger.info("tracking LP solver: %d of %d binaries fractional, %d re-solved; energy %.6g, LP bound %.6g "
                "(gap %.3g %%) in %.2f s", fractional, cost.size, int(free.sum()), value, lp_bound,
                100 * (value - lp_bound) / max(abs(lp_bound), 1e-12), time.perf_counter() - started)
    if progress:
        progress(2, 2)
    return Solution(node, link, division, value, "lp", fractional == 0, lp_bound)
