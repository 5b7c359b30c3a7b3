"""A placement (the answer): pipeline stages with pools, TP degrees and layer ranges, plus predicted figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from solver.candidates import FIRST, LAST, MIDDLE, ArcSet
from solver.config import Scenario
from solver.perf.base import PerformanceModel
from solver.perf.pipeline import StageSpec, evaluate_deployment


@dataclass
class Stage:
    pool: str
    gpu_type: str
    tp: int
    first_layer: int
    end_layer: int  # exclusive
    dollar_per_hour: float
    tokens_per_s: float
    memory_gb_per_gpu: float

    @property
    def layers(self) -> int:
        return self.end_layer - self.first_layer

    @property
    def gpus(self) -> int:
        return self.tp


@dataclass
class Placement:
    """One pipeline (stages, per-pipeline $/h and tok/s) served by `replicas` identical copies of it.

    `batch_size` is what each stage works on per forward pass; vLLM runs a P-stage pipeline as P such
    micro-batches, so P x batch_size requests are in flight (its --max-num-seqs)."""

    stages: list[Stage]
    batch_size: int
    tokens_per_s: float
    dollar_per_hour: float
    ttft_ms: float
    tpot_ms: float
    bound: str
    link_tokens_per_s: list[float] = field(default_factory=list)
    replicas: int = 1

    @property
    def requests_in_flight(self) -> int:
        return self.batch_size * self.pipeline_stages

    @property
    def gpus_per_replica(self) -> int:
        return sum(s.gpus for s in self.stages)

    @property
    def total_gpus(self) -> int:
        return self.replicas * self.gpus_per_replica

    @property
    def total_tokens_per_s(self) -> float:
        return self.replicas * self.tokens_per_s

    @property
    def total_dollar_per_hour(self) -> float:
        return self.replicas * self.dollar_per_hour

    @property
    def cost_per_million_tokens(self) -> float:
        return self.dollar_per_hour / (self.tokens_per_s * 3600) * 1e6 if self.tokens_per_s > 0 else float("inf")

    @property
    def pipeline_stages(self) -> int:
        return len(self.stages)

    @property
    def gpu_types(self) -> list[str]:
        return sorted({s.gpu_type for s in self.stages})

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(total_gpus=self.total_gpus, gpus_per_replica=self.gpus_per_replica,
                    total_tokens_per_s=self.total_tokens_per_s, total_dollar_per_hour=self.total_dollar_per_hour,
                    cost_per_million_tokens=self.cost_per_million_tokens, pipeline_stages=self.pipeline_stages,
                    requests_in_flight=self.requests_in_flight)
        for stage, obj in zip(data["stages"], self.stages):
            stage.update(layers=obj.layers, gpus=obj.gpus)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Placement":
        keys = set(Stage.__dataclass_fields__)
        stages = [Stage(**{k: v for k, v in s.items() if k in keys}) for s in data["stages"]]
        fields = set(cls.__dataclass_fields__) - {"stages"}
        return cls(stages=stages, **{k: v for k, v in data.items() if k in fields})


def stage_specs(scenario: Scenario, stages: list[tuple[int, int, int, int]]) -> tuple[list[StageSpec], list[float]]:
    """(start, end, pool index, tp) tuples as StageSpecs plus the bandwidth of each link between them."""
    pools = scenario.pools
    specs = [StageSpec(pools[g].name, pools[g].spec, pools[g].memory_gb, int(t), int(a), int(e))
             for a, e, g, t in stages]
    links = [float(scenario.bandwidth_gbps[stages[i][2], stages[i + 1][2]]) for i in range(len(stages) - 1)]
    return specs, links


def link_bandwidths(scenario: Scenario, placement: Placement) -> list[float]:
    """GB/s between consecutive stages of a placement, from the scenario's pool-to-pool bandwidths."""
    index = {pool.name: i for i, pool in enumerate(scenario.pools)}
    return [float(scenario.bandwidth_gbps[index[a.pool], index[b.pool]])
            for a, b in zip(placement.stages, placement.stages[1:])]


def placement_from_stages(scenario: Scenario, stages: list[tuple[int, int, int, int]], batch: int,
                          perf: PerformanceModel) -> Placement:
    """Build a Placement from (start, end, pool index, tp) tuples at micro-batch `batch`, predicting its figures
    with `perf` as vLLM runs it (len(stages) x batch requests in flight)."""
    specs, links = stage_specs(scenario, stages)
    est = evaluate_deployment(scenario.model, scenario.workload, scenario.settings, specs, links,
                              len(stages) * batch, perf, headroom=scenario.settings.headroom)
    pools = scenario.pools
    out = [Stage(pools[g].name, pools[g].gpu_type, int(t), int(a), int(e), t * pools[g].dollar_per_hour,
                 float(thr), float(mem))
           for (a, e, g, t), thr, mem in zip(stages, est.stage_tokens_per_s, est.memory_gb_per_gpu)]
    return Placement(stages=out, batch_size=batch, tokens_per_s=est.tokens_per_s,
                     dollar_per_hour=sum(s.dollar_per_hour for s in out), ttft_ms=est.ttft_ms, tpot_ms=est.tpot_ms,
                     bound=est.bound, link_tokens_per_s=est.link_tokens_per_s)


def pool_order(first_pool: int, last_pool: int, middle_per_pool: dict[int, int],
               transitions: np.ndarray | None) -> list[int]:
    """The pool of each pipeline position: an Eulerian trail of the chosen transitions (Hierholzer), or, when
    links cannot bind, the middle stages grouped by pool between the first stage's and the last stage's pool."""
    if transitions is None:
        pools = [first_pool] + [g for g in middle_per_pool if g not in (first_pool, last_pool)] + [last_pool]
        middle = [g for g in dict.fromkeys(pools) for _ in range(middle_per_pool.get(g, 0))]
        return [first_pool] + middle + [last_pool]
    left = transitions.copy()
    stack, trail = [first_pool], []
    while stack:
        g = stack[-1]
        nxt = np.flatnonzero(left[g])
        if len(nxt):
            left[g, nxt[0]] -= 1
            stack.append(int(nxt[0]))
        else:
            trail.append(stack.pop())
    return trail[::-1]


def ordered_stages(arcs: ArcSet, counts: np.ndarray, transitions: np.ndarray | None
                   ) -> list[tuple[int, int, int, int]]:
    """Turn chosen stage-type counts into (start, end, pool index, tp) stages in pipeline order."""
    chosen = [k for k in np.flatnonzero(counts) for _ in range(counts[k])]
    if len(chosen) == 1:
        k = chosen[0]
        return [(0, int(arcs.size[k]), int(arcs.pool[k]), int(arcs.tp[k]))]
    first = next(k for k in chosen if arcs.role[k] == FIRST)
    last = next(k for k in chosen if arcs.role[k] == LAST)
    middles: dict[int, list[int]] = {}
    for k in chosen:
        if arcs.role[k] == MIDDLE:
            middles.setdefault(int(arcs.pool[k]), []).append(k)
    seq = pool_order(int(arcs.pool[first]), int(arcs.pool[last]), {g: len(v) for g, v in middles.items()},
                     transitions)
    order = [first] + [middles[g].pop() for g in seq[1:-1]] + [last]
    stages, start = [], 0
    for k in order:
        end = start + int(arcs.size[k])
        stages.append((start, end, int(arcs.pool[k]), int(arcs.tp[k])))
        start = end
    return stages
