"""What every backend returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Status = Literal["optimal", "feasible", "infeasible", "no_solution"]


@dataclass
class BackendResult:
    """`feasible` means a time limit stopped the search with an incumbent; `no_solution` means it had none."""

    status: Status
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
