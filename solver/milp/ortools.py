"""OR-Tools linear solver wrapper with SCIP (bundled with ortools, open source)."""

from __future__ import annotations

import math
import time

import numpy as np
from ortools.linear_solver import pywraplp

from solver.milp.linear import LinearModel
from solver.milp.result import BackendResult, SolveStatus


def solve(model: LinearModel, time_limit: float, mip_gap: float, verbose: bool, threads: int | None
           ) -> BackendResult:
    solver = pywraplp.Solver.CreateSolver("SCIP")
    inf = solver.infinity()
    clip = (lambda v: max(min(v, inf), -inf) if math.isfinite(v) else (inf if v > 0 else -inf))
    xs = [solver.IntVar(clip(lo), clip(hi), name) if integer else solver.NumVar(clip(lo), clip(hi), name)
          for lo, hi, integer, name in zip(model.lb, model.ub, model.integer, model.names)]
    A = model.A
    for r in range(A.shape[0]):
        row = solver.Constraint(clip(model.row_lo[r]), clip(model.row_hi[r]))
        for j, v in zip(A.indices[A.indptr[r]:A.indptr[r + 1]], A.data[A.indptr[r]:A.indptr[r + 1]]):
            row.SetCoefficient(xs[j], float(v))
    objective = solver.Objective()
    for j in np.flatnonzero(model.c):
        objective.SetCoefficient(xs[j], float(model.c[j]))
    objective.SetMinimization()
    if verbose:
        solver.EnableOutput()
    solver.SetTimeLimit(int(max(time_limit, 0.01) * 1000))
    if threads:
        solver.SetNumThreads(int(threads))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, float(mip_gap))
    start = time.perf_counter()
    status = solver.Solve(params)
    seconds = time.perf_counter() - start
    if status == pywraplp.Solver.INFEASIBLE:
        return BackendResult.without_solution(SolveStatus.INFEASIBLE, seconds)
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return BackendResult.without_solution(SolveStatus.NO_SOLUTION, seconds)
    x = np.array([v.solution_value() for v in xs])
    value = objective.Value()
    bound = objective.BestBound() if status == pywraplp.Solver.FEASIBLE else value
    optimal = status == pywraplp.Solver.OPTIMAL
    return BackendResult(SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE, x, value, bound, seconds, None)
