"""A MILP in matrix form, and a builder that assembles one family of rows at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse


@dataclass(eq=False)
class LinearModel:
    """min c'x s.t. row_lo <= A x <= row_hi, lb <= x <= ub, x_j integer where `integer`.

    Callers may change lb, ub, c and A.data in place between solves (never the sparsity pattern); backends read
    them afresh at every solve."""

    names: list[str]
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    c: np.ndarray
    A: sparse.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    row_names: list[str]
    families: dict[str, range]

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape  # type: ignore[return-value]


@dataclass
class Builder:
    """Collects variables and rows; `build` turns them into one sparse LinearModel."""

    names: list[str] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    row_lo: list[float] = field(default_factory=list)
    row_hi: list[float] = field(default_factory=list)
    row_names: list[str] = field(default_factory=list)
    families: dict[str, range] = field(default_factory=dict)

    def add_vars(self, names: list[str], lb: float, ub: float | np.ndarray, integer: bool) -> np.ndarray:
        first = len(self.names)
        self.names += names
        self.lb += [lb] * len(names)
        self.ub += list(np.broadcast_to(np.asarray(ub, dtype=float), (len(names),)))
        self.integer += [integer] * len(names)
        return np.arange(first, len(self.names))

    def add_row(self, name: str, cols: np.ndarray | list[int], vals: float | np.ndarray | list[float],
                lo: float = -math.inf, hi: float = math.inf) -> int:
        row = len(self.row_lo)
        columns = np.asarray(cols, dtype=int)
        self.rows.append(np.full(len(columns), row))
        self.cols.append(columns)
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), columns.shape))
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        self.row_names.append(name)
        return row

    def family(self, name: str, start: int) -> None:
        """Label the rows added since `start` as one constraint family (for reports and diagnosis)."""
        self.families[name] = range(start, len(self.row_lo))

    def build(self) -> LinearModel:
        n = len(self.names)

        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.array([], dtype=dtype)

        A = sparse.csr_matrix((cat(self.vals, float), (cat(self.rows, int), cat(self.cols, int))),
                              shape=(len(self.row_lo), n))
        return LinearModel(self.names, np.array(self.lb, float), np.array(self.ub, float), np.array(self.integer),
                           np.zeros(n), A, np.array(self.row_lo, float), np.array(self.row_hi, float),
                           self.row_names, self.families)
