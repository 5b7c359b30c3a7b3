"""Brute-force oracle for tiny instances: enumerate every pipeline (layer split x pool x TP per stage, and for
mixture-of-experts models the expert-parallel single stages of DP one-GPU ranks).

Independent of the candidates, the formulation and the solvers: it asks the performance model for each stage
and applies the constraints directly.
"""

from __future__ import annotations

import itertools
import math

from solver.domain.scenario import Scenario
from solver.perf.base import PerformanceModel
from solver.perf.estimate import link_batch_time_s


def compositions(total: int, parts: int, minimum: int):
    if parts == 1:
        if total >= minimum:
            yield (total,)
        return
    for first in range(minimum, total - minimum * (parts - 1) + 1):
        for rest in compositions(total - first, parts - 1, minimum):
            yield (first, *rest)


def best_ratio(scenario: Scenario, batch: int, perf: PerformanceModel) -> tuple[float, tuple] | None:
    """(min $/h per tok/s, the pipeline) over all valid pipelines at `batch`, or None when none is valid."""
    return best_of(scenario, batch, perf, lambda cost, thr: cost / thr)


def best_of(scenario: Scenario, batch: int, perf: PerformanceModel, objective) -> tuple[float, tuple] | None:
    """(min objective($/h, tok/s), the pipeline) over all valid pipelines at `batch` and at the smaller batches
    that stand in for it where its KV cache rules a stage out (kv_stand_ins), or None."""
    found = [(objective(cost, thr), pipeline) for b in [batch, *kv_stand_ins(scenario, batch, perf)]
             for cost, thr, pipeline in pipelines(scenario, b, perf)]
    return min(found, key=lambda item: item[0], default=None)


def kv_stand_ins(scenario: Scenario, batch: int, perf: PerformanceModel) -> list[int]:
    """Powers of two below `batch` (not themselves asked) at which some stage - its layers, position, pool, TP
    and pipeline depth - fits memory but does not at `batch`: vLLM would run a placement using it at that lower
    concurrency rather than refuse it."""
    asked = scenario.workload.batch_sizes
    lower = max((b for b in asked if b < batch), default=0)
    smaller = [c for c in (2 ** i for i in range(batch.bit_length())) if lower < c < batch and c not in asked]
    fits_at = {b: stage_kinds_fitting(scenario, b, perf) for b in [batch, *smaller]}
    return [c for c in smaller if fits_at[c] - fits_at[batch]]


def memory_rules(scenario: Scenario, batch: int, perf: PerformanceModel):
    """(options, sizes_allowed, fits): the (pool, (TP, DP)) choices, which stage sizes a pipeline may have, and
    whether a stage of n layers on (pool g, layout t) at a position of a `parts`-stage pipeline fits memory (the KV
    cache of parts x batch requests) and the older solver's minimum segment size. An expert-parallel layout (DP > 1)
    only ever holds the whole model alone."""
    m, s = scenario.model, scenario.settings
    L = m.num_layers
    options = [(g, (t, 1)) for g, pool in enumerate(scenario.pools) for t in s.tp_degrees_for(pool.gpu_type)
               if t <= min(pool.count, pool.spec.gpus_per_node) and m.num_heads % t == 0]
    if m.num_experts and s.expert_parallel:
        options += [(g, (1, d)) for g, pool in enumerate(scenario.pools) for d in s.tp_degrees_for(pool.gpu_type)
                    if 1 < d <= min(pool.count, pool.spec.gpus_per_node)]
    in_flight = {(g, t, parts): perf.stage_profile(m, scenario.workload, scenario.pools[g].spec,
                                                   scenario.pools[g].memory_gb, t[0], parts * batch, s, t[1])
                 for g, t in options for parts in range(1, min(s.max_pipeline_stages, L) + 1)}
    minimum, quantized = min(s.min_layers_per_stage, L), s.segment_quantization == "on"

    def sizes_allowed(sizes: tuple[int, ...]) -> bool:
        """Stages hold >= min_layers_per_stage layers; quantized, all but the last hold a segment size (the last
        absorbs any remainder, even below the minimum)."""
        if len(sizes) == 1:
            return True
        body_ok = all(n >= minimum and (not quantized or n in s.segment_sizes) for n in sizes[:-1])
        return body_ok and sizes[-1] >= (1 if quantized else minimum)

    def floor(g: int, t: tuple[int, int], parts: int, first: bool) -> int:
        """The older solver's minimum segment size: the fewest layers (of the sizes a non-last stage may hold)
        that use min_memory_utilization of the GPU's memory, or the most that fit when none does."""
        if not s.min_memory_utilization or parts == 1:
            return 0
        profile = in_flight[g, t, parts]
        body = [n for n in range(minimum, L - (1 if quantized else minimum) + 1)
                if not quantized or n in s.segment_sizes]
        fitting = [n for n in body if profile.memory_gb(n, first, False) <= profile.usable_gb]
        target = s.min_memory_utilization * scenario.pools[g].memory_gb
        reaching = [n for n in fitting if profile.memory_gb(n, first, False) >= target]
        return min(reaching) if reaching else max(fitting, default=0)

    def fits(n: int, g: int, t: tuple[int, int], parts: int, first: bool, last: bool) -> bool:
        if t[1] > 1 and parts > 1:
            return False
        profile = in_flight[g, t, parts]
        return profile.memory_gb(n, first, last) <= profile.usable_gb and (last or n >= floor(g, t, parts, first))

    return options, sizes_allowed, fits


def stage_kinds_fitting(scenario: Scenario, batch: int, perf: PerformanceModel) -> set[tuple]:
    """(layers, first, last, pool, (TP, DP), depth) of every stage kind that fits memory: at each depth, a single stage
    of all layers (depth 1), or a first, middle (depth >= 3) or last stage of any size such a stage may have."""
    L, s = scenario.model.num_layers, scenario.settings
    options, _, fits = memory_rules(scenario, batch, perf)
    minimum, quantized = min(s.min_layers_per_stage, L), s.segment_quantization == "on"
    body = [n for n in range(minimum, L - (1 if quantized else minimum) + 1) if not quantized or n in s.segment_sizes]
    tail = list(range(1 if quantized else minimum, L - minimum + 1))
    kinds = {(L, True, True, g, t, 1) for g, t in options if fits(L, g, t, 1, True, True)}
    for parts in range(2, min(s.max_pipeline_stages, L) + 1):
        positions = [(True, False, body), (False, True, tail)] + ([(False, False, body)] if parts >= 3 else [])
        kinds |= {(n, first, last, g, t, parts) for first, last, sizes in positions for n in sizes
                  for g, t in options if fits(n, g, t, parts, first, last)}
    return kinds


def pipelines(scenario: Scenario, batch: int, perf: PerformanceModel) -> list[tuple[float, float, tuple]]:
    """($/h, tok/s, pipeline) of every valid pipeline at `batch`."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    L = m.num_layers
    options, sizes_allowed, fits = memory_rules(scenario, batch, perf)
    # vLLM runs P stages as P micro-batches of `batch`: time at `batch`, memory (KV cache) at P x batch requests.
    profiles = {(g, t): perf.stage_profile(m, w, scenario.pools[g].spec, scenario.pools[g].memory_gb, t[0], batch,
                                           s, t[1]) for g, t in options}

    valid = []
    for parts in range(1, min(s.max_pipeline_stages, L) + 1):
        for sizes in filter(sizes_allowed, compositions(L, parts, 1)):
            for choice in itertools.product(options, repeat=parts):
                if s.vllm_deployable and len({t for _, (t, _) in choice}) > 1:
                    continue
                used = {}
                for g, (t, d) in choice:
                    used[g] = used.get(g, 0) + t * d
                if any(used[g] > scenario.pools[g].count for g in used):
                    continue
                thr, cost, ok, ttft, tpot = math.inf, 0.0, True, 0.0, 0.0
                for i, (n, (g, t)) in enumerate(zip(sizes, choice)):
                    p = profiles[(g, t)]
                    first, last = i == 0, i == parts - 1
                    if not fits(n, g, t, parts, first, last):
                        ok = False
                        break
                    thr = min(thr, p.throughput(n, last) * (1 - s.headroom))
                    ttft += p.prefill_s(n, last)
                    tpot += p.decode_step_s(n, last)
                    cost += t[0] * t[1] * scenario.pools[g].dollar_per_hour
                if not ok:
                    continue
                for (g, _), (h, _) in zip(choice, choice[1:]):
                    seconds, prefill_s, step_s = link_batch_time_s(w, m, batch, scenario.bandwidth_gbps[g, h],
                                                                   s.link_latency_us * 1e-6)
                    thr = min(thr, batch * w.output_tokens * (1 - s.headroom) / seconds)
                    ttft, tpot = ttft + prefill_s, tpot + step_s
                if cost > s.max_hourly_cost or ttft * 1e3 > w.ttft_slo_ms or tpot * 1e3 > w.tpot_slo_ms:
                    continue
                if thr < w.throughput_demand * (1 - 1e-9):
                    continue
                valid.append((cost, thr, tuple(zip(sizes, choice))))
    return valid


def throughput_of(scenario: Scenario, batch: int, perf: PerformanceModel, pipeline: tuple) -> float:
    """Generated tok/s of one oracle pipeline ((size, (pool, (tp, dp))) per stage): its slowest stage or link."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    thr = math.inf
    for i, (n, (g, (t, d))) in enumerate(pipeline):
        p = perf.stage_profile(m, w, scenario.pools[g].spec, scenario.pools[g].memory_gb, t, batch, s, d)
        thr = min(thr, p.throughput(n, i == len(pipeline) - 1) * (1 - s.headroom))
    for (_, (g, _)), (_, (h, _)) in zip(pipeline, pipeline[1:]):
        seconds = link_batch_time_s(w, m, batch, scenario.bandwidth_gbps[g, h], s.link_latency_us * 1e-6)[0]
        thr = min(thr, batch * w.output_tokens * (1 - s.headroom) / seconds)
    return thr


# What the property tests reached: printed after the run (tests/conftest.py), so a strategy that stops reaching the
# hard cases shows.
CASES = {"instances": 0, "feasible": 0, "multi-stage optimum": 0, "mixed-GPU-type optimum": 0}


def record_case(oracle: tuple[float, tuple] | None) -> None:
    CASES["instances"] += 1
    if oracle is None:
        return
    pipeline = oracle[1]
    CASES["feasible"] += 1
    CASES["multi-stage optimum"] += len(pipeline) > 1
    CASES["mixed-GPU-type optimum"] += len({g for _, (g, _) in pipeline}) > 1
