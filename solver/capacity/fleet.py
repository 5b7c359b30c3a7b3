"""The fleet MILP: how many copies of each replica type to rent and which request buckets each serves, at the
lowest $/h (docs/capacity.md has the math). Mélange's formulation (Griggs et al., arXiv 2404.14527, section 5:
GPU types x request-size buckets, a load fraction per pair) with replica types that may be heterogeneous
pipelines, and the pools' GPU counts as supply.

    min  sum_t c_t n_t                                       ($/h of the fleet)
    s.t. sum_t x_tb = 1                          for all b   (1) every bucket's demand is routed
         sum_b (lam_b / r_tb) x_tb <= n_t        for all t   (2) copies of t carry their load within the SLOs
         sum_t g_tp n_t <= S_p                   for all p   (3) GPUs of pool p
         n_t in Z>=0, x_tb in [0, 1], x_tb = 0 where r_tb = 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.milp import open_session
from solver.milp.linear import Builder, LinearModel
from solver.milp.result import SolveStatus


@dataclass(frozen=True)
class FleetInputs:
    """Costs ($/h per copy, T), SLO-limited rates (requests/s per copy, T x B), demand (requests/s, B), GPUs per
    copy by pool (T x P) and GPUs available per pool (P)."""

    costs: np.ndarray
    rates: np.ndarray
    demand: np.ndarray
    gpus: np.ndarray
    supply: np.ndarray


@dataclass(frozen=True)
class FleetResult:
    counts: np.ndarray  # copies per replica type
    routing: np.ndarray  # T x B: fraction of bucket b's requests sent to type t
    cost: float
    bound: float
    optimal: bool


def add_demand(b: Builder, x: dict[tuple[int, int], int], buckets: int) -> None:
    """(1) sum_t x_tb = 1 for every bucket b: all of its requests go somewhere."""
    first = len(b.row_lo)
    for j in range(buckets):
        cols = [col for (t, k), col in x.items() if k == j]
        b.add_row(f"demand[{j}]", cols, 1.0, lo=1.0, hi=1.0)
    b.family("demand", first)


def add_capacity(b: Builder, x: dict[tuple[int, int], int], n: np.ndarray, inputs: FleetInputs) -> None:
    """(2) sum_b (lam_b / r_tb) x_tb - n_t <= 0: the load routed to type t, in copies running at their SLO-limited
    rate, fits its copies (n_t = -1: type t is not allowed and has no variables)."""
    first = len(b.row_lo)
    for t in np.flatnonzero(n >= 0):
        col_n = int(n[t])
        pairs = [(col, inputs.demand[k] / inputs.rates[t, k]) for (s, k), col in x.items() if s == t]
        b.add_row(f"capacity[{t}]", [col for col, _ in pairs] + [col_n], [v for _, v in pairs] + [-1.0], hi=0.0)
    b.family("capacity", first)


def add_supply(b: Builder, n: np.ndarray, inputs: FleetInputs) -> None:
    """(3) sum_t g_tp n_t <= S_p: the fleet rents no more GPUs of pool p than it has."""
    first = len(b.row_lo)
    for p in range(inputs.gpus.shape[1]):
        users = np.flatnonzero((inputs.gpus[:, p] > 0) & (n >= 0))
        if len(users):
            b.add_row(f"supply[{p}]", n[users], inputs.gpus[users, p], hi=float(inputs.supply[p]))
    b.family("supply", first)


def build(inputs: FleetInputs, allowed: np.ndarray, integer: bool = True
          ) -> tuple[LinearModel, np.ndarray, dict[tuple[int, int], int]]:
    """The fleet MILP over the replica types in `allowed` (others get no variables)."""
    b = Builder()
    types = np.flatnonzero(allowed)
    upper = [_most_copies(inputs, t) for t in types]
    n = np.full(len(inputs.costs), -1)
    n[types] = b.add_vars([f"n[{t}]" for t in types], 0.0, np.array(upper, dtype=float), integer)
    x = {}
    for t in types:
        for k in np.flatnonzero(inputs.rates[t] > 0):
            x[(int(t), int(k))] = int(b.add_vars([f"x[{t},{k}]"], 0.0, 1.0, False)[0])
    add_demand(b, x, len(inputs.demand))
    add_capacity(b, x, n, inputs)
    add_supply(b, n, inputs)
    lp = b.build()
    lp.c[n[types]] = inputs.costs[types]
    return lp, n, x


def _most_copies(inputs: FleetInputs, t: int) -> float:
    """Copies of t worth renting: enough for every bucket it can serve, and no more than the supply allows."""
    served = inputs.rates[t] > 0
    need = math.ceil(float(np.sum(inputs.demand[served] / inputs.rates[t, served])) - 1e-9)
    used = inputs.gpus[t] > 0
    room = float(np.min(inputs.supply[used] // inputs.gpus[t, used])) if used.any() else math.inf
    return float(max(min(need, room), 0))


def solve_fleet(inputs: FleetInputs, backend: str = "highs", time_limit: float = 60.0, mip_gap: float = 1e-6,
                allowed: np.ndarray | None = None, integer: bool = True) -> FleetResult | None:
    """The cheapest fleet of the allowed replica types (all by default); None when none meets the demand."""
    allowed = np.ones(len(inputs.costs), dtype=bool) if allowed is None else allowed
    if not allowed.any() or not (inputs.rates[allowed] > 0).any(axis=0).all():
        return None
    lp, n, x = build(inputs, allowed, integer)
    result = open_session(backend, lp).solve(time_limit=time_limit, mip_gap=mip_gap)
    if not result.has_solution:
        return None
    assert result.x is not None
    counts = np.zeros(len(inputs.costs), dtype=int)
    types = np.flatnonzero(n >= 0)
    counts[types] = np.round(result.x[n[types]]).astype(int) if integer else 0
    routing = np.zeros_like(inputs.rates)
    for (t, k), col in x.items():
        routing[t, k] = result.x[col]
    cost = float(lp.c @ result.x)
    return FleetResult(counts, routing, cost, min(result.bound, cost), result.status is SolveStatus.OPTIMAL)
