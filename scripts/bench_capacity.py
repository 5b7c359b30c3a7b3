"""Capacity planning speed on the older solver's `medium` scenario with the bundled 3-bucket request mix
(configs/workloads/chat-mix.csv): three SLO levels, each planned as a fresh `tokenop-solve capacity` run would
(candidate pipelines from the placement MILP, rates, fleet MILP, both baselines, simulation check), then the same
three levels in one process sharing the candidate searches, then a 20-point demand range. Targets on the 2-core
reference machine: <= 10 s for the three SLO levels, <= 60 s for the 20-point range. Asserts nothing.

    python scripts/bench_capacity.py
"""

from __future__ import annotations

import time

from solver.capacity.candidates import LayoutCache
from solver.capacity.choose import plan_and_check
from solver.capacity.rated import prepare
from solver.capacity.request import CapacityRequest, run_capacity
from solver.domain.capacity import Slo
from solver.loaders.workload_mix import load_mix, resolve_workload

SLO_LEVELS = [(5000.0, 200.0), (3000.0, 150.0), (1500.0, 100.0)]  # (p99 TTFT ms, p99 TPOT ms)
DEMAND_RPS = 1.0
RANGE = "0.1:2.0:0.1"  # 20 points


def fresh_runs() -> float:
    total = 0.0
    for ttft, tpot in SLO_LEVELS:
        start = time.perf_counter()
        [plan] = run_capacity(CapacityRequest(config_dir="medium", demand_rps=str(DEMAND_RPS), workload="chat-mix",
                                              ttft_slo_ms=ttft, tpot_slo_ms=tpot))
        seconds = time.perf_counter() - start
        total += seconds
        print(f"  p99 TTFT <= {ttft:g} ms, TPOT <= {tpot:g} ms: {seconds:.1f} s -> {plan.fleet.composition()} at "
              f"${plan.fleet.dollar_per_hour:.2f}/h, SLOs {'hold' if plan.simulation.slo_met else 'missed'} in "
              f"simulation")
    return total


def shared_runs() -> float:
    from solver import load_scenario

    start = time.perf_counter()
    scenario = load_scenario("medium")
    mix = load_mix(resolve_workload("chat-mix"))
    with LayoutCache() as cache:
        for ttft, tpot in SLO_LEVELS:
            candidates = prepare(scenario, mix.buckets, Slo(ttft_ms=ttft, tpot_ms=tpot), cache=cache)
            plan_and_check(candidates, DEMAND_RPS, mix=mix)
    return time.perf_counter() - start


def demand_range() -> tuple[float, int]:
    start = time.perf_counter()
    plans = run_capacity(CapacityRequest(config_dir="medium", demand_rps=RANGE, workload="chat-mix",
                                         ttft_slo_ms=3000, tpot_slo_ms=150))
    return time.perf_counter() - start, len(plans)


def main() -> None:
    print(f"medium, chat-mix (3 buckets), {DEMAND_RPS:g} requests/s, three SLO levels as three fresh runs:")
    fresh = fresh_runs()
    print(f"three fresh runs: {fresh:.1f} s in all (target 10 s)")
    print(f"three SLO levels in one process, sharing the placement searches: {shared_runs():.1f} s")
    seconds, points = demand_range()
    print(f"demand range {RANGE} requests/s (p99 TTFT <= 3000 ms, TPOT <= 150 ms), each point simulated: "
          f"{points} points in {seconds:.1f} s (target 60 s)")


if __name__ == "__main__":
    main()
