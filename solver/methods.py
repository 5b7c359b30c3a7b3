"""Solve methods over the one placement MILP.

Every objective we offer prefers lower $/h and higher tok/s, so its optimum lies on the cost/throughput Pareto
frontier. The frontier is C(tau) = min $/h over plans whose every stage and link sustains >= tau tok/s: one MILP
per tau, non-decreasing in tau, and a plan found at tau is also optimal up to its own throughput. A best-first
search over the sorted candidate thresholds (every stage/link throughput) with the bound
objective(C(tau_i), tau_j) on [tau_i, tau_j] finds the exact optimum of:
- exact: min $/token;
- weighted: min w * $/h / cost_norm - (1 - w) * tok/s / throughput_norm (cost_throughput_weight = w);
- throughput: max tok/s under the budget (ties to lower $/h);
- enumeration: the older solver's method, max tok/s at competitive budget points (factors x the weighted
  plan's $/h, clipped to [cheapest plan, cap]), keeping the best $/token; reported against exact.
Every method sweeps the batch sizes; exact and homogeneous baselines are reported beside it.
"""

from __future__ import annotations

import heapq
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from solver.backends import BackendResult, get_backend
from solver.candidates import build_arcs
from solver.config import Scenario
from solver.formulation import PlacementModel, build_model
from solver.perf.base import PerformanceModel
from solver.placement import Placement, ordered_stages, placement_from_stages

METHODS = ("exact", "enumeration", "weighted", "throughput")
DEFAULT_METHOD = {"cost_first": "exact", "throughput_first": "throughput", "balanced": "weighted"}
TOL = 1e-9

Objective = Callable[[float, float], float]  # ($/h, tok/s) -> value to minimise


@dataclass
class Found:
    """A frontier point: min-cost plan at some threshold."""

    x: np.ndarray
    cost: float  # $/h
    throughput: float  # tok/s: bottleneck of its stages and links
    gap: float

    @property
    def ratio(self) -> float:
        return self.cost / self.throughput if self.throughput > 0 else math.inf


@dataclass
class BatchResult:
    batch: int
    placement: Placement | None
    gap: float
    arcs: int
    variables: int
    constraints: int
    quantized: bool
    solves: int = 0
    exact_cost_per_million_tokens: float | None = None
    note: str = ""


@dataclass
class Outcome:
    method: str
    backend: str
    placement: Placement | None
    batches: list[BatchResult]
    seconds: float
    solves: int
    gap: float
    first_incumbent_s: float | None
    time_limited: bool
    exact: Placement | None = None
    homogeneous: Placement | None = None
    notes: list[str] = field(default_factory=list)
    found: Found | None = None  # the chosen plan's frontier point (per replica)


class Runner:
    """Calls the backend under one overall deadline and keeps the solve statistics."""

    def __init__(self, backend: str, time_limit: float, mip_gap: float, verbose: bool = False):
        self.backend, self.solve_fn = backend, get_backend(backend)
        self.started = time.perf_counter()
        self.deadline = self.started + time_limit
        self.mip_gap, self.verbose = mip_gap, verbose
        self.solves, self.first_incumbent_s, self.time_limited = 0, None, False

    def remaining(self) -> float:
        return max(self.deadline - time.perf_counter(), 0.0)

    def __call__(self, pm: PlacementModel) -> BackendResult:
        before = time.perf_counter() - self.started
        result = self.solve_fn(pm.lp, time_limit=max(self.remaining(), 0.05), mip_gap=self.mip_gap,
                               verbose=self.verbose)
        self.solves += 1
        if result.has_solution and self.first_incumbent_s is None:
            self.first_incumbent_s = before + (result.first_incumbent_s or result.seconds)
        if result.status in ("feasible", "no_solution"):
            self.time_limited = True
        return result


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

    def __init__(self, pm: PlacementModel, run: "Runner", tau_min: float):
        self.pm, self.run = pm, run
        values = pm.thresholds()
        self.values = values[values >= tau_min * (1 - TOL)]
        self.points: dict[int, Found | None] = {}
        self.components: dict[int | None, dict[int, Found | None]] = {}
        self.worst_gap = 0.0

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
            point = Found(result.x, float(self.pm.lp.c @ result.x), plan_throughput(self.pm, result.x), result.gap)
            self.worst_gap = max(self.worst_gap, result.gap)
        elif result.status == "no_solution":
            self.worst_gap = math.inf
        cache[i] = point
        return point


def best_first(frontier: Frontier, objective: Objective, budget: float = math.inf,
               ratio_cap: float = math.inf, to_beat: float = math.inf) -> Found | None:
    """Exact optimum of a monotone objective over the frontier, with $/h <= budget and $/h / T <= ratio_cap;
    None when no plan has an objective below `to_beat` (a value already reached elsewhere)."""
    values = frontier.values
    if not len(values):
        return None
    best: Found | None = None
    heap = [(objective(0.0, values[-1]), 0, len(values) - 1, 0.0)]
    while heap:
        bound, i, j, c_lo = heapq.heappop(heap)
        target = objective(best.cost, best.throughput) if best is not None else to_beat
        if bound >= target - TOL * abs(bound):
            break
        if frontier.run.remaining() <= 0:
            frontier.worst_gap = math.inf
            break
        m = (i + j) // 2
        p = frontier.at(m)
        if m > i:
            heapq.heappush(heap, (objective(c_lo, values[m - 1]), i, m - 1, c_lo))
        if p is None or p.cost > budget * (1 + TOL):
            continue  # infeasible (or over budget) here, hence for every higher threshold too
        if p.cost <= ratio_cap * p.throughput * (1 + TOL) and objective(p.cost, p.throughput) < target:
            best = p
        k = int(np.searchsorted(values, p.throughput * (1 + TOL), side="right"))
        if k <= j:
            heapq.heappush(heap, (objective(p.cost, values[j]), k, j, p.cost))
    if best is not None:
        best.gap = frontier.worst_gap
    return best


def ratio_objective(cost: float, throughput: float) -> float:
    return cost / throughput if throughput > 0 else math.inf


def weighted_objective(scenario: Scenario) -> Objective:
    s = scenario.settings
    w = s.cost_throughput_weight
    return lambda cost, thr: w * cost / s.cost_normalization - (1 - w) * thr / s.throughput_normalization


def throughput_objective(cost: float, throughput: float) -> float:
    return -throughput + TOL * cost


def ratio_cap(scenario: Scenario) -> float:
    """$/h per tok/s allowed by max_cost_per_million_token and max_total_cost (both ratio limits)."""
    s, w = scenario.settings, scenario.workload
    return min(s.max_cost_per_million_token * 3600 / 1e6, s.max_total_cost * 3600 / w.total_tokens_to_process)


def min_throughput(scenario: Scenario) -> float:
    """Demand and max_total_runtime_hours both set a floor on tok/s."""
    s, w = scenario.settings, scenario.workload
    floor = w.throughput_demand
    if math.isfinite(s.max_total_runtime_hours):
        floor = max(floor, w.total_tokens_to_process / (3600 * s.max_total_runtime_hours))
    return floor


def enumeration(frontier: Frontier, scenario: Scenario) -> Found | None:
    """The older solver's method: max tok/s at competitive budget points, keep the best $/token."""
    cap = ratio_cap(scenario)
    ballpark = best_first(frontier, weighted_objective(scenario), ratio_cap=cap)
    cheapest = best_first(frontier, lambda c, t: c, ratio_cap=cap)
    if ballpark is None or cheapest is None:
        return None
    upper = min(scenario.settings.max_hourly_cost, sum(p.count * p.dollar_per_hour for p in scenario.pools))
    budgets = {min(max(f * ballpark.cost, cheapest.cost), upper) for f in scenario.settings.budget_factors}
    best = min((ballpark, cheapest), key=lambda p: p.ratio)
    for budget in sorted(budgets):
        candidate = best_first(frontier, throughput_objective, budget=budget, ratio_cap=cap)
        if candidate is not None and candidate.ratio < best.ratio:
            best = candidate
    return best


def method_objective(method: str, scenario: Scenario) -> Objective:
    """How a method ranks plans, also across batch sizes (lower is better); enumeration keeps the best $/token."""
    objectives = {"exact": ratio_objective, "enumeration": ratio_objective,
                  "weighted": weighted_objective(scenario), "throughput": throughput_objective}
    if method not in objectives:
        raise ValueError(f"unknown method '{method}' (choose from {', '.join(METHODS)})")
    return objectives[method]


def run_method(method: str, frontier: Frontier, scenario: Scenario, to_beat: float = math.inf) -> Found | None:
    """The method's plan on one frontier; exact searches skip plans whose objective is not below `to_beat`."""
    if method == "enumeration":
        return enumeration(frontier, scenario)
    return best_first(frontier, method_objective(method, scenario), ratio_cap=ratio_cap(scenario), to_beat=to_beat)


@contextmanager
def only_pool(pm: PlacementModel, pool_index: int):
    """Temporarily allow stages of one pool only (homogeneous baseline) without rebuilding the model."""
    pm.allowed = pm.groups.pool == pool_index
    try:
        yield
    finally:
        pm.allowed = np.ones(len(pm.groups), dtype=bool)


def to_placement(scenario: Scenario, pm: PlacementModel, f: Found, perf: PerformanceModel,
                 replicas: int = 1) -> Placement:
    stages = ordered_stages(pm.arcs, pm.counts(f.x), pm.transitions(f.x))
    placement = placement_from_stages(scenario, stages, pm.arcs.batch, perf)
    placement.replicas = replicas
    return placement


@dataclass
class _Searched:
    """One batch size's model and frontier, kept so the exact baseline reuses their cached MILP solves."""

    entry: BatchResult
    pm: PlacementModel
    frontier: Frontier
    found: Found | None


def per_replica(scenario: Scenario, replicas: int) -> Scenario:
    """What one of `replicas` identical pipelines must do: a 1/r share of each pool's GPUs, of the demand, of the
    tokens to process and of the budgets ($/token limits are the same for one copy as for all)."""
    if replicas == 1:
        return scenario
    s, w = scenario.settings, scenario.workload
    return replace(
        scenario, pools=[p.model_copy(update={"count": p.count // replicas}) for p in scenario.pools],
        workload=w.model_copy(update={"throughput_demand": w.throughput_demand / replicas,
                                      "total_tokens_to_process": w.total_tokens_to_process / replicas}),
        settings=s.model_copy(update={"max_hourly_cost": s.max_hourly_cost / replicas,
                                      "max_total_cost": s.max_total_cost / replicas}))


def solve(scenario: Scenario, perf: PerformanceModel, method: str = "exact", backend: str = "highs",
          time_limit: float | None = None, compare: bool = True, verbose: bool = False,
          progress: Callable[[str], None] | None = None) -> Outcome:
    """Best plan of `method`: one pipeline, or, when a throughput floor is set, r identical replicas of one
    (r = 1..max_replicas). Every objective scales linearly with r (totals are r x a pipeline's $/h and tok/s;
    $/token does not change), so each r is searched only for plans that beat the best total so far."""
    s = scenario.settings
    run = Runner(backend, time_limit or s.time_limit_seconds, s.optimality_gap, verbose)
    objective = method_objective(method, scenario)
    total = (lambda f, r: objective(r * f.cost, r * f.throughput))
    linear = objective is not ratio_objective  # weighted/throughput scale with r; $/token does not
    best: Outcome | None = None
    best_value = math.inf
    counts = range(1, s.max_replicas + 1) if min_throughput(scenario) > 0 else [1]
    for replicas in counts:
        share = per_replica(scenario, replicas)
        if replicas > 1 and (not any(p.count for p in share.pools) or run.remaining() <= 0):
            break
        if progress and replicas > 1:
            progress(f"{replicas} replicas")
        to_beat = best_value / replicas if linear else best_value
        outcome = _solve_pipeline(share, perf, method, run, compare, progress, to_beat, replicas)
        improved = outcome.found is not None and total(outcome.found, replicas) < best_value
        if improved:
            best_value = total(outcome.found, replicas)
        best = _merge_baselines(outcome, best) if best is None or improved else _merge_baselines(best, outcome)
    best.seconds, best.solves = time.perf_counter() - run.started, run.solves
    best.first_incumbent_s, best.time_limited = run.first_incumbent_s, run.time_limited
    return best


def _merge_baselines(keep: Outcome, other: Outcome | None) -> Outcome:
    """The exact and single-type baselines are the best over all replica counts ($/token compares across r)."""
    if other is not None:
        for name in ("exact", "homogeneous"):
            mine, theirs = getattr(keep, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs.cost_per_million_tokens < mine.cost_per_million_tokens):
                setattr(keep, name, theirs)
    return keep


def _solve_pipeline(scenario: Scenario, perf: PerformanceModel, method: str, run: Runner, compare: bool,
                    progress: Callable[[str], None] | None, to_beat: float, replicas: int) -> Outcome:
    """Run `method` at every batch size (largest first) for one pipeline and keep the best plan, plus the exact
    and homogeneous baselines. Exact searches only look for plans that beat the best batch so far (or `to_beat`
    from fewer replicas): a batch that cannot is reported as such rather than solved to the end."""
    objective = method_objective(method, scenario)
    value = (lambda f: objective(f.cost, f.throughput) if f is not None else math.inf)
    searched: list[_Searched] = []
    results: list[BatchResult] = []
    best: _Searched | None = None
    for batch in sorted(scenario.workload.batch_sizes, reverse=True):
        if progress:
            progress(f"batch {batch}: building candidates")
        arcs = build_arcs(scenario, batch, perf)
        if len(arcs) == 0:
            results.append(BatchResult(batch, None, math.inf, 0, 0, 0, arcs.quantized, note="no stage fits memory"))
            continue
        pm = build_model(scenario, arcs)
        frontier = Frontier(pm, run, min_throughput(scenario))
        if progress:
            progress(f"batch {batch}: {method} over {len(arcs)} stage types")
        solves_before = run.solves
        bound = min(value(best.found) if best else math.inf, to_beat)
        f = run_method(method, frontier, scenario, to_beat=bound)
        entry = BatchResult(batch, to_placement(scenario, pm, f, perf, replicas) if f else None,
                            f.gap if f else math.inf, len(arcs), pm.lp.shape[1], pm.lp.shape[0], arcs.quantized,
                            note="" if f else _why_none(frontier, best.entry.batch if best else None, bound))
        entry.solves = run.solves - solves_before
        here = _Searched(entry, pm, frontier, f)
        searched.append(here)
        results.append(entry)
        if f is not None and value(f) < value(best.found if best else None):
            best = here
    exact_best = _exact_baseline(scenario, searched, method, perf, replicas) if compare else None
    homogeneous = _best_homogeneous(scenario, best.pm, run, perf, replicas) if compare and best else None
    return Outcome(method=method, backend=run.backend, placement=best.entry.placement if best else None,
                   batches=sorted(results, key=lambda b: b.batch), seconds=0.0, solves=0,
                   gap=best.found.gap if best else 0.0, first_incumbent_s=None, time_limited=False,
                   exact=exact_best, homogeneous=homogeneous, found=best.found if best else None)


def _why_none(frontier: Frontier, best_batch: int | None, bound: float) -> str:
    """No plan at a batch size: infeasible, or (searched with a bound) no better than another batch size or than
    a plan with fewer replicas."""
    if not math.isfinite(bound) or frontier.points.get(0, False) is None:
        return "infeasible"
    return f"no better than batch {best_batch}" if best_batch is not None else "no better than fewer replicas"


def _exact_baseline(scenario: Scenario, searched: list[_Searched], method: str, perf: PerformanceModel,
                    replicas: int) -> Placement | None:
    """The exact $/token optimum over all batch sizes. Batches are visited from the method's best $/token on, each
    search only looking for plans that beat the best so far; a batch's exact figure is filled in where searched."""
    cap = ratio_cap(scenario)
    exact: Found | None = None
    placement: Placement | None = None
    for item in sorted(searched, key=lambda x: x.found.ratio if x.found else math.inf):
        f = item.found if method == "exact" else best_first(item.frontier, ratio_objective, ratio_cap=cap,
                                                            to_beat=exact.ratio if exact else math.inf)
        if f is not None and (exact is None or f.ratio < exact.ratio):
            exact, placement = f, to_placement(scenario, item.pm, f, perf, replicas)
            item.entry.exact_cost_per_million_tokens = placement.cost_per_million_tokens
    return placement


def _best_homogeneous(scenario: Scenario, pm: PlacementModel, run: Runner, perf: PerformanceModel,
                      replicas: int) -> Placement | None:
    """Best $/token using one pool only, at the chosen plan's batch size; each pool's search only looks for plans
    that beat the best pool so far."""
    incumbent: Found | None = None
    for g in np.unique(pm.arcs.pool):
        with only_pool(pm, int(g)):
            f = best_first(Frontier(pm, run, min_throughput(scenario)), ratio_objective,
                           ratio_cap=ratio_cap(scenario), to_beat=incumbent.ratio if incumbent else math.inf)
            if f is not None:
                incumbent = f
    return to_placement(scenario, pm, incumbent, perf, replicas) if incumbent else None
