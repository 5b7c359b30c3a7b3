"""HiGHS through highspy: one Highs instance per model, passed once as a column-wise matrix; before each solve
only the bounds, costs and coefficients that changed since the last one are pushed (the methods re-solve one
model hundreds of times with a moved threshold)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import highspy
import numpy as np

from solver.domain.errors import UserError
from solver.milp import stop
from solver.milp.linear import LinearModel
from solver.milp.result import BackendResult, SolveStatus

# The methods solve hundreds of small MILPs (a few hundred columns). HiGHS's feasibility-jump heuristic costs more
# than it finds on them (16-24 ms per solve with it, 8 ms without, on the old medium preset); its presolve pays off
# on the larger ones (53 -> 38 ms per solve on the 12-type x 80-layer scenario; scripts/bench_solve.py). Optima are
# unchanged; the oracle tests run with these options.
SMALL_MILP_OPTIONS: dict[str, bool | str] = {"mip_heuristic_run_feasibility_jump": False}


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS prints its banner from C++ on construction; keep stdout clean for --json."""
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _finite(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -highspy.kHighsInf, highspy.kHighsInf)


def _interrupt_on_stop(event: Any) -> None:  # highspy.highs.HighsCallbackEvent
    if stop.STOP.is_set():
        event.interrupt()


class HighsSession:
    """A Highs instance holding `model`; `solve` syncs what changed in the model, then runs."""

    def __init__(self, model: LinearModel, threads: int | None = None):
        self.model = model
        with _quiet_stdout():
            self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        if threads:  # HiGHS keeps one thread pool per process: rebuild it at this size
            highspy.Highs.resetGlobalScheduler(True)
            self.h.setOptionValue("threads", int(threads))
        for name, value in SMALL_MILP_OPTIONS.items():
            self.h.setOptionValue(name, value)
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
        self.h.passModel(lp)
        self.data_rows = np.repeat(np.arange(model.A.shape[0]), np.diff(model.A.indptr))
        self.sent = {"lb": model.lb.copy(), "ub": model.ub.copy(), "c": model.c.copy(), "data": model.A.data.copy()}
        self.first: list[float] = []
        self.h.cbMipImprovingSolution.subscribe(lambda _event: self.first.append(time.perf_counter()))
        self.h.cbMipInterrupt.subscribe(_interrupt_on_stop)

    def _sync(self) -> None:
        m, sent = self.model, self.sent
        cols = np.flatnonzero((m.lb != sent["lb"]) | (m.ub != sent["ub"])).astype(np.int32)
        if len(cols):
            self.h.changeColsBounds(len(cols), cols, _finite(m.lb[cols]), _finite(m.ub[cols]))
        costs = np.flatnonzero(m.c != sent["c"]).astype(np.int32)
        if len(costs):
            self.h.changeColsCost(len(costs), costs, m.c[costs])
        for k in np.flatnonzero(m.A.data != sent["data"]):
            self.h.changeCoeff(int(self.data_rows[k]), int(m.A.indices[k]), float(m.A.data[k]))
        sent.update(lb=m.lb.copy(), ub=m.ub.copy(), c=m.c.copy(), data=m.A.data.copy())

    def solve(self, time_limit: float, mip_gap: float, verbose: bool = False) -> BackendResult:
        self._sync()
        h = self.h
        h.setOptionValue("output_flag", verbose)
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        self.first.clear()
        h.clearSolver()  # without it, presolve reuses what it derived from the bounds of the last solve (wrong optima)
        start = time.perf_counter()
        if h.run() == highspy.HighsStatus.kError and h.getModelStatus() == highspy.HighsModelStatus.kNotset:
            raise UserError("HiGHS refused to solve (its log says why when run with -v). Fix: rerun with -v, or "
                            "with --backend ortools.")
        seconds = time.perf_counter() - start
        stop.check()  # Ctrl-C interrupted HiGHS: stop here, from plain Python
        status = h.getModelStatus()
        info = h.getInfo()
        if status == highspy.HighsModelStatus.kInfeasible:
            return BackendResult.without_solution(SolveStatus.INFEASIBLE, seconds)
        if info.primal_solution_status != 2:  # kSolutionStatusFeasible
            return BackendResult.without_solution(SolveStatus.NO_SOLUTION, seconds)
        x = np.array(h.getSolution().col_value)
        optimal = status == highspy.HighsModelStatus.kOptimal
        bound = info.mip_dual_bound if self.model.integer.any() else info.objective_function_value
        return BackendResult(SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE, x,
                             info.objective_function_value, bound, seconds,
                             self.first[0] - start if self.first else seconds)
