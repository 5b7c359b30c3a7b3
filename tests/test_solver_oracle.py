"""The MILP optimum equals a brute-force oracle; every returned plan passes the independent checker."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.perf.deployment import Deployment
from solver.placement.assemble import placement_from_stages
from solver.placement.candidates import build_arcs
from solver.placement.model import build_model
from solver.search.frontier import Frontier
from solver.search.objectives import best_first, ratio_objective, weighted_objective
from solver.search.runner import Runner
from solver.search.solve import solve
from solver.verify.checker import check_placement
from tests.conftest import make_scenario
from tests.oracle import best_of, best_ratio, record_case, throughput_of

GPU_TYPES = ["L4", "T4", "A10", "V100"]

pool_strategy = st.tuples(st.sampled_from(GPU_TYPES), st.integers(0, 3), st.sampled_from([8.0, 16.0, 24.0]),
                          st.sampled_from([0.35, 0.7, 0.9, 1.3]))
instance = st.fixed_dictionaries({
    "pools": st.lists(pool_strategy, min_size=1, max_size=2, unique_by=lambda p: p[0]),
    "layers": st.integers(2, 5),
    "layer_gb": st.sampled_from([0.5, 3.0, 6.0, 12.0]),
    "batch": st.sampled_from([1, 4, 16]),
    "max_stages": st.integers(1, 4),
    "min_layers": st.integers(1, 2),
    "inter_node_gbps": st.sampled_from([25.0, 0.01, 0.0005]),
    "min_utilization": st.sampled_from([0.0, 0.0, 0.3]),
    "quantization": st.sampled_from(["off", "off", "on"]),
    "vllm_deployable": st.booleans(),
    "ttft_slo_ms": st.sampled_from([math.inf, math.inf, 300.0, 3000.0]),
    "tpot_slo_ms": st.sampled_from([math.inf, math.inf, 20.0, 80.0]),
    "input_tokens": st.sampled_from([256, 256, 16384]),  # long prompts: the KV cache of P x batch requests binds
})

# Instances biased to the hard cases: two GPU types of one to three 8-16 GB GPUs and layers of 3-4 GB, so the model
# rarely fits one GPU (multi-stage optima) and often needs both types (mixed optima), and long prompts make the KV
# cache of P x batch requests bind (the pipeline-depth windows).
hard = st.fixed_dictionaries({
    "pools": st.lists(st.tuples(st.sampled_from(GPU_TYPES), st.sampled_from([1, 1, 2, 3]),
                                st.sampled_from([8.0, 16.0]), st.sampled_from([0.35, 0.7, 0.9, 1.3])),
                      min_size=2, max_size=2, unique_by=lambda p: p[0]),
    "layers": st.integers(4, 6),
    "layer_gb": st.sampled_from([3.0, 4.0]),
    "batch": st.sampled_from([1, 4, 16]),
    "max_stages": st.integers(2, 4),
    "min_layers": st.integers(1, 2),
    "inter_node_gbps": st.sampled_from([25.0, 25.0, 0.01]),
    "min_utilization": st.sampled_from([0.0, 0.0, 0.3]),
    "quantization": st.sampled_from(["off", "off", "on"]),
    "vllm_deployable": st.sampled_from([False, False, True]),
    "ttft_slo_ms": st.sampled_from([math.inf, math.inf, 3000.0]),
    "tpot_slo_ms": st.sampled_from([math.inf, math.inf, 80.0]),
    "input_tokens": st.sampled_from([256, 4096, 16384]),
    "tp_degrees": st.sampled_from([[1], [1, 2]]),
})
cases = st.one_of(instance, hard, hard)


def build(catalog, spec, workload: dict | None = None, settings: dict | None = None):
    return make_scenario(catalog, spec["pools"], layers=spec["layers"], layer_gb=spec["layer_gb"],
                         batch=spec["batch"], settings=(settings or {}) | {"max_pipeline_stages": spec["max_stages"],
                                                         "min_layers_per_stage": spec["min_layers"],
                                                         "inter_node_bandwidth_gbps": spec["inter_node_gbps"],
                                                         "min_memory_utilization": spec["min_utilization"],
                                                         "segment_quantization": spec["quantization"],
                                                         "segment_sizes": [1, 3],
                                                         "tp_degrees": spec.get("tp_degrees", [1, 2]),
                                                         "vllm_deployable": spec["vllm_deployable"],
                                                         "optimality_gap": 1e-9},
                         workload={"ttft_slo_ms": spec["ttft_slo_ms"], "tpot_slo_ms": spec["tpot_slo_ms"],
                                   "input_tokens": spec["input_tokens"]} | (workload or {}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=cases)
def test_exact_matches_brute_force_and_passes_checker(catalog, perf, spec):
    scenario = build(catalog, spec)
    oracle = best_ratio(scenario, spec["batch"], perf)
    outcome = solve(scenario, perf, method="exact", compare=False)
    if oracle is None:
        assert outcome.placement is None
        return
    p = outcome.placement
    assert p is not None, f"oracle found {oracle[1]}"
    assert check_placement(scenario, p, perf) == []
    assert math.isclose(p.dollar_per_hour / p.tokens_per_s, oracle[0], rel_tol=1e-6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=cases)
def test_every_method_matches_the_oracle(catalog, perf, spec):
    """exact, weighted and throughput reach the oracle's optimum of their own objective; enumeration (the older
    heuristic) returns a valid plan no cheaper per token than exact. The share of hard optima is reported."""
    scenario = build(catalog, spec)
    batch = spec["batch"]
    oracle = best_ratio(scenario, batch, perf)
    record_case(oracle)
    plans = {method: solve(scenario, perf, method=method, compare=False).placement for method in
             ("exact", "weighted", "throughput", "enumeration")}
    if oracle is None:
        assert all(p is None for p in plans.values())
        return
    for method, p in plans.items():
        assert p is not None, method
        assert check_placement(scenario, p, perf) == [], method
    assert math.isclose(plans["exact"].dollar_per_hour / plans["exact"].tokens_per_s, oracle[0], rel_tol=1e-6)
    weighted = weighted_objective(scenario)
    best_weighted = best_of(scenario, batch, perf, weighted)[0]
    got = weighted(plans["weighted"].dollar_per_hour, plans["weighted"].tokens_per_s)
    assert math.isclose(got, best_weighted, rel_tol=1e-6, abs_tol=1e-9)
    fastest = -best_of(scenario, batch, perf, lambda cost, thr: -thr)[0]
    assert math.isclose(plans["throughput"].tokens_per_s, fastest, rel_tol=1e-6)
    enumeration = plans["enumeration"]
    assert enumeration.dollar_per_hour / enumeration.tokens_per_s >= oracle[0] * (1 - 1e-9)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=instance, method=st.sampled_from(["exact", "enumeration"]))
def test_batch_sweep_finds_the_best_batch_and_exact_baseline(catalog, perf, spec, method):
    """Batches are searched with the best plan so far as a bound: the answer is still the oracle's best."""
    scenario = build(catalog, spec)
    batches = [1, 4, 16]
    scenario = replace(scenario, workload=scenario.workload.model_copy(update={"batch_sizes": batches}))
    oracles = [best_ratio(scenario, b, perf) for b in batches]
    best = min((o[0] for o in oracles if o is not None), default=None)
    outcome = solve(scenario, perf, method=method)
    if best is None:
        assert outcome.placement is None and outcome.exact is None
        return
    assert check_placement(scenario, outcome.exact, perf) == []
    assert math.isclose(outcome.exact.dollar_per_hour / outcome.exact.tokens_per_s, best, rel_tol=1e-6)
    for entry, oracle in zip(outcome.batches, oracles):
        assert (oracle is None) <= (entry.placement is None)  # no plan where the oracle has none
        if entry.exact_cost_per_million_tokens is not None:
            assert math.isclose(entry.exact_cost_per_million_tokens, oracle[0] / 3600 * 1e6, rel_tol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=instance, factor=st.sampled_from([0.5, 0.97, 1.03, 2.0]))
def test_search_with_a_bound_finds_exactly_the_plans_that_beat_it(catalog, perf, spec, factor):
    """best_first(to_beat=v) returns the optimum when it is below v and nothing otherwise (batch pruning)."""
    scenario = build(catalog, spec)
    arcs = build_arcs(scenario, spec["batch"], perf)
    if len(arcs) == 0:
        return
    pm = build_model(scenario, arcs)
    run = Runner("highs", 60, 1e-9)
    optimum = best_first(Frontier(pm, run, 0.0), ratio_objective)
    if optimum is None:
        return
    bounded = best_first(Frontier(pm, run, 0.0), ratio_objective, to_beat=optimum.ratio * factor)
    if factor < 1:
        assert bounded is None
    else:
        assert bounded is not None and math.isclose(bounded.ratio, optimum.ratio, rel_tol=1e-9)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=instance, factor=st.sampled_from([0.6, 1.5, 2.5, 4.0]))
def test_demand_beyond_one_pipeline_is_served_by_identical_replicas(catalog, perf, spec, factor):
    """With a demand, the answer is the best over r of r copies of a pipeline on a 1/r share of every pool."""
    spec = {**spec, "ttft_slo_ms": math.inf, "tpot_slo_ms": math.inf,
            "pools": [(g, 2 * c, mem, price) for g, c, mem, price in spec["pools"]]}
    single = best_ratio(build(catalog, spec), spec["batch"], perf)
    if single is None:
        return
    demand = factor * throughput_of(build(catalog, spec), spec["batch"], perf, single[1])
    options = []
    for r in range(1, 5):
        share = {**spec, "pools": [(g, c // r, mem, price) for g, c, mem, price in spec["pools"]]}
        scenario_r = build(catalog, share, workload={"throughput_demand": demand / r})
        found = best_ratio(scenario_r, spec["batch"], perf)
        if found is not None:
            options.append((found[0], r))
    scenario = build(catalog, spec, workload={"throughput_demand": demand},
                     settings={"max_replicas": 4})
    outcome = solve(scenario, perf, method="exact", compare=False)
    if not options:
        assert outcome.placement is None
        return
    p = outcome.placement
    assert check_placement(scenario, p, perf) == []
    assert p.total_tokens_per_s >= demand * (1 - 1e-9)
    assert math.isclose(p.dollar_per_hour / p.tokens_per_s, min(options)[0], rel_tol=1e-6)


@pytest.mark.parametrize("backend", ["ortools", "pulp"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=instance)
def test_backends_agree_with_highs(catalog, perf, spec, backend):
    scenario = build(catalog, spec)
    reference = solve(scenario, perf, method="exact", compare=False).placement
    other = solve(scenario, perf, method="exact", backend=backend, compare=False).placement
    assert (reference is None) == (other is None)
    if reference is not None:
        assert check_placement(scenario, other, perf) == []
        assert math.isclose(other.cost_per_million_tokens, reference.cost_per_million_tokens, rel_tol=1e-6)


def test_throughput_method_maximises_tokens_under_budget(catalog, perf):
    scenario = make_scenario(catalog, [("L4", 2, 24, 0.7), ("T4", 4, 16, 0.35)], layers=4, layer_gb=3.0,
                             settings={"max_hourly_cost": 1.5})
    p = solve(scenario, perf, method="throughput", compare=False).placement
    assert p.dollar_per_hour <= 1.5 + 1e-9
    assert check_placement(scenario, p, perf) == []
    cheap = solve(scenario, perf, method="exact", compare=False).placement
    assert p.tokens_per_s >= cheap.tokens_per_s


def test_checker_catches_a_broken_placement(catalog, perf):
    scenario = make_scenario(catalog, [("L4", 2, 24, 0.7)], layers=4)
    p = solve(scenario, perf, method="exact", compare=False).placement
    p.stages[0].tp = 4  # more GPUs than the pool has
    problems = check_placement(scenario, p, perf)
    assert any("TP 4" in text or "uses 4 GPUs" in text for text in problems)


def test_memory_infeasible_instance_is_reported_infeasible(catalog, perf):
    scenario = make_scenario(catalog, [("T4", 1, 16, 0.35)], layers=4, layer_gb=12.0)
    assert best_ratio(scenario, 4, perf) is None
    assert solve(scenario, perf, method="exact", compare=False).placement is None


def test_every_stage_holds_the_kv_cache_of_all_micro_batches(catalog, perf):
    """vLLM runs P stages as P micro-batches of the batch: every stage holds the KV cache of P x batch requests.
    Two L4 stages of 2 layers hold 256 long requests but not 512: at batch 256 the only plan is one TP2 stage,
    the checker rejects the two-stage plan a per-stage memory check would have accepted, and the optimum (as
    the oracle says) is a pipeline that vLLM runs at a lower concurrency than asked (KV-limited)."""
    scenario = make_scenario(catalog, [("L4", 4, 24.0, 0.7)], layers=4, layer_gb=6.0, batch=256,
                             settings={"max_pipeline_stages": 4}, workload={"input_tokens": 16384})
    outcome = solve(scenario, perf, method="exact", compare=False)
    at_asked = next(b.placement for b in outcome.batches if b.batch == 256)
    assert [(s.tp, s.layers) for s in at_asked.stages] == [(2, 4)] and at_asked.requests_in_flight == 256
    p = outcome.placement
    assert p.kv_limited and p.requested_batch_size == 256 and p.batch_size < 256
    assert check_placement(scenario, p, perf) == []
    assert math.isclose(p.dollar_per_hour / p.tokens_per_s, best_ratio(scenario, 256, perf)[0], rel_tol=1e-6)
    two_stages = placement_from_stages(scenario, [(0, 2, 0, 1, 1), (2, 4, 0, 1, 1)], 256, perf)
    assert two_stages.requests_in_flight == 512
    assert any("512 requests in flight" in problem for problem in check_placement(scenario, two_stages, perf))


def test_a_kv_limited_plan_is_what_vllm_runs_at_the_batch_asked(catalog, perf):
    """The planner never drops a placement for KV reasons: the KV-limited plan's figures are those of the
    concurrency its KV cache holds, and predicting the same stages at the batch asked (as `predict` and vLLM do)
    finds them KV-limited, at no fewer requests at once and no lower throughput."""
    scenario = make_scenario(catalog, [("L4", 4, 24.0, 0.7)], layers=4, layer_gb=6.0, batch=256,
                             settings={"max_pipeline_stages": 4}, workload={"input_tokens": 16384})
    p = solve(scenario, perf, method="exact", compare=False).placement
    assert p.kv_limited
    own = Deployment.of_placement(scenario, p).evaluate(perf)
    assert own.fits and math.isclose(own.tokens_per_s, p.tokens_per_s / (1 - scenario.settings.headroom),
                                     rel_tol=1e-6)
    asked = Deployment.of_stages(scenario, p.stages, p.requested_batch_size * p.pipeline_stages).evaluate(perf)
    assert not asked.fits and p.requests_in_flight <= asked.concurrency < p.requested_batch_size * p.pipeline_stages
    assert asked.tokens_per_s >= own.tokens_per_s * (1 - 1e-9)
