"""Evaluate a whole pipeline: throughput (slowest stage or link), TTFT, TPOT, memory and what bounds it.

Used by `predict`, by the independent solution checker and by validation reports; the MILP's candidate arcs are
built separately (solver/candidates.py) so the checker re-derives every number on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from solver.catalog import GpuSpec
from solver.config import ModelArch, Settings, Workload
from solver.perf.base import CATEGORIES, PerformanceModel

ACTIVATION_BYTES = 2


@dataclass(frozen=True)
class StageSpec:
    """One pipeline stage: layers [first_layer, end_layer) on `tp` GPUs of one pool."""

    pool: str
    spec: GpuSpec
    memory_gb: float
    tp: int
    first_layer: int
    end_layer: int

    @property
    def layers(self) -> int:
        return self.end_layer - self.first_layer


@dataclass(frozen=True)
class PipelineEstimate:
    batch_size: int
    concurrency: int
    tokens_per_s: float
    ttft_ms: float
    tpot_ms: float
    stage_tokens_per_s: list[float]
    link_tokens_per_s: list[float]
    memory_gb_per_gpu: list[float]
    usable_gb_per_gpu: list[float]
    fits: bool
    bound: str


def link_batch_time_s(workload: Workload, model: ModelArch, batch: int, bandwidth_gbps: float,
                      latency_s: float) -> tuple[float, float, float]:
    """Activation transfer between two stages: (whole batch, prefill part, one decode step) in seconds."""
    per_token = model.d_model * ACTIVATION_BYTES / (bandwidth_gbps * 1e9)
    prefill = batch * workload.input_tokens * per_token + latency_s
    step = batch * per_token + latency_s
    return prefill + workload.output_tokens * step, prefill, step


def evaluate_pipeline(model: ModelArch, workload: Workload, settings: Settings, stages: list[StageSpec],
                      link_bandwidths_gbps: list[float], batch: int, perf: PerformanceModel,
                      headroom: float = 0.0) -> PipelineEstimate:
    """Predict one pipeline at `batch` requests; when the KV cache cannot hold them all, as many as fit run at once
    and the rest follow as others finish."""
    last_index = len(stages) - 1

    def profiles(b: int):
        return [perf.stage_profile(model, workload, s.spec, s.memory_gb, s.tp, b, settings) for s in stages]

    full = profiles(batch)
    memory = [p.memory_gb(s.layers, i == 0, i == last_index) for i, (s, p) in enumerate(zip(stages, full))]
    fits = all(m <= p.usable_gb for m, p in zip(memory, full))
    concurrency = batch if fits else _max_concurrency(stages, full, batch)
    active = full if concurrency in (batch, 0) else profiles(concurrency)
    # Continuous batching keeps the KV cache full: requests flow through at the rate of `concurrency` in flight,
    # so the batch takes batch / concurrency "waves" (fractional; whole waves under-predicted vLLM at large batch).
    waves = batch / concurrency if concurrency else math.inf
    latency = settings.link_latency_us * 1e-6
    stage_time = [waves * p.batch_time_s(s.layers, i == last_index) for i, (s, p) in enumerate(zip(stages, active))]
    links = [link_batch_time_s(workload, model, max(concurrency, 1), bw, latency) for bw in link_bandwidths_gbps]
    link_time = [waves * t for t, _, _ in links]
    generated = batch * workload.output_tokens * (1 - headroom)
    slowest = max(stage_time + link_time) if concurrency else math.inf
    ttft = sum(p.prefill_s(s.layers, i == last_index) for i, (s, p) in enumerate(zip(stages, active)))
    tpot = sum(p.decode_step_s(s.layers, i == last_index) for i, (s, p) in enumerate(zip(stages, active)))
    return PipelineEstimate(
        batch_size=batch, concurrency=concurrency,
        tokens_per_s=generated / slowest if concurrency else 0.0,
        ttft_ms=1e3 * (ttft + sum(p for _, p, _ in links)),
        tpot_ms=1e3 * (tpot + sum(s for _, _, s in links)),
        stage_tokens_per_s=[generated / t for t in stage_time],
        link_tokens_per_s=[generated / t for t in link_time],
        memory_gb_per_gpu=memory, usable_gb_per_gpu=[p.usable_gb for p in full], fits=fits,
        bound=_bound(stages, active, stage_time, link_time, last_index),
    )


def evaluate_deployment(model: ModelArch, workload: Workload, settings: Settings, stages: list[StageSpec],
                        link_bandwidths_gbps: list[float], requests: int, perf: PerformanceModel,
                        headroom: float = 0.0) -> PipelineEstimate:
    """Predict a vLLM deployment serving `requests` at once (its --max-num-seqs): every stage holds the KV cache of
    all of them, but vLLM keeps at most P batches in flight, so the requests advance as P micro-batches that take
    turns on the stages. Throughput = in flight x O / (P x slowest stage's time for one micro-batch); for P = 1 this
    is `evaluate_pipeline` at the full batch. The planner's batch is the micro-batch: P x batch requests in flight."""
    pp = len(stages)
    full = [perf.stage_profile(model, workload, s.spec, s.memory_gb, s.tp, requests, settings) for s in stages]
    memory = [p.memory_gb(s.layers, i == 0, i == pp - 1) for i, (s, p) in enumerate(zip(stages, full))]
    fits = all(m <= p.usable_gb for m, p in zip(memory, full))
    in_flight = requests if fits else _max_concurrency(stages, full, requests)
    if in_flight == 0:
        return replace(evaluate_pipeline(model, workload, settings, stages, link_bandwidths_gbps, requests, perf,
                                         headroom), memory_gb_per_gpu=memory)
    micro = math.ceil(in_flight / pp)
    est = evaluate_pipeline(model, workload, settings, stages, link_bandwidths_gbps, micro, perf, headroom)
    share = in_flight / (pp * micro)  # 1 unless the last micro-batch is short
    return replace(est, batch_size=requests, concurrency=in_flight, fits=fits, memory_gb_per_gpu=memory,
                   usable_gb_per_gpu=[p.usable_gb for p in full], tokens_per_s=est.tokens_per_s * share,
                   stage_tokens_per_s=[t * share for t in est.stage_tokens_per_s],
                   link_tokens_per_s=[t * share for t in est.link_tokens_per_s])


def _max_concurrency(stages: list[StageSpec], full, batch: int) -> int:
    """Largest number of requests whose KV cache fits on every stage (0: not even the weights fit)."""
    limit = batch
    for i, (s, p) in enumerate(zip(stages, full)):
        kv_per_request = s.layers * p.kv_gb_per_layer / batch
        free = p.usable_gb - (p.memory_gb(s.layers, i == 0, i == len(stages) - 1) - s.layers * p.kv_gb_per_layer)
        limit = min(limit, int(free // kv_per_request) if kv_per_request > 0 else batch)
    return max(limit, 0)


def _bound(stages, active, stage_time, link_time, last_index) -> str:
    """What limits the slowest element: compute, memory bandwidth, communication or fixed overhead."""
    if not stage_time or not np.isfinite(max(stage_time + link_time)):
        return "memory capacity"
    if link_time and max(link_time) > max(stage_time):
        return "communication"
    i = int(np.argmax(stage_time))
    parts = active[i].parts(stages[i].layers, i == last_index)
    return CATEGORIES[int(np.argmax(parts))]
