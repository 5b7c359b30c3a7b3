"""What a prediction of a whole pipeline holds, and the pieces shared by every evaluation of one: activation
transfers between stages, the concurrency the KV cache allows, and what bounds the slowest element."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from solver.domain.model import ModelArch
from solver.domain.workload import Workload
from solver.perf.base import CATEGORIES, StageProfile

ACTIVATION_BYTES = 2


@dataclass(frozen=True)
class PipelineEstimate:
    """Predicted figures of one pipeline serving `batch_size` requests, `concurrency` of them at once."""

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
    kv_capacity: int = 0  # requests of the workload's length the KV cache holds, however many are asked
    kv_cache_gb_per_gpu: list[float] = field(default_factory=list)  # the pool each stage's GPUs keep for it


def link_batch_time_s(workload: Workload, model: ModelArch, batch: int, bandwidth_gbps: float,
                      latency_s: float) -> tuple[float, float, float]:
    """Activation transfer between two stages: (whole batch, prefill part, one decode step) in seconds."""
    per_token = model.d_model * ACTIVATION_BYTES / (bandwidth_gbps * 1e9)
    prefill = batch * workload.input_tokens * per_token + latency_s
    step = batch * per_token + latency_s
    return prefill + workload.output_tokens * step, prefill, step


def kv_capacity(layers: list[int], profiles: list[StageProfile], batch: int) -> int:
    """Requests of the workload's length whose KV cache fits on every stage, however many are asked (vLLM's
    "Maximum concurrency for N tokens per request", summed over data-parallel engines; 0: not even the weights
    fit); `profiles` are the stages' profiles at `batch` requests."""
    limit = None
    last = len(layers) - 1
    for i, (n, p) in enumerate(zip(layers, profiles)):
        kv_per_request = n * p.kv_gb_per_layer / math.ceil(batch / p.ranks)  # on a GPU of its rank
        if kv_per_request > 0:
            held = p.ranks * int(p.kv_pool_gb(n, i == 0, i == last) // kv_per_request)
            limit = held if limit is None else min(limit, held)
    return max(limit, 0) if limit is not None else batch


def max_concurrency(layers: list[int], profiles: list[StageProfile], batch: int) -> int:
    """Largest number of the `batch` requests whose KV cache fits on every stage (0: not even the weights fit)."""
    return min(batch, kv_capacity(layers, profiles, batch))


def bound_of(layers: list[int], profiles: list[StageProfile], stage_time: list[float], link_time: list[float]
             ) -> str:
    """What limits the slowest element: compute, memory bandwidth, communication or fixed overhead."""
    if not stage_time or not np.isfinite(max(stage_time + link_time)):
        return "memory capacity"
    if link_time and max(link_time) > max(stage_time):
        return "communication"
    i = int(np.argmax(stage_time))
    parts = profiles[i].parts(layers[i], i == len(layers) - 1)
    return CATEGORIES[int(np.argmax(parts))]
