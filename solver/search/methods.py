"""The solve methods on one frontier: exact, weighted and throughput optimise their objective exactly;
enumeration is the older solver's method (max tok/s at competitive budget points, keep the best $/token),
reported against exact."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from solver.domain.scenario import Scenario
from solver.placement.model import PlacementModel
from solver.search.frontier import Found, Frontier
from solver.search.objectives import best_first, method_objective, ratio_cap, throughput_objective, weighted_objective


def enumeration(frontier: Frontier, scenario: Scenario) -> Found | None:
    """The older solver's method: max tok/s at competitive budget points, keep the best $/token. As there, the
    budgets are focused on plans that meet max_cost_per_million_token (its competitive target); when no plan
    does, every plan is searched."""
    competitive, anything = ratio_cap(scenario, competitive=True), ratio_cap(scenario)
    found = enumerate_budgets(frontier, scenario, competitive)
    if found is None and anything > competitive:
        found = enumerate_budgets(frontier, scenario, anything)
    return found


def enumerate_budgets(frontier: Frontier, scenario: Scenario, cap: float) -> Found | None:
    """Best $/token among the weighted plan, the cheapest plan and the max-throughput plans at budgets around the
    weighted plan's $/h, over plans with $/h per tok/s <= cap."""
    ballpark = best_first(frontier, weighted_objective(scenario), ratio_cap=cap)
    cheapest = best_first(frontier, lambda c, t: c, ratio_cap=cap)
    found = [p for p in (ballpark, cheapest) if p is not None]  # at a deadline, whatever was found is kept
    if ballpark is not None and cheapest is not None:
        upper = min(scenario.settings.max_hourly_cost, sum(p.count * p.dollar_per_hour for p in scenario.pools))
        budgets = {min(max(f * ballpark.cost, cheapest.cost), upper) for f in scenario.settings.budget_factors}
        for budget in sorted(budgets):
            found.append(best_first(frontier, throughput_objective, budget=budget, ratio_cap=cap))
    return min((p for p in found if p is not None), key=lambda p: p.ratio, default=None)


def run_method(method: str, frontier: Frontier, scenario: Scenario, to_beat: float = math.inf) -> Found | None:
    """The method's plan on one frontier; exact searches skip plans whose objective is not below `to_beat`."""
    if method == "enumeration":
        return enumeration(frontier, scenario)
    return best_first(frontier, method_objective(method, scenario), ratio_cap=ratio_cap(scenario), to_beat=to_beat)


@contextmanager
def only_pool(pm: PlacementModel, pool_index: int) -> Iterator[None]:
    """Temporarily allow stages of one pool only (homogeneous baseline) without rebuilding the model."""
    pm.allowed = pm.groups.pool == pool_index
    try:
        yield
    finally:
        pm.allowed = np.ones(len(pm.groups), dtype=bool)
