"""Runs MILP solves under one overall deadline, with one solver session per model, and keeps the statistics."""

from __future__ import annotations

import time
import weakref

from solver.milp import open_session, stop
from solver.milp.linear import LinearModel
from solver.milp.result import BackendResult, Session, SolveStatus
from solver.placement.model import PlacementModel


class TimeUp(Exception):
    """The overall deadline passed: searches stop where they are and keep what they found."""


class Runner:
    """Calls the backend under one overall deadline and keeps the solve statistics. Each model keeps its own
    session, so HiGHS receives only the bounds and coefficients that changed since its last solve."""

    def __init__(self, backend: str, time_limit: float, mip_gap: float, verbose: bool = False,
                 threads: int | None = None):
        self.backend, self.threads = backend, threads
        self.started = time.perf_counter()
        self.deadline = self.started + time_limit
        self.mip_gap, self.verbose = mip_gap, verbose
        self.solves, self.first_incumbent_s, self.time_limited = 0, None, False
        self.sessions: weakref.WeakKeyDictionary[LinearModel, Session] = weakref.WeakKeyDictionary()

    def remaining(self) -> float:
        return max(self.deadline - time.perf_counter(), 0.0)

    def __call__(self, pm: PlacementModel) -> BackendResult:
        """Solve `pm` as configured; TimeUp when the deadline has passed or the solve ran out of time with no
        incumbent (its C(tau) is then unknown, not infeasible)."""
        stop.check()
        if self.remaining() <= 0:
            self.time_limited = True
            raise TimeUp
        before = time.perf_counter() - self.started
        session = self.sessions.get(pm.lp)
        if session is None:
            session = self.sessions[pm.lp] = open_session(self.backend, pm.lp, self.threads)
        result = session.solve(time_limit=max(self.remaining(), 0.05), mip_gap=self.mip_gap, verbose=self.verbose)
        self.solves += 1
        if result.has_solution and self.first_incumbent_s is None:
            self.first_incumbent_s = before + (result.first_incumbent_s or result.seconds)
        if result.status in (SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION):
            self.time_limited = True
        if result.status is SolveStatus.NO_SOLUTION:
            raise TimeUp
        return result
