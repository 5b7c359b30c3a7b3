"""The cheapest fleet for one demand within the rated candidates (the fleet MILP), its fractional bound, the two
baselines by the same MILP over subsets of the candidates, and the request-level simulation that checks it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from solver.capacity.fleet import FleetInputs, FleetResult, solve_fleet
from solver.capacity.rated import Candidates
from solver.capacity.rates import Stream, load_points
from solver.capacity.simulate import ReplicaGroup, simulate
from solver.domain.capacity import CapacityPlan, Fleet, FleetLine, RequestMix, Saving, SimulationCheck
from solver.domain.errors import InfeasibleError, NoPlanInTime

MAX_CHECK_ROUNDS = 3  # simulate -> lower the rates that were too optimistic -> re-solve, at most this often
SIMULATED_REQUESTS = 3000


def plan_capacity(candidates: Candidates, demand_rps: float, months: float = 1.0, backend: str = "highs",
                  time_limit: float = 60.0, derate: np.ndarray | None = None) -> CapacityPlan:
    """The cheapest fleet for `demand_rps` within the candidates, its fractional bound and both baselines (all with
    the rates scaled by `derate`, types x buckets, when given)."""
    inputs = candidates.inputs(demand_rps, derate)
    deadline = time.perf_counter() + time_limit
    best = solve_fleet(inputs, backend, time_limit)
    if best is None:
        raise _why_no_fleet(candidates, inputs, backend, time_limit)
    relaxed = solve_fleet(inputs, backend, max(deadline - time.perf_counter(), 1.0), integer=False)
    baselines = [_baseline("best single GPU type", candidates, inputs, best, backend, deadline, _single_type_sets),
                 _baseline("identical pipelines", candidates, inputs, best, backend, deadline, _identical_sets)]
    return CapacityPlan(demand_rps=demand_rps, buckets=candidates.buckets, slo=candidates.slo, months=months,
                        fleet=to_fleet(candidates, inputs, best),
                        fractional_bound=relaxed.cost if relaxed else math.nan, baselines=baselines,
                        candidates=candidates.types, candidate_note=candidates.note,
                        calibration=candidates.scenario.calibration)


def to_fleet(candidates: Candidates, inputs: FleetInputs, result: FleetResult) -> Fleet:
    """The MILP's counts and routing as fleet lines with utilisation and predicted latency percentiles."""
    lines = []
    for t in np.flatnonzero(result.counts > 0):
        routed = inputs.demand * result.routing[t]
        served = inputs.rates[t] > 0
        load = float(np.sum(routed[served] / inputs.rates[t, served]))
        utilisation = load / result.counts[t]
        routed_to = [k for k in range(len(candidates.buckets)) if routed[k] > 1e-12]
        points = load_points([Stream(candidates.service[(int(t), k)], candidates.buckets[k].input_tokens,
                                     candidates.buckets[k].output_tokens, routed[k] / result.counts[t],
                                     candidates.buckets[k].longest_prompt)
                              for k in routed_to], candidates.slo.percentile)
        ttft, tpot = [math.nan] * len(candidates.buckets), [math.nan] * len(candidates.buckets)
        for k, point in zip(routed_to, points):
            ttft[k], tpot[k] = point.ttft_s * 1e3, point.tpot_s * 1e3
        lines.append(FleetLine(replica=candidates.types[t], count=int(result.counts[t]), routed_rps=list(routed),
                               utilisation=utilisation, ttft_ms=ttft, tpot_ms=tpot))
    return Fleet(lines=lines, status="optimal" if result.optimal else "feasible", bound=result.bound)


def _single_type_sets(candidates: Candidates) -> list[np.ndarray]:
    kinds = sorted({tuple(t.gpu_types) for t in candidates.types if len(t.gpu_types) == 1})
    return [np.array([tuple(t.gpu_types) == kind for t in candidates.types]) for kind in kinds]


def _identical_sets(candidates: Candidates) -> list[np.ndarray]:
    return [np.arange(len(candidates.types)) == t for t in range(len(candidates.types))]


def _baseline(name: str, candidates: Candidates, inputs: FleetInputs, best: FleetResult, backend: str,
              deadline: float, subsets: Callable[[Candidates], list[np.ndarray]]) -> Saving:
    """The cheapest fleet over each subset of candidates (same MILP), and what the plan saves against it."""
    found: FleetResult | None = None
    for allowed in subsets(candidates):
        result = solve_fleet(inputs, backend, max(deadline - time.perf_counter(), 1.0), allowed=allowed)
        if result is not None and (found is None or result.cost < found.cost):
            found = result
    if found is None:
        return Saving(name=name, fleet=None, saving_fraction=math.nan)
    return Saving(name=name, fleet=to_fleet(candidates, inputs, found), saving_fraction=1 - best.cost / found.cost)


def _why_no_fleet(candidates: Candidates, inputs: FleetInputs, backend: str, time_limit: float) -> Exception:
    """The binding constraint when no fleet meets the demand: a bucket no candidate serves within the SLOs, or
    the pools' GPU counts (with what an unlimited supply would rent)."""
    unserved = [b.name for k, b in enumerate(candidates.buckets) if not (inputs.rates[:, k] > 0).any()]
    if unserved:
        return InfeasibleError(f"no candidate pipeline meets {candidates.slo.describe()} for bucket(s) "
                               f"{', '.join(unserved)}, even at a trickle of requests. Fix: relax --ttft-slo-ms / "
                               f"--tpot-slo-ms or --slo-percentile, or add faster GPUs to gpu_pool.csv.")
    unlimited = FleetInputs(inputs.costs, inputs.rates, inputs.demand, inputs.gpus, np.full_like(inputs.supply, 1e9))
    result = solve_fleet(unlimited, backend, time_limit)
    if result is None:
        return NoPlanInTime("the fleet MILP found no fleet within the time limit. Fix: raise --time-limit.")
    needed = inputs.gpus.T @ result.counts
    short = [f"{needed[p]:.0f} GPUs of pool {pool.name} (it has {pool.count})"
             for p, pool in enumerate(candidates.scenario.pools) if needed[p] > pool.count]
    return InfeasibleError(f"GPU supply binds: the cheapest fleet for {inputs.demand.sum():g} requests/s needs "
                           f"{'; '.join(short)}. Fix: raise those counts in gpu_pool.csv, or lower the demand.")


def plan_and_check(candidates: Candidates, demand_rps: float, months: float = 1.0, backend: str = "highs",
                   time_limit: float = 60.0, mix: RequestMix | None = None, requests: int = SIMULATED_REQUESTS,
                   seed: int = 0) -> CapacityPlan:
    """Plan, then simulate the fleet; where a bucket misses an SLO in simulation, lower the rates of the replica
    types serving it by how far it missed (at least 10%, at most half) and re-solve, up to MAX_CHECK_ROUNDS times.
    The plan returned carries its simulation and says what was lowered, or that the SLOs still do not hold."""
    derate = np.ones((len(candidates.types), len(candidates.buckets)))
    plan = plan_capacity(candidates, demand_rps, months, backend, time_limit)
    plan.simulation = simulate_plan(candidates, plan, mix, requests, seed)
    rounds = 0
    while not plan.simulation.slo_met and rounds < MAX_CHECK_ROUNDS:
        factors = _shortfall(candidates, plan.simulation)
        for line in plan.fleet.lines:
            derate[candidates.position(line.replica)] *= factors
        rounds += 1
        try:
            retry = plan_capacity(candidates, demand_rps, months, backend, time_limit, derate)
        except InfeasibleError:
            break  # the lowered rates need more GPUs than the pools have: keep the plan and say it misses
        retry.simulation = simulate_plan(candidates, retry, mix, requests, seed)
        plan = retry
    q = candidates.slo.percentile
    sim = plan.simulation
    if rounds and sim.slo_met:
        plan.warnings.append(f"the simulation showed the queueing model too optimistic for this mix; rates were "
                             f"lowered and the fleet re-solved {rounds} time(s), after which the SLOs hold in "
                             f"simulation.")
    elif not sim.slo_met:
        plan.warnings.append(f"the SLOs do not hold in simulation ({sim.achieved_rps:.2f} of {demand_rps:g} requests/s "
                             f"served, p{q} TTFT {sim.all_requests.ttft_ms[q]:.0f} ms, p{q} TPOT "
                             f"{sim.all_requests.tpot_ms[q]:.1f} ms) after {rounds} re-solve(s) with lowered rates. "
                             f"Fix: relax the SLOs, or allow more GPUs.")
    return plan


def _shortfall(candidates: Candidates, sim: SimulationCheck) -> np.ndarray:
    """Per bucket: how much to scale the rates of the types serving it (1: it met its SLOs in simulation)."""
    slo, q = candidates.slo, candidates.slo.percentile
    factors = np.ones(len(candidates.buckets))
    for k, measured in enumerate(sim.by_bucket):
        ratios = [target / value for target, value in ((slo.ttft_ms, measured.ttft_ms[q]),
                                                      (slo.tpot_ms, measured.tpot_ms[q]))
                  if math.isfinite(value) and value > target]
        if ratios:
            factors[k] = min(max(min(ratios), 0.5), 0.9)
    if sim.achieved_rps < 0.95 * sim.offered_rps and (factors == 1).all():
        factors[:] = 0.9  # it fell behind without a latency miss in any bucket: lower every rate a little
    return factors


def simulate_plan(candidates: Candidates, plan: CapacityPlan, mix: RequestMix | None = None,
                  requests: int = SIMULATED_REQUESTS, seed: int = 0) -> SimulationCheck:
    """Simulate the plan's fleet at its demand, drawing requests from the mix's rows (default: each bucket's
    representative shape)."""
    buckets = candidates.buckets
    groups = []
    for line in plan.fleet.lines:
        t = candidates.position(line.replica)
        routed = [line.routed_rps[k] > 1e-12 for k in range(len(buckets))]
        service = [candidates.service[(t, k)] if routed[k] else None for k in range(len(buckets))]
        kv = max(candidates.service[(t, k)].max_seqs * (b.input_tokens + b.output_tokens)
                 for k, b in enumerate(buckets) if routed[k])
        groups.append(ReplicaGroup(line.count, service, line.replica.requests_at_once, kv,
                                   [line.routed_rps[k] / (plan.demand_rps * b.share) for k, b in enumerate(buckets)]))
    shapes = mix.rows if mix else [np.array([[b.input_tokens, b.output_tokens]]) for b in buckets]
    return simulate(groups, [b.share for b in buckets], shapes, plan.demand_rps, candidates.slo, requests, seed,
                    candidates.scenario.workload.prefill_chunk_tokens, mix.weights if mix else None)
