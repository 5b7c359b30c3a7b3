"""The methods' objectives over the frontier, and the exact best-first search that optimises any of them.

Every objective we offer prefers lower $/h and higher tok/s, so its optimum lies on the frontier C(tau). A
best-first search over the sorted candidate thresholds with the bound objective(C(tau_i), tau_j) on [tau_i, tau_j]
finds the exact optimum of:
- exact: min $/token;
- weighted: min w * $/h / cost_norm - (1 - w) * tok/s / throughput_norm (cost_throughput_weight = w);
- throughput: max tok/s under the budget (ties to lower $/h).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from solver.domain.choices import METHODS
from solver.domain.scenario import Scenario
from solver.search.frontier import TOL, Found, Frontier
from solver.search.runner import TimeUp

Objective = Callable[[float, float], float]  # ($/h, tok/s) -> value to minimise


def best_first(frontier: Frontier, objective: Objective, budget: float = math.inf,
               ratio_cap: float = math.inf, to_beat: float = math.inf) -> Found | None:
    """Exact optimum of a monotone objective over the frontier, with $/h <= budget and $/h / T <= ratio_cap;
    None when no plan has an objective below `to_beat` (a value already reached elsewhere). Leaves in
    `frontier.search_bound` a proven lower bound on the objective: the optimum (or to_beat) when the search ends,
    the smallest bound still open when the deadline stops it (the plan found so far is then returned)."""
    values = frontier.values
    best: Found | None = None
    heap = [(objective(0.0, values[-1]), 0, len(values) - 1, 0.0)] if len(values) else []
    target = to_beat
    while heap:
        bound, i, j, c_lo = heapq.heappop(heap)
        target = objective(best.cost, best.throughput) if best is not None else to_beat
        if bound >= target - TOL * abs(bound):
            break
        m = (i + j) // 2
        try:
            p = frontier.at(m)
        except TimeUp:
            frontier.search_bound = min([bound] + [entry[0] for entry in heap])
            return _with_gap(best, frontier)
        if m > i:
            heapq.heappush(heap, (objective(c_lo, values[m - 1]), i, m - 1, c_lo))
        if p is None or p.bound > budget * (1 + TOL):
            continue  # infeasible (or over budget) here, hence for every higher threshold too
        within = p.cost <= budget * (1 + TOL) and p.cost <= ratio_cap * p.throughput * (1 + TOL)
        if within and objective(p.cost, p.throughput) < target:
            best = p
        k = int(np.searchsorted(values, p.throughput * (1 + TOL), side="right"))
        if k <= j:
            heapq.heappush(heap, (objective(p.bound, values[j]), k, j, p.bound))
    frontier.search_bound = objective(best.cost, best.throughput) if best is not None else target
    return _with_gap(best, frontier)


def _with_gap(best: Found | None, frontier: Frontier) -> Found | None:
    """The plan with the worst MIP gap of the solves behind it (a copy: frontier points are shared)."""
    return replace(best, gap=frontier.worst_gap) if best is not None else None


def ratio_objective(cost: float, throughput: float) -> float:
    return cost / throughput if throughput > 0 else math.inf


def weighted_objective(scenario: Scenario) -> Objective:
    s = scenario.settings
    w = s.cost_throughput_weight
    return lambda cost, thr: w * cost / s.cost_normalization - (1 - w) * thr / s.throughput_normalization


def throughput_objective(cost: float, throughput: float) -> float:
    return -throughput + TOL * cost


def ratio_cap(scenario: Scenario, competitive: bool = False) -> float:
    """$/h per tok/s allowed by max_total_cost and, when enforce_cost_target is set (or for the enumeration's
    competitive budgets), max_cost_per_million_token; by default the latter is a reported target, as in the older
    solver."""
    s, w = scenario.settings, scenario.workload
    cap = s.max_total_cost * 3600 / w.total_tokens_to_process
    if s.enforce_cost_target or competitive:
        cap = min(cap, s.max_cost_per_million_token * 3600 / 1e6)
    return cap


def min_throughput(scenario: Scenario) -> float:
    """Demand and max_total_runtime_hours both set a floor on tok/s."""
    s, w = scenario.settings, scenario.workload
    floor = w.throughput_demand
    if math.isfinite(s.max_total_runtime_hours):
        floor = max(floor, w.total_tokens_to_process / (3600 * s.max_total_runtime_hours))
    return floor


def method_objective(method: str, scenario: Scenario) -> Objective:
    """How a method ranks plans, also across batch sizes (lower is better); enumeration keeps the best $/token."""
    objectives = {"exact": ratio_objective, "enumeration": ratio_objective,
                  "weighted": weighted_objective(scenario), "throughput": throughput_objective}
    if method not in objectives:
        raise ValueError(f"unknown method '{method}' (choose from {', '.join(METHODS)})")
    return objectives[method]
