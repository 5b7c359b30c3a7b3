"""The MILP optimum equals a brute-force oracle; every returned plan passes the independent checker."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from solver.checker import check_placement
from solver.methods import solve
from tests.conftest import make_scenario
from tests.oracle import best_ratio

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
})


def build(catalog, spec):
    return make_scenario(catalog, spec["pools"], layers=spec["layers"], layer_gb=spec["layer_gb"],
                         batch=spec["batch"], settings={"max_pipeline_stages": spec["max_stages"],
                                                         "min_layers_per_stage": spec["min_layers"],
                                                         "inter_node_bandwidth_gbps": spec["inter_node_gbps"],
                                                         "optimality_gap": 1e-9})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=instance)
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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=instance)
def test_every_method_returns_checked_plans_no_better_than_exact(catalog, perf, spec):
    scenario = build(catalog, spec)
    exact = solve(scenario, perf, method="exact", compare=False).placement
    for method in ("enumeration", "weighted", "throughput"):
        p = solve(scenario, perf, method=method, compare=False).placement
        assert (p is None) == (exact is None)
        if p is not None:
            assert check_placement(scenario, p, perf) == []
            assert p.cost_per_million_tokens >= exact.cost_per_million_tokens * (1 - 1e-9)


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
