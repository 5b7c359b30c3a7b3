"""MILP backends: each consumes the one backend-neutral `LinearModel` and returns a `BackendResult`."""

from __future__ import annotations

from typing import Callable

from solver.backends.base import BackendResult
from solver.formulation import LinearModel

BACKENDS = ("highs", "ortools", "pulp")


def get_backend(name: str) -> Callable[..., BackendResult]:
    """The solve function of a backend, imported lazily so a missing optional solver only fails when chosen."""
    if name == "highs":
        from solver.backends.highs import solve
    elif name == "ortools":
        from solver.backends.ortools import solve
    elif name == "pulp":
        from solver.backends.pulp import solve
    else:
        raise ValueError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    return solve


__all__ = ["BACKENDS", "BackendResult", "get_backend", "LinearModel"]
