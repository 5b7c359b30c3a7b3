"""Backend-neutral MILPs and the open solvers that solve them (HiGHS, OR-Tools/SCIP, PuLP/CBC).

A model is built once as a `LinearModel` (matrix form); callers then change bounds and coefficients in place and
solve again. Each backend opens a session on a model; solvers are imported only when a session is opened, so a
missing optional solver only fails when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solver.domain.choices import BACKENDS
from solver.milp.result import RebuildingSession

if TYPE_CHECKING:
    from solver.milp.linear import LinearModel
    from solver.milp.result import Session


def open_session(backend: str, model: LinearModel, threads: int | None = None) -> Session:
    """A solver session on `model` that re-reads its bounds and coefficients at every solve; `threads` caps the
    solver's threads (None: its own choice)."""
    if backend == "highs":
        from solver.milp.highs import HighsSession

        return HighsSession(model, threads)
    if backend == "ortools":
        from solver.milp import ortools

        return RebuildingSession(ortools.solve, model, threads)
    if backend == "pulp":
        from solver.milp import pulp

        return RebuildingSession(pulp.solve, model, threads)
    raise ValueError(f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")
