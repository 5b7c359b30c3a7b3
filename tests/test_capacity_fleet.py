"""The fleet MILP against a brute-force oracle, and a constructed case where mixing GPU types must win.

The oracle enumerates every vector of replica counts up to a bound, checks the GPU supply, and asks a linear
program (scipy's linprog, no integers) whether the demand can be routed onto those copies; the cheapest feasible
vector is the optimum. It shares no code with solver.capacity.fleet.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog

from solver.capacity.choose import plan_capacity
from solver.capacity.fleet import FleetInputs, solve_fleet
from solver.capacity.rated import Candidates
from solver.domain.capacity import Bucket, ReplicaType, Slo
from solver.domain.errors import InfeasibleError
from solver.domain.placement import Stage
from solver.loaders.catalog import load_catalog
from solver.perf.service import ServiceTimes
from tests.conftest import make_scenario

MAX_COPIES = 5


def routable(inputs: FleetInputs, counts: tuple[int, ...]) -> bool:
    """Is there a routing x (every bucket's fractions sum to 1, each type's load within its copies)?"""
    types, buckets = inputs.rates.shape
    pairs = [(t, b) for t in range(types) for b in range(buckets) if inputs.rates[t, b] > 0 and counts[t] > 0]
    if {b for _, b in pairs} != set(range(buckets)):
        return False
    a_eq = np.zeros((buckets, len(pairs)))
    a_ub = np.zeros((types, len(pairs)))
    for j, (t, b) in enumerate(pairs):
        a_eq[b, j] = 1.0
        a_ub[t, j] = inputs.demand[b] / inputs.rates[t, b]
    result = linprog(np.zeros(len(pairs)), A_ub=a_ub, b_ub=np.array(counts, dtype=float) + 1e-9, A_eq=a_eq,
                     b_eq=np.ones(buckets), bounds=(0, 1), method="highs-ds")
    return result.status == 0


def oracle(inputs: FleetInputs) -> float:
    best = math.inf
    for counts in itertools.product(range(MAX_COPIES + 1), repeat=len(inputs.costs)):
        cost = float(np.dot(counts, inputs.costs))
        if cost >= best - 1e-9 or np.any(inputs.gpus.T @ np.array(counts) > inputs.supply):
            continue
        if routable(inputs, counts):
            best = cost
    return best


def random_instance(rng: np.random.Generator) -> FleetInputs:
    types, buckets, pools = int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
    rates = rng.uniform(0.5, 4.0, (types, buckets)) * (rng.random((types, buckets)) > 0.3)
    gpus = rng.integers(0, 3, (types, pools)).astype(float)
    gpus[gpus.sum(axis=1) == 0, 0] = 1
    return FleetInputs(costs=np.round(rng.uniform(1, 10, types) * gpus.sum(axis=1), 2), rates=rates,
                       demand=rng.uniform(0.5, 6.0, buckets), gpus=gpus,
                       supply=rng.integers(2, 12, pools).astype(float))


@pytest.mark.parametrize("backend", ["highs", "ortools", "pulp"])
def test_fleet_milp_matches_the_brute_force_oracle(backend):
    rng = np.random.default_rng(7)
    checked = feasible = 0
    for _ in range(40 if backend == "highs" else 12):
        inputs = random_instance(rng)
        want = oracle(inputs)
        got = solve_fleet(inputs, backend)
        checked += 1
        if math.isinf(want):
            # no fleet within MAX_COPIES copies; the MILP may still find one with more copies
            assert got is None or got.counts.max() > MAX_COPIES
            continue
        feasible += 1
        assert got is not None, inputs
        assert got.cost == pytest.approx(want, rel=1e-6), (inputs, got.counts)
        # the independent checker: the MILP's own counts and routing satisfy every constraint
        assert np.allclose(got.routing.sum(axis=0), 1.0, atol=1e-6)
        load = (got.routing * inputs.demand / np.where(inputs.rates > 0, inputs.rates, np.inf)).sum(axis=1)
        assert np.all(load <= got.counts + 1e-6)
        assert np.all(inputs.gpus.T @ got.counts <= inputs.supply + 1e-9)
    assert feasible >= checked // 3  # the instances reach feasible fleets, not only empty answers


def constructed_candidates() -> Candidates:
    """Two replica types: a cheap one that serves short requests well and long ones not at all (its KV cache
    cannot hold them), and an expensive one that serves both. Short requests dominate the demand."""
    scenario = make_scenario(load_catalog(), [("L4", 16, 24, 0.8), ("H100", 16, 80, 4.0)])
    short, long = Bucket(name="short", input_tokens=256, output_tokens=128, share=0.8), \
        Bucket(name="long", input_tokens=16000, output_tokens=256, share=0.2)
    small = ServiceTimes.linear(0.02, 0.04, 64, 2e-5, 64)
    big = ServiceTimes.linear(0.01, 0.02, 64, 1e-5, 128)

    def replica(name: str, gpu: str, cost: float, rates: list[float]) -> ReplicaType:
        return ReplicaType(name=name, stages=[Stage(pool=gpu, gpu_type=gpu, tp=1, first_layer=0, end_layer=4)],
                           dollar_per_hour=cost, gpus={gpu: 1}, max_num_seqs=64, rate_rps=rates, origin="test")

    types = [replica("R1", "L4", 0.8, [2.0, 0.0]), replica("R2", "H100", 4.0, [4.0, 1.0])]
    service = {(0, 0): small, (0, 1): small, (1, 0): big, (1, 1): big}
    return Candidates(scenario, [short, long], Slo(ttft_ms=2000, tpot_ms=100), types, service, "constructed")


def test_mixing_gpu_types_beats_a_single_type_and_identical_pipelines():
    plan = plan_capacity(constructed_candidates(), demand_rps=10.0)
    # short 8 req/s, long 2 req/s. Mixed: long on 2 x R2 ($8); short on 4 x R1 ($3.2) -> $11.2/h.
    # Only H100 (= identical R2 pipelines): 8/4 + 2/1 = 4 copies -> $16/h. R1 alone cannot serve long requests.
    assert plan.fleet.dollar_per_hour == pytest.approx(11.2)
    assert {line.replica.name: line.count for line in plan.fleet.lines} == {"R1": 4, "R2": 2}
    baselines = {s.name: s for s in plan.baselines}
    assert baselines["best single GPU type"].fleet.dollar_per_hour == pytest.approx(16.0)
    assert baselines["identical pipelines"].fleet.dollar_per_hour == pytest.approx(16.0)
    assert baselines["best single GPU type"].saving_fraction == pytest.approx(0.3)
    assert plan.fractional_bound <= plan.fleet.dollar_per_hour + 1e-9
    assert plan.fleet.status == "optimal"


def test_gpu_supply_binds_with_a_message_naming_the_pool():
    candidates = constructed_candidates()
    with pytest.raises(InfeasibleError, match=r"needs .* GPUs of pool H100 \(it has 16\)"):
        plan_capacity(candidates, demand_rps=200.0)


def test_a_bucket_no_candidate_serves_is_named():
    candidates = constructed_candidates()
    candidates.types[1].rate_rps[1] = 0.0
    with pytest.raises(InfeasibleError, match="for bucket\\(s\\) long"):
        plan_capacity(candidates, demand_rps=1.0)
