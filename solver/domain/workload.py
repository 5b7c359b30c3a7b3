"""What is served and under which rules: the workload (request shape, batch sizes, demand, SLOs) and the solver
and economics settings."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator


class Workload(BaseModel):
    """Request shape, batch sizes to try, demand and latency targets."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")  # "Infinity": no limit
    input_tokens: int = Field(gt=0, le=10_000_000)
    output_tokens: int = Field(gt=0, le=10_000_000)
    batch_sizes: list[PositiveInt] = Field(min_length=1, max_length=64)
    throughput_demand: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    ttft_slo_ms: float = Field(default=math.inf, gt=0)
    tpot_slo_ms: float = Field(default=math.inf, gt=0)
    total_tokens_to_process: float = Field(default=1e6, gt=0, allow_inf_nan=False)
    prefill_chunk_tokens: int = Field(default=8192, gt=0)

    @model_validator(mode="after")
    def _batches_in_range(self) -> Workload:
        if max(self.batch_sizes) > 1_000_000:
            raise ValueError("batch sizes above 1,000,000 are not plausible")
        return self


class Settings(BaseModel):
    """Solver and economics settings (limits, priorities, segment quantization, budgets)."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")  # "Infinity": no limit
    time_limit_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    optimality_gap: float = Field(default=1e-4, ge=0, lt=1)
    max_pipeline_stages: int = Field(default=8, gt=0, le=256)
    min_layers_per_stage: int = Field(default=1, gt=0)
    min_memory_utilization: float = Field(default=0.0, ge=0, le=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    max_num_seqs: int | None = Field(default=None, ge=1, description=(
        "vLLM's --max-num-seqs: requests it runs at once and sizes its sampler's start-up profile for; None: the "
        "requests in flight, as `tokenop-solve plan` launches a placement"))
    tp_degrees: list[PositiveInt] = Field(default_factory=lambda: [1, 2, 4, 8], min_length=1)
    network_bandwidth_percentile_threshold: float = Field(default=0.1, ge=0, le=1)
    inter_node_bandwidth_gbps: float = Field(default=25.0, gt=0, allow_inf_nan=False)
    link_latency_us: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    optimization_priority: Literal["cost_first", "throughput_first", "balanced"] = "cost_first"
    max_hourly_cost: float = Field(default=math.inf, gt=0)
    max_cost_per_million_token: float = Field(default=math.inf, gt=0)
    max_total_cost: float = Field(default=math.inf, gt=0)
    max_total_runtime_hours: float = Field(default=math.inf, gt=0)
    throughput_normalization: float = Field(default=10000.0, gt=0, allow_inf_nan=False)
    cost_normalization: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    cost_throughput_weight: float = Field(default=0.5, ge=0, le=1)
    segment_quantization: Literal["auto", "on", "off"] = "auto"
    segment_sizes: list[PositiveInt] = Field(default_factory=lambda: [1, 5, 10, 20, 30, 40], min_length=1)
    max_exact_arcs: int = Field(default=40000, gt=0)
    budget_factors: list[PositiveFloat] = Field(default_factory=lambda: [0.4, 0.7, 0.9, 1.0, 1.2, 1.5], min_length=1)
    headroom: float = Field(default=0.0, ge=0, lt=1)
    price_provider: str = "lowest"
    vllm_deployable: bool = False
    expert_parallel: bool = Field(default=True, description=(
        "mixture-of-experts models may also be placed expert-parallel (vLLM --data-parallel-size N "
        "--enable-expert-parallel, one stage of N GPUs of a node)"))
    max_replicas: int = Field(default=8, ge=1, le=1024)
    fixed_tp: dict[str, PositiveInt] = Field(default_factory=dict, description="GPU type -> its only TP degree")
    enforce_cost_target: bool = Field(default=False, description="max_cost_per_million_token as a hard limit")
    threads: int | None = Field(default=None, ge=1, description="solver threads (default: the solver's choice)")

    def tp_degrees_for(self, gpu_type: str) -> list[int]:
        """TP degrees a pool of `gpu_type` may use: its fixed degree (--tp-config) or every allowed one."""
        return [self.fixed_tp[gpu_type]] if gpu_type in self.fixed_tp else self.tp_degrees
