"""Brute-force oracle for tiny instances: enumerate every pipeline (layer split x pool x TP per stage).

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
    """(min objective($/h, tok/s), the pipeline) over all valid pipelines at `batch`, or None."""
    found = [(objective(cost, thr), pipeline) for cost, thr, pipeline in pipelines(scenario, batch, perf)]
    return min(found, key=lambda item: item[0], default=None)


def pipelines(scenario: Scenario, batch: int, perf: PerformanceModel) -> list[tuple[float, float, tuple]]:
    """($/h, tok/s, pipeline) of every valid pipeline at `batch`."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    L = m.num_layers
    options = [(g, t) for g, pool in enumerate(scenario.pools) for t in s.tp_degrees_for(pool.gpu_type)
               if t <= min(pool.count, pool.spec.gpus_per_node) and m.num_heads % t == 0]
    def profile(g: int, t: int, requests: int):
        return perf.stage_profile(m, w, scenario.pools[g].spec, scenario.pools[g].memory_gb, t, requests, s)

    # vLLM runs P stages as P micro-batches of `batch`: time at `batch`, memory (KV cache) at P x batch requests.
    profiles = {(g, t): profile(g, t, batch) for g, t in options}
    in_flight = {(g, t, parts): profile(g, t, parts * batch) for g, t in options
                 for parts in range(1, min(s.max_pipeline_stages, L) + 1)}
    minimum, quantized = min(s.min_layers_per_stage, L), s.segment_quantization == "on"

    def sizes_allowed(sizes: tuple[int, ...]) -> bool:
        """Stages hold >= min_layers_per_stage layers; quantized, all but the last hold a segment size (the last
        absorbs any remainder, even below the minimum)."""
        if len(sizes) == 1:
            return True
        body_ok = all(n >= minimum and (not quantized or n in s.segment_sizes) for n in sizes[:-1])
        return body_ok and sizes[-1] >= (1 if quantized else minimum)

    def floor(g: int, t: int, parts: int, first: bool) -> int:
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

    valid = []
    for parts in range(1, min(s.max_pipeline_stages, L) + 1):
        for sizes in filter(sizes_allowed, compositions(L, parts, 1)):
            for choice in itertools.product(options, repeat=parts):
                if s.vllm_deployable and len({t for _, t in choice}) > 1:
                    continue
                used = {}
                for g, t in choice:
                    used[g] = used.get(g, 0) + t
                if any(used[g] > scenario.pools[g].count for g in used):
                    continue
                thr, cost, ok, ttft, tpot = math.inf, 0.0, True, 0.0, 0.0
                for i, (n, (g, t)) in enumerate(zip(sizes, choice)):
                    p = profiles[(g, t)]
                    first, last = i == 0, i == parts - 1
                    mem = in_flight[g, t, parts].memory_gb(n, first, last)
                    if mem > p.usable_gb or (not last and n < floor(g, t, parts, first)):
                        ok = False
                        break
                    thr = min(thr, p.throughput(n, last) * (1 - s.headroom))
                    ttft += p.prefill_s(n, last)
                    tpot += p.decode_step_s(n, last)
                    cost += t * scenario.pools[g].dollar_per_hour
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
    """Generated tok/s of one oracle pipeline ((size, (pool, tp)) per stage): its slowest stage or link."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    thr = math.inf
    for i, (n, (g, t)) in enumerate(pipeline):
        p = perf.stage_profile(m, w, scenario.pools[g].spec, scenario.pools[g].memory_gb, t, batch, s)
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
