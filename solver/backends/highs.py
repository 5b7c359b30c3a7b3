"""HiGHS through highspy: the model is passed as one column-wise matrix (no per-row Python loop)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import highspy
import numpy as np

from solver.backends.base import BackendResult
from solver.formulation import LinearModel


@contextmanager
def _quiet_stdout():
    """HiGHS prints its banner from C++ on construction; keep stdout clean for --json."""
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


# The methods solve many small MILPs (a few hundred columns); measured on `medium`, HiGHS spends most of each
# solve in its feasibility-jump heuristic and presolve rather than in branching: 16-24 ms per solve by default,
# 8 ms without them (scripts/bench_solve.py). Optima are unchanged; the oracle tests run with these options.
SMALL_MILP_OPTIONS = {"mip_heuristic_run_feasibility_jump": False, "presolve": "off"}


def _finite(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -highspy.kHighsInf, highspy.kHighsInf)


def solve(model: LinearModel, time_limit: float = 60.0, mip_gap: float = 1e-4, verbose: bool = False,
          threads: int | None = None) -> BackendResult:
    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", verbose)
    h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    for name, value in SMALL_MILP_OPTIONS.items():
        h.setOptionValue(name, value)
    if threads:
        h.setOptionValue("threads", int(threads))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = model.A.shape[1], model.A.shape[0]
    lp.col_cost_ = model.c
    lp.col_lower_, lp.col_upper_ = _finite(model.lb), _finite(model.ub)
    lp.row_lower_, lp.row_upper_ = _finite(model.row_lo), _finite(model.row_hi)
    csc = model.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in model.integer]
    h.passModel(lp)
    start = time.perf_counter()
    first: list[float] = []
    h.cbMipImprovingSolution.subscribe(lambda _event: first.append(time.perf_counter() - start))
    h.run()
    seconds = time.perf_counter() - start
    status = h.getModelStatus()
    info = h.getInfo()
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if status == highspy.HighsModelStatus.kInfeasible:
        return BackendResult("infeasible", None, np.inf, np.inf, seconds, None)
    if not has_x:
        return BackendResult("no_solution", None, np.inf, -np.inf, seconds, None)
    x = np.array(h.getSolution().col_value)
    optimal = status == highspy.HighsModelStatus.kOptimal
    bound = info.mip_dual_bound if model.integer.any() else info.objective_function_value
    return BackendResult("optimal" if optimal else "feasible", x, info.objective_function_value, bound, seconds,
                         first[0] if first else seconds)
