"""The answer: pipeline stages (GPU pool, TP degree, layer range) with their predicted figures, and a placement of
one pipeline served by identical replicas."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, computed_field

from solver.domain.hardware import Pool


class Stage(BaseModel):
    """Layers [first_layer, end_layer) on `tp` x `dp` GPUs of one pool, with what the performance model predicts
    for it (zero until predicted).

    `dp` > 1 is expert parallelism as vLLM runs it for mixture-of-experts models (--data-parallel-size dp
    --enable-expert-parallel): dp engines each run attention for their own requests on `tp` GPUs, and the routed
    experts are spread over all tp x dp GPUs, tokens reaching them through an all-to-all exchange."""

    model_config = ConfigDict(extra="ignore")
    pool: str
    gpu_type: str
    tp: int = Field(ge=1)
    dp: int = Field(default=1, ge=1, description="data-parallel attention ranks; > 1: experts spread over tp x dp")
    first_layer: int = Field(ge=0)
    end_layer: int = Field(ge=1, description="exclusive")
    dollar_per_hour: float = Field(default=0.0, ge=0)
    tokens_per_s: float = Field(default=0.0, ge=0)
    memory_gb_per_gpu: float = Field(default=0.0, ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def layers(self) -> int:
        return self.end_layer - self.first_layer

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpus(self) -> int:
        return self.tp * self.dp

    @property
    def layout(self) -> str:
        """How its GPUs split the work, as users write it: "TP4", or "DP8 EP8" / "TP2 DP4 EP8" (expert parallel)."""
        if self.dp == 1:
            return f"TP{self.tp}"
        return f"{f'TP{self.tp} ' if self.tp > 1 else ''}DP{self.dp} EP{self.gpus}"


class Placement(BaseModel):
    """One pipeline (stages, per-pipeline $/h and tok/s) served by `replicas` identical copies of it.

    `batch_size` is what each stage works on per forward pass; vLLM runs a P-stage pipeline as P such
    micro-batches, so P x batch_size requests are in flight (its --max-num-seqs)."""

    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="strings")
    stages: list[Stage] = Field(min_length=1)
    batch_size: int = Field(ge=1)
    tokens_per_s: float = Field(ge=0)
    dollar_per_hour: float = Field(ge=0)
    ttft_ms: float
    tpot_ms: float
    bound: str
    link_tokens_per_s: list[float] = Field(default_factory=list)
    link_bandwidth_gbps: list[float] = Field(default_factory=list, description="GB/s between consecutive stages")
    replicas: int = Field(default=1, ge=1)
    requested_batch_size: int | None = Field(
        default=None, description="the batch asked for when this placement's KV cache holds fewer requests: vLLM "
        "would run `batch_size` of them at once, and the figures are for that")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kv_limited(self) -> bool:
        return self.requested_batch_size is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pipeline_stages(self) -> int:
        return len(self.stages)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requests_in_flight(self) -> int:
        return self.batch_size * self.pipeline_stages

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpus_per_replica(self) -> int:
        return sum(s.gpus for s in self.stages)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_gpus(self) -> int:
        return self.replicas * self.gpus_per_replica

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens_per_s(self) -> float:
        return self.replicas * self.tokens_per_s

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_dollar_per_hour(self) -> float:
        return self.replicas * self.dollar_per_hour

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_per_million_tokens(self) -> float:
        return self.dollar_per_hour / (self.tokens_per_s * 3600) * 1e6 if self.tokens_per_s > 0 else math.inf

    @property
    def gpu_types(self) -> list[str]:
        return sorted({s.gpu_type for s in self.stages})


def engines_of(stages: list[Stage]) -> int:
    """vLLM engines that schedule requests side by side, each up to --max-num-seqs of them: the data-parallel
    ranks of an expert-parallel stage, else one."""
    return min(s.dp for s in stages)


def hourly_cost(stages: list[Stage], pools: Mapping[str, Pool], replicas: int = 1) -> float:
    """$/h of `replicas` copies of a pipeline: its GPUs at their per-GPU price, and pools listed as cloud instances
    rented by whole instances (each copy rents its own)."""
    used: dict[str, int] = {}
    for stage in stages:
        used[stage.pool] = used.get(stage.pool, 0) + stage.gpus
    per_copy = 0.0
    for name, gpus in used.items():
        pool = pools[name]
        per_copy += (pool.instances_for(gpus) * pool.instance.dollar_per_hour if pool.instance
                     else gpus * pool.dollar_per_hour)
    return replicas * per_copy
