"""What a search returns before it is reported: the chosen plan, the baselines and per-batch statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from solver.domain.placement import Placement
from solver.search.frontier import Found


@dataclass
class BatchResult:
    batch: int
    placement: Placement | None
    gap: float
    arcs: int
    variables: int
    constraints: int
    quantized: bool
    solves: int = 0
    exact_cost_per_million_tokens: float | None = None
    note: str = ""
    kv_limited_of: int | None = None  # the asked batch this one stands in for (its KV cache holds fewer)


@dataclass
class Outcome:
    method: str
    backend: str
    placement: Placement | None
    batches: list[BatchResult]
    seconds: float
    solves: int
    gap: float
    first_incumbent_s: float | None
    time_limited: bool
    exact: Placement | None = None
    homogeneous: Placement | None = None
    notes: list[str] = field(default_factory=list)
    found: Found | None = None  # the chosen plan's frontier point (per replica)
    bound: float = math.inf  # a proven lower bound on the method's objective (per replica for linear objectives)
