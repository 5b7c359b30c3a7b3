"""PuLP with its bundled CBC."""

from __future__ import annotations

import math
import time

import numpy as np
import pulp

from solver.milp.linear import LinearModel
from solver.milp.result import BackendResult, SolveStatus


def solve(model: LinearModel, time_limit: float, mip_gap: float, verbose: bool, threads: int | None
           ) -> BackendResult:
    problem = pulp.LpProblem("placement", pulp.LpMinimize)
    finite = (lambda v: v if math.isfinite(v) else None)
    xs = [pulp.LpVariable(f"x{j}", finite(lo), finite(hi), pulp.LpInteger if integer else pulp.LpContinuous)
          for j, (lo, hi, integer) in enumerate(zip(model.lb, model.ub, model.integer))]
    problem += pulp.LpAffineExpression([(xs[j], float(model.c[j])) for j in np.flatnonzero(model.c)])
    A = model.A
    for r in range(A.shape[0]):
        row = slice(A.indptr[r], A.indptr[r + 1])
        expr = pulp.LpAffineExpression([(xs[j], float(v)) for j, v in zip(A.indices[row], A.data[row])])
        lo, hi = model.row_lo[r], model.row_hi[r]
        if lo == hi:
            problem += expr == float(lo), f"r{r}"
        else:
            if math.isfinite(hi):
                problem += expr <= float(hi), f"r{r}u"
            if math.isfinite(lo):
                problem += expr >= float(lo), f"r{r}l"
    cbc = pulp.PULP_CBC_CMD(msg=verbose, timeLimit=max(time_limit, 1), gapRel=mip_gap, threads=threads)
    start = time.perf_counter()
    problem.solve(cbc)
    seconds = time.perf_counter() - start
    status = pulp.LpStatus[problem.status]
    if status == "Infeasible":
        return BackendResult.without_solution(SolveStatus.INFEASIBLE, seconds)
    if problem.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return BackendResult.without_solution(SolveStatus.NO_SOLUTION, seconds)
    x = np.array([v.value() or 0.0 for v in xs])
    value = float(pulp.value(problem.objective) or 0.0)
    optimal = problem.sol_status == pulp.LpSolutionOptimal
    bound = value if optimal else -np.inf  # CBC through PuLP reports no dual bound on a time limit
    return BackendResult(SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE, x, value, bound, seconds, None)
