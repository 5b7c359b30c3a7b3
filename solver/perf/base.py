"""The performance-model interface: a model turns (model, workload, GPU, TP / DP layout, batch) into a StageProfile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from solver.domain.hardware import GpuSpec
from solver.domain.model import ModelArch
from solver.domain.workload import Settings, Workload

CATEGORIES = ("compute", "memory", "communication", "overhead")


@dataclass(frozen=True)
class StageProfile:
    """What one pipeline stage on (GPU type, TP degree, batch) costs, as affine functions of its layer count.

    Times are seconds per GPU-group; `*_parts` split the time of one batch (prefill of `batch` prompts plus
    `output_tokens` decode steps) into CATEGORIES, so callers can tell what bounds a stage. Memory is GB per GPU.
    """

    batch: int
    output_tokens: int
    prefill_layer_s: float
    decode_layer_s: float
    prefill_head_s: float
    decode_head_s: float
    step_s: float
    layer_parts: np.ndarray
    head_parts: np.ndarray
    weight_gb_per_layer: float
    kv_gb_per_layer: float
    embed_gb: float
    head_gb: float
    fixed_gb: float
    usable_gb: float
    ranks: int = 1  # data-parallel ranks, each holding the KV cache of its own ceil(batch / ranks) requests

    def batch_time_s(self, layers, last):
        """Seconds to serve one batch end to end on this stage (prefill + all decode steps); vectorised."""
        per_layer = self.prefill_layer_s + self.output_tokens * self.decode_layer_s
        head = self.prefill_head_s + self.output_tokens * self.decode_head_s
        return layers * per_layer + last * head + self.output_tokens * self.step_s

    def throughput(self, layers, last):
        """Generated tokens per second this stage sustains when it is the pipeline's bottleneck."""
        return self.batch * self.output_tokens / self.batch_time_s(layers, last)

    def prefill_s(self, layers, last):
        return layers * self.prefill_layer_s + last * self.prefill_head_s

    def decode_step_s(self, layers, last):
        return layers * self.decode_layer_s + last * self.decode_head_s + self.step_s

    def memory_gb(self, layers, first, last):
        """Per-GPU memory: weights, KV cache of the whole batch, embedding/LM head and fixed activations."""
        return (layers * (self.weight_gb_per_layer + self.kv_gb_per_layer) + first * self.embed_gb
                + last * self.head_gb + self.fixed_gb)

    def kv_pool_gb(self, layers, first, last):
        """Per-GPU memory left for the KV cache: what vLLM logs as "Available KV cache memory"."""
        return self.usable_gb - (self.memory_gb(layers, first, last) - layers * self.kv_gb_per_layer)

    def parts(self, layers, last) -> np.ndarray:
        steps = np.array([0, 0, 0, self.output_tokens * self.step_s])
        return layers * self.layer_parts + last * self.head_parts + steps


class PerformanceModel(Protocol):
    """Turns (model, workload, GPU, TP, batch) into a StageProfile; `name` and `version` are recorded in every
    Solution so a reader knows which predictions it holds."""

    name: str
    version: str

    def stage_profile(self, model: ModelArch, workload: Workload, spec: GpuSpec, memory_gb: float, tp: int,
                      batch: int, settings: Settings, dp: int = 1) -> StageProfile:
        """The profile of a stage of `tp` x `dp` GPUs serving `batch` requests (dp > 1: expert parallel, each of
        the dp data-parallel ranks running batch / dp of them); memory is per GPU."""
        ...
