"""The whole search for one scenario: every batch size (largest first), identical replicas when a throughput
floor is set, and the exact and single-GPU-type baselines, each searched only for plans that beat the best so far."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from solver.domain.placement import Placement
from solver.domain.scenario import Scenario
from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.placement.assemble import ordered_stages, placement_from_stages
from solver.placement.candidates import ArcSet, build_arcs
from solver.placement.model import PlacementModel, build_model
from solver.search.frontier import Found, Frontier
from solver.search.kv_limited import fitting_kinds, kv_ladder
from solver.search.methods import only_pool, run_method
from solver.search.objectives import best_first, method_objective, min_throughput, ratio_cap, ratio_objective
from solver.search.outcome import BatchResult, Outcome
from solver.search.runner import Runner


def to_placement(scenario: Scenario, pm: PlacementModel, f: Found, perf: PerformanceModel,
                 replicas: int = 1, stands_for: int | None = None) -> Placement:
    """The placement of a frontier point; searched at a batch standing in for a larger asked one, it records that
    batch when its KV cache cannot hold it (vLLM would run it at this concurrency)."""
    stages = ordered_stages(pm.arcs, pm.counts(f.x), pm.transitions(f.x))
    placement = placement_from_stages(scenario, stages, pm.arcs.batch, perf)
    placement.replicas = replicas
    if stands_for is not None:
        deployment = Deployment.of_placement(scenario, placement.model_copy(update={"batch_size": stands_for}))
        if not deployment.evaluate(perf).fits:
            placement.requested_batch_size = stands_for
    return placement


def _kv_note(stands_for: int | None) -> str:
    return f"KV-limited stand-in for batch {stands_for}" if stands_for is not None else ""


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
          progress: Callable[[str], None] | None = None, kv_limited: bool = True) -> Outcome:
    """Best plan of `method`: one pipeline, or, when a throughput floor is set, r identical replicas of one
    (r = 1..max_replicas). Every objective scales linearly with r (totals are r x a pipeline's $/h and tok/s;
    $/token does not change), so each r is searched only for plans that beat the best total so far.
    `kv_limited`: also consider placements whose KV cache holds fewer than the batch asked (solver/search/
    kv_limited.py); off for callers that want the best placement at exactly the batch asked."""
    s = scenario.settings
    run = Runner(backend, time_limit or s.time_limit_seconds, s.optimality_gap, verbose, s.threads)
    objective = method_objective(method, scenario)
    total = (lambda f, r: objective(r * f.cost, r * f.throughput))
    linear = objective is not ratio_objective  # weighted/throughput scale with r; $/token does not
    best: Outcome | None = None
    best_value = math.inf
    lower = math.inf  # proven lower bound on the objective over every replica count searched
    counts = range(1, s.max_replicas + 1) if min_throughput(scenario) > 0 else [1]
    for replicas in counts:
        share = per_replica(scenario, replicas)
        if replicas > 1 and (not any(p.count for p in share.pools) or run.remaining() <= 0):
            break
        if progress and replicas > 1:
            progress(f"{replicas} replicas")
        to_beat = best_value / replicas if linear else best_value
        outcome = _solve_pipeline(share, perf, method, run, compare, progress, to_beat, replicas, kv_limited)
        lower = min(lower, outcome.bound * (replicas if linear and math.isfinite(outcome.bound) else 1))
        improved = outcome.found is not None and total(outcome.found, replicas) < best_value
        if improved:
            best_value = total(outcome.found, replicas)
        best = _merge_baselines(outcome, best) if best is None or improved else _merge_baselines(best, outcome)
    assert best is not None
    best.seconds, best.solves = time.perf_counter() - run.started, run.solves
    best.first_incumbent_s, best.time_limited = run.first_incumbent_s, run.time_limited
    if best.found is not None and run.time_limited:
        best.gap = max(best.gap, _relative_gap(best_value, lower))
    return best


def _relative_gap(value: float, lower: float) -> float:
    """(value - lower) / |value|: how far above a proven lower bound a plan's objective may be (inf: unknown)."""
    if not math.isfinite(lower) or not math.isfinite(value):
        return math.inf
    return max(value - lower, 0.0) / max(abs(value), 1e-12)


def _merge_baselines(keep: Outcome, other: Outcome | None) -> Outcome:
    """The exact and single-type baselines are the best over all replica counts ($/token compares across r)."""
    if other is not None:
        for name in ("exact", "homogeneous"):
            mine, theirs = getattr(keep, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs.cost_per_million_tokens < mine.cost_per_million_tokens):
                setattr(keep, name, theirs)
    return keep


def _solve_pipeline(scenario: Scenario, perf: PerformanceModel, method: str, run: Runner, compare: bool,
                    progress: Callable[[str], None] | None, to_beat: float, replicas: int, kv_limited: bool
                    ) -> Outcome:
    """Run `method` at every batch size (largest first) for one pipeline and keep the best plan, plus the exact
    and homogeneous baselines. Exact searches only look for plans that beat the best batch so far (or `to_beat`
    from fewer replicas): a batch that cannot is reported as such rather than solved to the end."""
    objective = method_objective(method, scenario)
    value = (lambda f: objective(f.cost, f.throughput) if f is not None else math.inf)
    searched: list[_Searched] = []
    results: list[BatchResult] = []
    best: _Searched | None = None
    bounds: list[float] = []  # per batch: a proven lower bound on the method's objective
    asked = sorted(scenario.workload.batch_sizes, reverse=True)
    ratio = objective is ratio_objective

    def visit(batch: int, stands_for: int | None, arcs: ArcSet, floor: float = -math.inf) -> None:
        """Search one batch size (the method, bounded by the best plan so far) and record what it found; a
        stand-in whose `floor` (ratio_floor, for $/token) cannot beat the plan in hand is skipped."""
        nonlocal best
        if stands_for is not None and floor >= min(value(best.found) if best else math.inf, to_beat):
            bounds.append(floor)
            return  # even its most cost-efficient stage type cannot beat the plan in hand
        if len(arcs) == 0:
            results.append(BatchResult(batch, None, math.inf, 0, 0, 0, arcs.quantized, note="no stage fits memory"))
            bounds.append(math.inf)
            return
        pm = build_model(scenario, arcs)
        frontier = Frontier(pm, run, min_throughput(scenario))
        if progress:
            progress(f"batch {batch}: {method} over {len(arcs)} stage types")
        solves_before = run.solves
        bound = min(value(best.found) if best else math.inf, to_beat)
        f = run_method(method, frontier, scenario, to_beat=bound)
        bounds.append(frontier.search_bound if method != "enumeration" else (value(f) if f else math.inf))
        entry = BatchResult(batch, to_placement(scenario, pm, f, perf, replicas, stands_for) if f else None,
                            f.gap if f else math.inf, len(arcs), pm.lp.shape[1], pm.lp.shape[0], arcs.quantized,
                            note=_kv_note(stands_for) if f else _why_none(frontier, best.entry.batch if best else None,
                                                                         bound),
                            kv_limited_of=stands_for)
        entry.solves = run.solves - solves_before
        here = _Searched(entry, pm, frontier, f)
        searched.append(here)
        results.append(entry)
        if f is not None and value(f) < value(best.found if best else None):
            best = here

    built: dict[int, ArcSet] = {}
    for batch in asked:
        if run.remaining() <= 0:
            run.time_limited = True
            results.append(BatchResult(batch, None, math.inf, 0, 0, 0, False, note="not searched (time limit)"))
            bounds.append(objective(0.0, math.inf))
            continue
        if progress:
            progress(f"batch {batch}: building candidates")
        built[batch] = build_arcs(scenario, batch, perf)
        visit(batch, None, built[batch])
    # KV-limited stand-ins, most promising first for $/token (the lowest floor), so the rest are mostly pruned.
    stand_ins = []
    asked_kinds = {b: fitting_kinds(arcs) for b, arcs in built.items()} if kv_limited else {}
    for batch, stands_for in kv_ladder(asked) if kv_limited else []:
        if stands_for in built and run.remaining() > 0:
            arcs = build_arcs(scenario, batch, perf)
            if fitting_kinds(arcs) - asked_kinds[stands_for]:  # some stage type the asked batch's KV rules out
                floor = ratio_floor(arcs) if ratio else -math.inf
                stand_ins.append((floor if ratio else -batch, batch, stands_for, arcs, floor))
    for _, batch, stands_for, arcs, floor in sorted(stand_ins, key=lambda item: item[:2]):
        if run.remaining() <= 0:
            run.time_limited = True
            break
        visit(batch, stands_for, arcs, floor)
    compare = compare and not run.time_limited  # a cut search's "optimum" would only be an incumbent
    exact_best = _exact_baseline(scenario, searched, method, perf, replicas) if compare else None
    homogeneous = None
    if compare and best:
        chosen = best.entry.placement
        single_pool = chosen is not None and len({stage.pool for stage in chosen.stages}) == 1
        # The $/token optimum on one pool is also the best plan using one pool only: no search needed.
        homogeneous = chosen if method == "exact" and single_pool else _best_homogeneous(
            scenario, best.pm, run, perf, replicas, best.entry.kv_limited_of)
    if run.time_limited:
        exact_best = homogeneous = None
    return Outcome(method=method, backend=run.backend, placement=best.entry.placement if best else None,
                   batches=sorted(results, key=lambda b: b.batch), seconds=0.0, solves=0,
                   gap=best.found.gap if best else 0.0, first_incumbent_s=None, time_limited=False,
                   exact=exact_best, homogeneous=homogeneous, found=best.found if best else None,
                   bound=min(bounds, default=math.inf))


def ratio_floor(arcs: ArcSet) -> float:
    """A lower bound on the $/h per tok/s of any pipeline of these stage types: a pipeline's cost is the sum of its
    stages' and its rate at most each stage's, so ratio >= sum_k cost_k / rate_k >= layers x the best per-layer
    cost_k / (rate_k x size_k)."""
    if len(arcs) == 0:
        return math.inf
    return float(arcs.num_layers * np.min(arcs.cost / (arcs.throughput * arcs.size)))


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
            exact, placement = f, to_placement(scenario, item.pm, f, perf, replicas, item.entry.kv_limited_of)
            item.entry.exact_cost_per_million_tokens = placement.cost_per_million_tokens
    return placement


def _best_homogeneous(scenario: Scenario, pm: PlacementModel, run: Runner, perf: PerformanceModel,
                      replicas: int, stands_for: int | None) -> Placement | None:
    """Best $/token using one pool only, at the chosen plan's batch size; each pool's search only looks for plans
    that beat the best pool so far."""
    incumbent: Found | None = None
    for g in np.unique(pm.arcs.pool):
        with only_pool(pm, int(g)):
            f = best_first(Frontier(pm, run, min_throughput(scenario)), ratio_objective,
                           ratio_cap=ratio_cap(scenario), to_beat=incumbent.ratio if incumbent else math.inf)
            if f is not None:
                incumbent = f
    return to_placement(scenario, pm, incumbent, perf, replicas, stands_for) if incumbent else None
