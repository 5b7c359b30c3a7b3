"""Explain an infeasible scenario: which constraint makes it so and what to relax."""

from __future__ import annotations

import math
import time
from dataclasses import replace

from solver.domain.scenario import Scenario
from solver.perf import architecture as arch
from solver.perf.base import PerformanceModel
from solver.placement.candidates import build_arcs
from solver.search.solve import solve

RELAXATIONS = [
    ("settings", "max_hourly_cost", math.inf, "raise max_hourly_cost"),
    ("settings", "max_cost_per_million_token", math.inf, "raise max_cost_per_million_token"),
    ("settings", "max_total_cost", math.inf, "raise max_total_cost"),
    ("settings", "max_total_runtime_hours", math.inf, "raise max_total_runtime_hours"),
    ("workload", "throughput_demand", 0.0, "lower throughput_demand_tokens_per_s"),
    ("workload", "ttft_slo_ms", math.inf, "relax ttft_slo_ms"),
    ("workload", "tpot_slo_ms", math.inf, "relax tpot_slo_ms"),
    ("settings", "max_pipeline_stages", 10**6, "raise max_pipeline_stages"),
    ("settings", "min_layers_per_stage", 1, "lower min_layers_per_stage"),
    ("settings", "min_memory_utilization", 0.0, "lower min_memory_utilization"),
    ("settings", "vllm_deployable", False, "drop --vllm-deployable"),
]


def _relaxed(scenario: Scenario, section: str, name: str, value) -> Scenario:
    part = getattr(scenario, section)
    if getattr(part, name) == value:
        return scenario
    updated = part.model_copy(update={name: value})
    return replace(scenario, **{section: updated})


def _other_relaxations(scenario: Scenario) -> list[tuple[str, Scenario, str]]:
    """Changes beyond single limits: a batch of one request, fp8 weights and KV cache, twice the GPUs."""
    m, w = scenario.model, scenario.workload
    options = []
    if min(w.batch_sizes) > 1:
        options.append(("lower the batch size to 1", replace(scenario, workload=w.model_copy(
            update={"batch_sizes": [1]})), f"currently {', '.join(map(str, w.batch_sizes))}"))
    if m.weight_bytes > 1:
        options.append(("use fp8 weights and KV cache (precision,fp8)", replace(scenario, model=m.model_copy(
            update={"precision": "fp8", "kv_cache_precision": "fp8"})), f"currently {m.precision}"))
    doubled = [p.model_copy(update={"count": 2 * p.count}) for p in scenario.pools]
    options.append(("double every pool's GPU count in gpu_pool.csv", scenario.with_pools(doubled),
                    f"currently {sum(p.count for p in scenario.pools)} GPUs"))
    return options


def explain_infeasible(scenario: Scenario, perf: PerformanceModel, time_limit: float = 30.0) -> str:
    """One paragraph: the binding constraint with numbers, and the fix. The relaxations tried share `time_limit`
    seconds (the user's limit); the paragraph says when they ran out of it."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    batch = min(w.batch_sizes)
    deadline = time.perf_counter() + time_limit
    if len(build_arcs(scenario, batch, perf, enforce_min_utilization=False)) == 0:
        weights = arch.weights_gb(m)
        kv = batch * (w.input_tokens + w.output_tokens) * m.num_layers * arch.kv_bytes_per_token_layer(m) / 1e9
        group = max(scenario.pools, key=lambda p: p.memory_gb * p.max_tp)
        group_gb = group.memory_gb * group.max_tp * s.gpu_memory_utilization
        total_gb = sum(p.memory_gb * p.count for p in scenario.pools) * s.gpu_memory_utilization
        return (f"No pipeline stage fits in memory: the model needs {weights:.1f} GB of weights ({m.precision}) "
                f"plus {kv:.1f} GB of KV cache at batch size {batch}, while even one layer per stage does not fit; "
                f"the largest TP group available holds {group_gb:.1f} GB ({group.max_tp}x {group.gpu_type} at "
                f"gpu_memory_utilization {s.gpu_memory_utilization}) and all GPUs together {total_gb:.1f} GB. "
                "Fix: add GPUs with more memory, lower the batch size, or use a smaller precision (fp8/int4).")
    tries = [(advice, _relaxed(scenario, section, name, value),
              f"currently {getattr(getattr(scenario, section), name)}") for section, name, value, advice in RELAXATIONS]
    fixes, stopped = [], False
    for advice, relaxed, now in tries + _other_relaxations(scenario):
        left = deadline - time.perf_counter()
        if relaxed is scenario:
            continue
        if left <= 0:
            stopped = True
            break
        outcome = solve(relaxed, perf, method="exact", compare=False, time_limit=left)
        if outcome.placement is not None:
            p = outcome.placement
            fixes.append(f"{advice} ({now}): then the best plan costs ${p.dollar_per_hour:.2f}/h for "
                         f"{p.tokens_per_s:,.0f} tok/s (${p.cost_per_million_tokens:.4f} per 1M tokens)")
    cut = " (the diagnosis stopped at the time limit; more relaxations were not tried)" if stopped else ""
    if fixes:
        return ("No placement satisfies every constraint. Each of these alone makes it feasible: "
                + "; ".join(fixes) + "." + cut)
    weights = arch.weights_gb(m)
    total_gb = sum(p.memory_gb * p.count for p in scenario.pools) * s.gpu_memory_utilization
    return (f"No placement satisfies the constraints, and no single change tried helps{cut}: the model needs "
            f"{weights:.1f} GB of weights and the pools hold {total_gb:.1f} GB usable in total. Fix: add GPUs to "
            "gpu_pool.csv or relax several limits at once.")
