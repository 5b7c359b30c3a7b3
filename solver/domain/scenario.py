"""A scenario: everything one solve needs, validated."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from solver.domain.hardware import Pool
from solver.domain.model import ModelArch
from solver.domain.workload import Settings, Workload


@dataclass
class Scenario:
    """The model, the workload, the settings and the GPU pools, with pool-to-pool bandwidths for stage transfers."""

    model: ModelArch
    workload: Workload
    settings: Settings
    pools: list[Pool]
    bandwidth_gbps: np.ndarray  # pool x pool GB/s for pipeline-stage transfers
    source: Path | None = None
    warnings: list[str] = field(default_factory=list)
    calibration: str = "none"  # the calibration profile of the pools' factors (Catalog.calibration)

    def with_pools(self, pools: list[Pool]) -> Scenario:
        """The same scenario over other pool counts (same order, so bandwidths stay valid)."""
        return replace(self, pools=pools)

    def pool_index(self) -> dict[str, int]:
        return {pool.name: i for i, pool in enumerate(self.pools)}
