"""Candidate replica types rated for one scenario, request mix and SLO: the placement MILP's pipelines
(capacity/candidates.py), each with its $/h, GPUs and instances per copy, step times per bucket (perf/service.py) and
the request rate per bucket one copy serves within the SLOs (capacity/rates.py). Built once, then reused for every
demand asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solver.capacity.candidates import BATCH_LADDER, Layout, LayoutCache, bucket_scenario, generate_layouts
from solver.capacity.fleet import FleetInputs
from solver.capacity.rates import max_rate
from solver.domain.capacity import Bucket, ReplicaType, Slo, requests_at_once
from solver.domain.choices import DEFAULT_PERF_MODEL
from solver.domain.errors import InfeasibleError, NoPlanInTime
from solver.domain.hardware import Pool
from solver.domain.placement import hourly_cost
from solver.domain.scenario import Scenario
from solver.perf import get_model
from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.perf.service import ServiceTimes, service_times

VLLM_MAX_NUM_SEQS = 256  # vLLM's default --max-num-seqs: the most requests a replica runs at once


@dataclass
class Candidates:
    """Rated candidate replica types over one scenario, bucket mix and SLO: reused for every demand asked."""

    scenario: Scenario
    buckets: list[Bucket]
    slo: Slo
    types: list[ReplicaType]
    service: dict[tuple[int, int], ServiceTimes]  # (type, bucket) -> step times
    note: str

    def position(self, replica: ReplicaType) -> int:
        """Index of a replica type among the candidates (rows of the rates and of `service`)."""
        return next(i for i, t in enumerate(self.types) if t.name == replica.name)

    def inputs(self, demand_rps: float, derate: np.ndarray | None = None) -> FleetInputs:
        """The fleet MILP's data at `demand_rps`; `derate` (types x buckets) scales the SLO-limited rates down
        where a simulation found the queueing model too optimistic."""
        rates = np.array([t.rate_rps for t in self.types]).reshape(len(self.types), len(self.buckets))
        return FleetInputs(
            costs=np.array([t.dollar_per_hour for t in self.types]),
            rates=rates if derate is None else rates * derate,
            demand=np.array([demand_rps * b.share for b in self.buckets]),
            gpus=np.array([[_rented(t, p) for p in self.scenario.pools] for t in self.types]).reshape(len(self.types),
                                                                                                     -1),
            supply=np.array([p.count for p in self.scenario.pools], dtype=float))


def _rented(replica: ReplicaType, pool: Pool) -> int:
    """GPUs of `pool` one copy takes from its supply: whole instances where the pool lists cloud instances."""
    if pool.instance is not None:
        return replica.instances.get(pool.name, 0) * pool.instance.gpus
    return replica.gpus.get(pool.name, 0)


def rate_layouts(scenario: Scenario, layouts: list[Layout], buckets: list[Bucket], slo: Slo, perf: PerformanceModel,
                 note: str) -> Candidates:
    """Each layout as a replica type: $/h, GPUs and instances per copy, and its SLO-limited rate per bucket."""
    pools = {p.name: p for p in scenario.pools}
    types, service = [], {}
    for t, layout in enumerate(layouts):
        stages = list(layout.stages)
        used: dict[str, int] = {}
        for stage in stages:
            used[stage.pool] = used.get(stage.pool, 0) + stage.gpus
        seqs = VLLM_MAX_NUM_SEQS
        at_once = requests_at_once(seqs, stages)
        rates = []
        for k, bucket in enumerate(buckets):
            shaped = bucket_scenario(scenario, bucket, 1, slo)
            st = service_times(Deployment.of_stages(shaped, stages, at_once), perf, at_once)
            service[(t, k)] = st
            rates.append(max_rate(st, bucket.input_tokens, bucket.output_tokens, slo, bucket.longest_prompt)
                         if st.max_seqs else 0.0)
        types.append(ReplicaType(
            name=f"R{t + 1}", stages=stages, dollar_per_hour=hourly_cost(stages, pools), gpus=used,
            instances={p: pools[p].instances_for(g) for p, g in used.items() if pools[p].instance},
            providers={p: pools[p].instance.provider for p in used if pools[p].instance},  # type: ignore[union-attr]
            max_num_seqs=seqs, rate_rps=rates, origin=layout.origin))
    return Candidates(scenario, buckets, slo, types, service, note)


def prepare(scenario: Scenario, buckets: list[Bucket], slo: Slo, perf_model: str = DEFAULT_PERF_MODEL,
            backend: str = "highs", time_limit: float = 60.0, ladder: tuple[int, ...] = BATCH_LADDER,
            workers: int | None = None, cache: LayoutCache | None = None,
            progress: Callable[[str], None] | None = None) -> Candidates:
    """Candidate pipelines for the buckets (`cache` carries placement searches over to another SLO level), rated
    within the SLO."""
    layouts, note, cut = generate_layouts(scenario, buckets, slo, perf_model, backend, time_limit, ladder, workers,
                                          cache, progress)
    if not layouts and cut:
        raise NoPlanInTime(f"no candidate pipeline was found within the {time_limit:g} s time limit; that is not a "
                           f"proof that none exists. Fix: raise --time-limit.")
    if not layouts:
        raise InfeasibleError(f"no pipeline of the scenario's GPUs serves even one request of any bucket within "
                              f"{slo.describe()} (memory, or the SLO at batch 1). Fix: add larger GPUs or more of "
                              f"them to gpu_pool.csv, or relax --ttft-slo-ms / --tpot-slo-ms.")
    return rate_layouts(scenario, layouts, buckets, slo, get_model(perf_model), note)
