"""The Solution contract: what a solve wrote (`solution.json`) and what `plan`, `validate`, sweeps and reports read.

It carries everything the prediction used (model, workload, settings, the pools with the catalog factors in
effect, the performance model's name and version, the tool's version), so a reader predicts exactly what the
planner printed without the scenario folder or the catalog. `tokenop-solve schema solution` prints its JSON schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from solver.domain.hardware import Pool
from solver.domain.model import ModelArch
from solver.domain.placement import Placement
from solver.domain.workload import Settings, Workload

SCHEMA_VERSION = 2
Status = Literal["optimal", "feasible", "time_limit", "infeasible"]  # feasible: within a requested gap
PROVEN_GAP = 1e-4  # "optimal" means proven within this relative gap


class BatchSummary(BaseModel):
    """One batch size of the sweep: the model's size, the MILP work and the best plan found there."""

    batch_size: int
    stage_types: int
    variables: int
    constraints: int
    solves: int
    quantized: bool
    cost_per_million_tokens: float | None = None
    tokens_per_s: float | None = None
    dollar_per_hour: float | None = None
    replicas: int | None = None
    pipeline_stages: int | None = None
    total_gpus: int | None = None
    gpu_types: list[str] = Field(default_factory=list)
    tp_degrees: list[int] = Field(default_factory=list)
    layouts: list[str] = Field(default_factory=list, description="per stage: TP4, or DP8 EP8 (expert parallel)")
    kv_limited_of: int | None = Field(default=None, description="the asked batch this smaller one stands in for")
    exact_cost_per_million_tokens: float | None = None
    note: str = ""


class Solution(BaseModel):
    """A solved scenario: the chosen placement, the exact and single-GPU-type baselines, and what produced them."""

    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="strings")
    schema_version: int = SCHEMA_VERSION
    tool_version: str
    config_dir: str | None = None
    model: ModelArch
    workload: Workload
    settings: Settings
    pools: list[Pool]
    perf_model: str
    perf_model_version: str
    calibration: str | None = Field(default=None, description="the calibration profile the pools' factors come "
                                    "from: default, a profile name (vllm-0.26), none (datasheet priors) or a table's "
                                    "path; null in files written before it was recorded")
    method: str
    backend: str
    status: Status
    solve_seconds: float
    solves: int
    optimality_gap: float | None = Field(description="relative gap of the chosen plan; null when unknown")
    first_incumbent_seconds: float | None = None
    placement: Placement | None
    exact: Placement | None = None
    homogeneous: Placement | None = None
    batches: list[BatchSummary] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def distance_from_exact(self) -> float | None:
        """How much more per token the chosen plan costs than the exact optimum."""
        if self.placement is None or self.exact is None or not self.exact.cost_per_million_tokens > 0:
            return None  # free GPUs: every plan costs nothing per token
        return self.placement.cost_per_million_tokens / self.exact.cost_per_million_tokens - 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def saving_vs_homogeneous(self) -> float | None:
        """Relative $/token saving of the chosen plan against the best single-GPU-type plan."""
        if self.placement is None or self.homogeneous is None or not self.homogeneous.cost_per_million_tokens > 0:
            return None
        return 1 - self.placement.cost_per_million_tokens / self.homogeneous.cost_per_million_tokens

    @computed_field  # type: ignore[prop-decorator]
    @property
    def instances_to_rent(self) -> dict[str, int]:
        """Cloud instances per instance type for the chosen plan (pools listed as instances only)."""
        if self.placement is None:
            return {}
        used: dict[str, int] = {}
        for stage in self.placement.stages:
            used[stage.pool] = used.get(stage.pool, 0) + stage.gpus * self.placement.replicas
        return {pool.instance.name: pool.instances_for(used[pool.name]) for pool in self.pools
                if pool.instance is not None and pool.name in used}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def meets_cost_target(self) -> bool | None:
        """Whether the plan's $/1M tokens is within max_cost_per_million_token (None: no plan or no target)."""
        target = self.settings.max_cost_per_million_token
        if self.placement is None or target == float("inf"):
            return None
        return self.placement.cost_per_million_tokens <= target

    @property
    def gpus_per_node(self) -> dict[str, int]:
        return {pool.gpu_type: pool.spec.gpus_per_node for pool in self.pools}
