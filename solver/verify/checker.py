"""Independent solution checker: re-verifies every constraint of a placement and recomputes its figures.

It reads only the scenario and the placement (never the MILP or its candidates), so a formulation bug cannot
hide behind itself.
"""

from __future__ import annotations

import math

from solver.domain.placement import Placement, Stage, hourly_cost
from solver.domain.scenario import Scenario
from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.placement.candidates import use_quantization

REL = 1e-6


def check_placement(scenario: Scenario, placement: Placement, perf: PerformanceModel) -> list[str]:
    """Every violated constraint as a sentence; an empty list means the placement is valid."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    pools = {p.name: (i, p) for i, p in enumerate(scenario.pools)}
    problems: list[str] = []
    stages = placement.stages
    if not stages:
        return ["the placement has no stages"]
    if stages[0].first_layer != 0 or stages[-1].end_layer != m.num_layers:
        problems.append(f"layers must run 0..{m.num_layers - 1}, got "
                        f"{stages[0].first_layer}..{stages[-1].end_layer - 1}")
    for a, b in zip(stages, stages[1:]):
        if a.end_layer != b.first_layer:
            problems.append(f"stages leave a gap or overlap at layer {a.end_layer}/{b.first_layer}")
    if len(stages) > s.max_pipeline_stages:
        problems.append(f"{len(stages)} stages exceed max_pipeline_stages {s.max_pipeline_stages}")
    minimum = min(s.min_layers_per_stage, m.num_layers)
    used: dict[str, int] = {}
    for i, st in enumerate(stages):
        if st.pool not in pools:
            problems.append(f"stage {i} uses unknown pool {st.pool}")
            continue
        _, pool = pools[st.pool]
        if st.layers < minimum and i != len(stages) - 1:
            problems.append(f"stage {i} has {st.layers} layers < min_layers_per_stage {minimum}")
        if st.layers <= 0:
            problems.append(f"stage {i} is empty")
        if st.dp == 1 and (st.tp not in s.tp_degrees_for(pool.gpu_type) or st.tp > pool.spec.gpus_per_node
                           or m.num_heads % st.tp):
            problems.append(f"stage {i} TP {st.tp} is not an allowed degree within one node")
        if st.dp > 1:
            problems += expert_parallel_problems(i, st, pool.spec.gpus_per_node, scenario, len(stages))
        used[st.pool] = used.get(st.pool, 0) + st.gpus
    if placement.replicas < 1:
        problems.append(f"{placement.replicas} replicas: need at least one")
    for name, count in used.items():
        if count * placement.replicas > pools[name][1].count:
            problems.append(f"pool {name} uses {count * placement.replicas} GPUs ({placement.replicas} replica(s) "
                            f"x {count}) but has {pools[name][1].count}")
    if problems:
        return problems
    est = Deployment.of_placement(scenario, placement).evaluate(perf, headroom=s.headroom)
    for i, (mem, usable) in enumerate(zip(est.memory_gb_per_gpu, est.usable_gb_per_gpu)):
        if mem > usable * (1 + REL):
            problems.append(f"stage {i} needs {mem:.2f} GB per GPU for the KV cache of "
                            f"{placement.requests_in_flight} requests in flight, only {usable:.2f} GB usable")
    problems += below_segment_floor(scenario, placement, perf)
    cost = hourly_cost(stages, {name: pool for name, (_, pool) in pools.items()})
    if not math.isclose(cost, placement.dollar_per_hour, rel_tol=REL):
        problems.append(f"reported ${placement.dollar_per_hour:.4f}/h but the GPUs cost ${cost:.4f}/h")
    if not math.isclose(est.tokens_per_s, placement.tokens_per_s, rel_tol=REL):
        problems.append(f"reported {placement.tokens_per_s:.3f} tok/s but the pipeline sustains {est.tokens_per_s:.3f}")
    total_cost, total_tokens = placement.replicas * cost, placement.replicas * est.tokens_per_s
    if total_cost > s.max_hourly_cost * (1 + REL):
        problems.append(f"${total_cost:.2f}/h exceeds max_hourly_cost {s.max_hourly_cost}")
    per_million = cost / (est.tokens_per_s * 3600) * 1e6 if est.tokens_per_s > 0 else math.inf
    if s.enforce_cost_target and per_million > s.max_cost_per_million_token * (1 + REL):
        problems.append("cost per 1M tokens exceeds max_cost_per_million_token")
    if total_tokens < w.throughput_demand * (1 - REL):
        problems.append(f"{total_tokens:.1f} tok/s is below the demand {w.throughput_demand}")
    if total_tokens * 3600 * s.max_total_runtime_hours < w.total_tokens_to_process * (1 - REL):
        problems.append(f"{w.total_tokens_to_process:.0f} tokens take longer than max_total_runtime_hours")
    if est.ttft_ms > w.ttft_slo_ms * (1 + REL):
        problems.append(f"TTFT {est.ttft_ms:.1f} ms exceeds ttft_slo_ms {w.ttft_slo_ms}")
    if est.tpot_ms > w.tpot_slo_ms * (1 + REL):
        problems.append(f"TPOT {est.tpot_ms:.2f} ms exceeds tpot_slo_ms {w.tpot_slo_ms}")
    if s.vllm_deployable and len({st.tp for st in stages}) > 1:
        problems.append("vLLM needs one TP degree for every stage")
    return problems


def expert_parallel_problems(i: int, stage: Stage, gpus_per_node: int, scenario: Scenario, stages: int
                             ) -> list[str]:
    """An expert-parallel stage: a mixture-of-experts model with expert parallelism allowed, one stage holding the
    whole model, DP ranks of one GPU, an allowed degree of GPUs inside one node."""
    s, m = scenario.settings, scenario.model
    problems = []
    if not (m.is_moe and s.expert_parallel):
        problems.append(f"stage {i} is expert-parallel (DP {stage.dp}), but the model has no experts or "
                        "expert_parallel is off")
    if stages > 1 or stage.tp != 1:
        problems.append(f"stage {i} is expert-parallel ({stage.layout}) but not one stage of one-GPU ranks")
    if stage.dp not in s.tp_degrees_for(stage.gpu_type) or stage.gpus > gpus_per_node:
        problems.append(f"stage {i} uses {stage.gpus} GPUs, not an allowed degree within one node")
    return problems


def below_segment_floor(scenario: Scenario, placement: Placement, perf: PerformanceModel) -> list[str]:
    """min_memory_utilization as the older solver meant it: every stage but the last holds at least the fewest
    layers (of the sizes its role allows) that use u x its GPUs' memory, or the most that fit when none does."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    if s.min_memory_utilization <= 0 or len(placement.stages) == 1:
        return []
    minimum = min(s.min_layers_per_stage, m.num_layers)
    quantized = use_quantization(scenario)
    sizes = [n for n in range(minimum, m.num_layers - (1 if quantized else minimum) + 1)
             if not quantized or n in s.segment_sizes]
    pools = {p.name: p for p in scenario.pools}
    problems = []
    for i, st in enumerate(placement.stages[:-1]):
        pool = pools[st.pool]
        profile = perf.stage_profile(m, w, pool.spec, pool.memory_gb, st.tp, placement.requests_in_flight, s, st.dp)
        memory = {n: profile.memory_gb(n, i == 0, False) for n in sizes}
        fitting = [n for n in sizes if memory[n] <= profile.usable_gb * (1 + REL)]
        reaching = [n for n in fitting if memory[n] >= s.min_memory_utilization * pool.memory_gb]
        floor = min(reaching) if reaching else max(fitting, default=0)
        if st.layers < floor:
            problems.append(f"stage {i} holds {st.layers} layers, fewer than the {floor} that min_memory_utilization "
                            f"{s.min_memory_utilization} asks of {st.tp}x {pool.gpu_type}")
    return problems
