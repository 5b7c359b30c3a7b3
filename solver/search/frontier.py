"""The cost/throughput frontier C(tau) = min $/h over plans whose every stage and link sustains >= tau tok/s,
evaluated lazily with a cache (one MILP per threshold, non-decreasing in tau)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.placement.model import PlacementModel
from solver.search.runner import Runner

TOL = 1e-9


@dataclass
class Found:
    """A frontier point: min-cost plan at some threshold."""

    x: np.ndarray
    cost: float  # $/h
    throughput: float  # tok/s: bottleneck of its stages and links
    gap: float
    bound: float  # a proven lower bound on C(tau) where it was found (= cost when solved to the gap)

    @property
    def ratio(self) -> float:
        return self.cost / self.throughput if self.throughput > 0 else math.inf


def plan_throughput(pm: PlacementModel, x: np.ndarray) -> float:
    """Bottleneck of the chosen stage types and of the transitions between them."""
    counts = pm.counts(x)
    values = list(pm.arcs.throughput[counts > 0])
    moves = pm.transitions(x)
    if moves is not None:
        values += list(pm.arcs.link_throughput[moves > 0])
    return float(min(values))


class Frontier:
    """C(tau) evaluated lazily with a cache; a point found at tau also answers every tau' <= its throughput.

    C(tau) is the cheapest of a few components (PlacementModel.configure): the relaxation without memory windows
    over the depths not split off, and each split-off depth on its own. Each component keeps its own cache under
    the same rule (a relaxed point found before a split is optimal over a superset of depths, so it stays valid)."""

    def __init__(self, pm: PlacementModel, run: Runner, tau_min: float):
        self.pm, self.run = pm, run
        values = pm.thresholds()
        self.values = values[values >= tau_min * (1 - TOL)]
        self.points: dict[int, Found | None] = {}
        self.components: dict[int | None, dict[int, Found | None]] = {}
        self.worst_gap = 0.0
        self.search_bound = -math.inf  # set by each search: a lower bound on its objective over this frontier

    def at(self, i: int) -> Found | None:
        if i not in self.points:
            best = self._component(None, i)
            for floor, depth in sorted((self._floor(depth, i), depth) for depth in self.pm.split):
                if best is not None and floor >= best.cost * (1 - TOL):
                    break  # C_P only grows with tau: this depth (and every later one) cannot be cheaper here
                p = self._component(depth, i)
                if p is not None and (best is None or p.cost < best.cost):
                    best = p
            self.points[i] = best
        return self.points[i]

    def _floor(self, depth: int, i: int) -> float:
        """A lower bound on C_P(tau_i): depth P's cost at the lowest threshold or any cached one below tau_i
        (inf: infeasible). One solve at the lowest threshold prunes most depths at every other."""
        self._component(depth, 0)
        known = [math.inf if p is None else p.cost for j, p in self.components[depth].items() if j <= i]
        return max(known)

    def _component(self, depth: int | None, i: int) -> Found | None:
        cache = self.components.setdefault(depth, {})
        tau = self.values[i]
        for j, p in cache.items():
            if j <= i and (p is None or p.throughput >= tau * (1 - TOL)):
                return p  # infeasible at a lower threshold, or optimal there and fast enough here
        self.pm.configure(tau * (1 - TOL), depth)
        result = self.run(self.pm)
        while result.has_solution and (violated := self.pm.memory_depth_violated(result.x)) is not None:
            self.pm.split.add(violated)  # that depth is solved on its own from now on
            self.pm.configure(tau * (1 - TOL), None)
            result = self.run(self.pm)
        point = None
        if result.has_solution:
            cost = float(self.pm.lp.c @ result.x)
            bound = cost if result.gap <= self.run.mip_gap else min(cost, result.bound)
            point = Found(result.x, cost, plan_throughput(self.pm, result.x), result.gap, bound)
            self.worst_gap = max(self.worst_gap, result.gap)
        cache[i] = point
        return point
