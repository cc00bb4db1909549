"""Runs one HiGHS solve in its own process, so that the tracking solver can stop it.

HiGHS cannot be interrupted from Python; `solvers.py` writes the program to a file, starts
`python -m pixelserve.tracking.highs_worker PROGRAM RESULT` and terminates it on cancel. A
plain subprocess (not multiprocessing) never re-imports the caller's main module, so it works
from any script, the CLI, the server and Fiji's Python alike.
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

GAP = 1e-9


def run_highs(cost, matrix, lower, upper, integral: bool, bounds, time_limit: float | None):
    """(x or None, status, message, bound): the LP optimum, or the MIP's dual bound."""
    options = {"mip_rel_gap": GAP}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    result = milp(cost, constraints=LinearConstraint(matrix, lower, upper),
                  integrality=np.full(cost.size, int(integral)), bounds=Bounds(*bounds), options=options)
    bound = result.get("mip_dual_bound") if integral else result.fun
    return result.x, int(result.status), str(result.message), bound


def save_program(path, cost, matrix, lower, upper, integral, bounds, time_limit) -> None:
    matrix = sp.csr_matrix(matrix)
    np.savez(path, cost=cost, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr,
             shape=np.asarray(matrix.shape), lower=lower, upper=upper, integral=integral,
             bounds_low=np.broadcast_to(bounds[0], cost.shape), bounds_high=np.broadcast_to(bounds[1], cost.shape),
             time_limit=np.nan if time_limit is None else time_limit)


def load_result(path):
    with np.load(path) as stored:
        x = stored["x"] if stored["x"].size else None
        bound = float(stored["bound"])
        return x, int(stored["status"]), str(stored["message"]), None if np.isnan(bound) else bound


def main(program_path: str, result_path: str) -> None:
    with np.load(program_path) as program:
        matrix = sp.csr_matrix((program["data"], program["indices"], program["indptr"]), shape=tuple(program["shape"]))
        limit = float(program["time_limit"])
        x, status, message, bound = run_highs(program["cost"], matrix, program["lower"], program["upper"],
                                              bool(program["integral"]),
                                              (program["bounds_low"], program["bounds_high"]),
                                              None if np.isnan(limit) else limit)
    np.savez(result_path, x=np.zeros(0) if x is None else x, status=status, message=message,
             bound=np.nan if bound is None else bound)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
