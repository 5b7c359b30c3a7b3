"""Capacity planning's entities: the request mix, the demand and SLOs, the replica types a fleet may rent, the
fleet itself, what a simulation of it measured, and the plan that holds them all (no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from solver.domain.placement import Stage, engines_of

HOURS_PER_MONTH = 730.0  # 8,760 h / 12: how cloud providers quote monthly prices
PERCENTILES = (50, 90, 99)


class Bucket(BaseModel):
    """Requests of one size class: a representative prompt and output length and the share of requests."""

    model_config = ConfigDict(extra="forbid")
    name: str
    input_tokens: int = Field(gt=0)
    output_tokens: int = Field(gt=0)
    share: float = Field(gt=0, le=1, description="fraction of all requests")
    longest_input_tokens: int = Field(default=0, ge=0, description="its longest prompt (0: input_tokens); the "
                                                                   "latency percentiles are planned for it")

    @property
    def longest_prompt(self) -> int:
        return max(self.longest_input_tokens, self.input_tokens)


@dataclass(frozen=True)
class RequestMix:
    """Buckets and, per bucket, the (prompt, output) rows and their weights it was made of."""

    buckets: list[Bucket]
    rows: list[np.ndarray]  # per bucket: n x 2 (prompt, output)
    weights: list[np.ndarray]
    source: str


class Slo(BaseModel):
    """Latency targets at one percentile of requests (inf: no target)."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    ttft_ms: float = Field(default=math.inf, gt=0)
    tpot_ms: float = Field(default=math.inf, gt=0)
    percentile: Literal[50, 90, 99] = 99

    def describe(self) -> str:
        parts = [f"TTFT <= {self.ttft_ms:g} ms" if math.isfinite(self.ttft_ms) else "",
                 f"TPOT <= {self.tpot_ms:g} ms" if math.isfinite(self.tpot_ms) else ""]
        targets = " and ".join(p for p in parts if p)
        return f"p{self.percentile} {targets}" if targets else "no latency target"


def requests_at_once(max_num_seqs: int, stages: list[Stage]) -> int:
    """Requests one copy of a pipeline runs at once: --max-num-seqs for each of its data-parallel engines (one
    unless the copy is expert parallel)."""
    return max_num_seqs * engines_of(stages)


class ReplicaType(BaseModel):
    """One pipeline the fleet may rent copies of: its stages (GPU pool, TP, layers), what one copy costs and rents,
    vLLM's --max-num-seqs for it, and the request rate one copy serves within the SLOs, per bucket (0: it cannot
    meet them for that bucket)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    stages: list[Stage] = Field(min_length=1)
    dollar_per_hour: float = Field(ge=0)
    gpus: dict[str, int] = Field(description="pool -> GPUs one copy uses")
    instances: dict[str, int] = Field(default_factory=dict, description="pool -> cloud instances one copy rents")
    providers: dict[str, str] = Field(default_factory=dict, description="pool -> cloud provider of its instances")
    max_num_seqs: int = Field(ge=1)
    rate_rps: list[float] = Field(description="per bucket: requests/s one copy serves within the SLOs")
    origin: str = Field(description="how the candidate was generated")

    @property
    def requests_at_once(self) -> int:
        """Requests one copy runs at once (`requests_at_once`)."""
        return requests_at_once(self.max_num_seqs, self.stages)

    @property
    def gpu_types(self) -> list[str]:
        return sorted({s.gpu_type for s in self.stages})

    def layout(self) -> str:
        """'4 x A100 TP2 8L + L40 TP1 16L': stages in order (GPU type, TP degree or expert-parallel layout,
        layers), runs of equal stages counted."""
        runs: list[list] = []
        for s in self.stages:
            label = f"{s.gpu_type} {s.layout} {s.layers}L"
            if runs and runs[-1][0] == label:
                runs[-1][1] += 1
            else:
                runs.append([label, 1])
        return " + ".join(label if n == 1 else f"{n} x {label}" for label, n in runs)


class FleetLine(BaseModel):
    """Copies of one replica type in a fleet, the requests routed to them per bucket and their predicted load."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    replica: ReplicaType
    count: int = Field(ge=1)
    routed_rps: list[float] = Field(description="per bucket: requests/s sent to these copies")
    utilisation: float = Field(ge=0, description="load / copies: 1 = every copy at its SLO-limited rate")
    ttft_ms: list[float] = Field(description="per bucket: predicted TTFT at the SLO percentile (nan: not routed)")
    tpot_ms: list[float] = Field(description="per bucket: predicted TPOT at the SLO percentile (nan: not routed)")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollar_per_hour(self) -> float:
        return self.count * self.replica.dollar_per_hour

    @computed_field  # type: ignore[prop-decorator]
    @property
    def headroom(self) -> float:
        """Share of the copies' SLO-limited capacity left at the demand."""
        return max(1.0 - self.utilisation, 0.0)


class Fleet(BaseModel):
    """Replica types with counts and a routing of buckets to them; `bound` is the fleet MILP's proven lower bound
    on $/h over the same candidates (= dollar_per_hour when optimal)."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    lines: list[FleetLine]
    status: Literal["optimal", "feasible"]
    bound: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollar_per_hour(self) -> float:
        return sum(line.dollar_per_hour for line in self.lines)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollar_per_month(self) -> float:
        return self.dollar_per_hour * HOURS_PER_MONTH

    def gpus_by_pool(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for line in self.lines:
            for pool, gpus in line.replica.gpus.items():
                total[pool] = total.get(pool, 0) + line.count * gpus
        return total

    def instances_by_pool(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for line in self.lines:
            for pool, count in line.replica.instances.items():
                total[pool] = total.get(pool, 0) + line.count * count
        return total

    def composition(self) -> str:
        """'2 x R1 + 1 x R4': what a demand curve marks when it changes."""
        return " + ".join(f"{line.count} x {line.replica.name}" for line in self.lines)


class Latencies(BaseModel):
    """TTFT and TPOT in ms: by percentile (50, 90, 99) and their means."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    ttft_ms: dict[int, float]
    tpot_ms: dict[int, float]
    mean_ttft_ms: float
    mean_tpot_ms: float
    requests: int = Field(ge=0)


class SimulationCheck(BaseModel):
    """What a request-level simulation of the fleet measured after its warm-up."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    offered_rps: float
    achieved_rps: float
    simulated_s: float
    all_requests: Latencies
    by_bucket: list[Latencies]
    slo_met: bool
    seed: int


class Saving(BaseModel):
    """A baseline fleet computed by the same fleet MILP over a subset of the candidates, and what the plan saves."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    name: str
    fleet: Fleet | None = Field(description="None: no fleet of this kind meets the demand")
    saving_fraction: float = Field(description="1 - plan $/h / baseline $/h (nan when there is no baseline fleet)")


class CapacityPlan(BaseModel):
    """The answer to one demand: the cheapest fleet within the candidates, its baselines and its simulation."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    demand_rps: float = Field(gt=0)
    buckets: list[Bucket]
    slo: Slo
    months: float = Field(gt=0)
    fleet: Fleet
    fractional_bound: float = Field(description="$/h with replicas allowed fractional: no fleet of these candidates "
                                                "is cheaper")
    baselines: list[Saving]
    candidates: list[ReplicaType]
    candidate_note: str
    calibration: str = Field(description="the calibration profile the candidates' rates were predicted with: "
                             "default, a profile name (vllm-0.26), none (priors) or a table's path")
    simulation: SimulationCheck | None = None
    warnings: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_cost(self) -> float:
        """$ for `months` months."""
        return self.fleet.dollar_per_month * self.months

    @computed_field  # type: ignore[prop-decorator]
    @property
    def generated_tokens_per_s(self) -> float:
        return self.demand_rps * sum(b.share * b.output_tokens for b in self.buckets)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_per_million_tokens(self) -> float:
        return self.fleet.dollar_per_hour / (self.generated_tokens_per_s * 3600) * 1e6
