"""The performance-model interface and its registry (the Vidur pattern: predictors behind one interface)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from solver.catalog import GpuSpec
from solver.config import ModelArch, Settings, Workload

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

    def parts(self, layers, last) -> np.ndarray:
        steps = np.array([0, 0, 0, self.output_tokens * self.step_s])
        return layers * self.layer_parts + last * self.head_parts + steps


class PerformanceModel(Protocol):
    """Turns (model, workload, GPU, TP, batch) into a StageProfile."""

    name: str

    def stage_profile(self, model: ModelArch, workload: Workload, spec: GpuSpec, memory_gb: float, tp: int,
                      batch: int, settings: Settings) -> StageProfile: ...


_REGISTRY: dict[str, Callable[[], PerformanceModel]] = {}


def register(name: str):
    """Class decorator: make a performance model available under `name`."""
    def wrap(cls):
        _REGISTRY[name] = cls
        return cls
    return wrap


def get_model(name: str = "roofline") -> PerformanceModel:
    if name not in _REGISTRY:
        raise KeyError(f"unknown performance model '{name}' (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]()
