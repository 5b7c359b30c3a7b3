"""What every backend returns, and the session interface backends implement."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from solver.milp.linear import LinearModel


class SolveStatus(str, enum.Enum):
    OPTIMAL = "optimal"  # proven within the requested gap
    FEASIBLE = "feasible"  # a time limit stopped the search with an incumbent
    INFEASIBLE = "infeasible"  # proven: no solution exists
    NO_SOLUTION = "no_solution"  # a time limit stopped the search before any incumbent


@dataclass
class BackendResult:
    status: SolveStatus
    x: np.ndarray | None
    objective: float
    bound: float
    seconds: float
    first_incumbent_s: float | None

    @property
    def has_solution(self) -> bool:
        return self.x is not None

    @property
    def gap(self) -> float:
        """Relative MIP gap |objective - bound| / max(|objective|, 1e-9)."""
        if self.x is None:
            return float("inf")
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)

    @classmethod
    def without_solution(cls, status: SolveStatus, seconds: float) -> BackendResult:
        infeasible = status is SolveStatus.INFEASIBLE
        return cls(status, None, np.inf, np.inf if infeasible else -np.inf, seconds, None)


class Session(Protocol):
    """A solver bound to one LinearModel; `solve` reads the model's current bounds and coefficients."""

    def solve(self, time_limit: float, mip_gap: float, verbose: bool = False) -> BackendResult: ...


class RebuildingSession:
    """A session for the reference backends (OR-Tools, PuLP): they rebuild the solver's model from the
    LinearModel at every solve; the methods' hot path runs on HiGHS."""

    def __init__(self, solve: Callable[..., BackendResult], model: LinearModel, threads: int | None = None):
        self._solve, self.model, self.threads = solve, model, threads

    def solve(self, time_limit: float, mip_gap: float, verbose: bool = False) -> BackendResult:
        return self._solve(self.model, time_limit, mip_gap, verbose, self.threads)
