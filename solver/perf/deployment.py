"""One Deployment that every caller predicts through: the planner's placements, the independent checker,
`predict`, `validate` and calibration all build one and call `evaluate`.

A deployment is a pipeline of stages (layer ranges on TP groups of some pools) with the links between them,
serving `requests_in_flight` requests as vLLM runs it (its --max-num-seqs): every stage holds the KV cache of
all of them, and vLLM keeps at most P micro-batches in flight on a P-stage pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from solver.domain.hardware import GpuSpec, Pool
from solver.domain.model import ModelArch
from solver.domain.placement import Placement, Stage, engines_of
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution
from solver.domain.workload import Settings, Workload
from solver.perf.base import PerformanceModel, StageProfile
from solver.perf.engine import default_max_num_seqs
from solver.perf.estimate import PipelineEstimate, bound_of, kv_capacity, link_batch_time_s, max_concurrency


def vllm_partition(num_layers: int, stages: int) -> list[int]:
    """Layers per stage as vLLM splits them without VLLM_PP_LAYER_PARTITION (vllm/distributed/utils.py,
    get_pp_indices): equal parts, the remainder going one each to the stages before the last, from the back."""
    parts = [num_layers // stages] * stages
    for i in range(2, num_layers % stages + 2):
        parts[-i] += 1
    return parts


@dataclass(frozen=True)
class Deployment:
    model: ModelArch
    workload: Workload
    settings: Settings
    stages: list[Stage]
    pools: dict[str, Pool]  # by name: the hardware of every stage's pool
    link_bandwidth_gbps: list[float]  # between consecutive stages
    requests_in_flight: int

    @classmethod
    def of_stages(cls, scenario: Scenario, stages: list[Stage], requests_in_flight: int) -> Deployment:
        """Stages on a scenario's pools, linked by its pool-to-pool bandwidths."""
        index = scenario.pool_index()
        links = [float(scenario.bandwidth_gbps[index[a.pool], index[b.pool]]) for a, b in zip(stages, stages[1:])]
        return cls(scenario.model, scenario.workload, scenario.settings, stages,
                   {p.name: p for p in scenario.pools}, links, requests_in_flight)

    @classmethod
    def of_placement(cls, scenario: Scenario, placement: Placement) -> Deployment:
        return cls.of_stages(scenario, placement.stages, placement.requests_in_flight)

    @classmethod
    def of_solution(cls, solution: Solution, placement: Placement, requests_in_flight: int | None = None
                    ) -> Deployment:
        """A placement of a solution file, with the model, workload, settings and catalog factors it was solved
        with: evaluating it reproduces what the planner printed."""
        return cls(solution.model, solution.workload, solution.settings, placement.stages,
                   {p.name: p for p in solution.pools}, placement.link_bandwidth_gbps,
                   requests_in_flight or placement.requests_in_flight)

    @classmethod
    def uniform(cls, model: ModelArch, workload: Workload, settings: Settings, spec: GpuSpec, tp: int, pp: int,
                requests_in_flight: int, gpus_per_node: int | None = None, sizes: list[int] | None = None,
                dp: int = 1) -> Deployment:
        """`pp` stages of `tp` GPUs of one type (vLLM's layer split unless `sizes`), packed onto nodes of
        `gpus_per_node` GPUs in order: a link uses the GPU interconnect when both sides share a node, else the
        inter-node bandwidth. `dp` > 1: one expert-parallel stage of dp data-parallel ranks of `tp` GPUs."""
        per_node = gpus_per_node or spec.gpus_per_node
        pool = Pool.of_type(spec, tp * pp * dp)
        stages, start = [], 0
        for size in sizes or vllm_partition(model.num_layers, pp):
            stages.append(Stage(pool=pool.name, gpu_type=spec.gpu_type, tp=tp, dp=dp, first_layer=start,
                                end_layer=start + size))
            start += size
        links = [spec.interconnect_gbps if ((i + 1) * tp - 1) // per_node == ((i + 1) * tp) // per_node
                 else settings.inter_node_bandwidth_gbps for i in range(pp - 1)]
        return cls(model, workload, settings, stages, {pool.name: pool}, links, requests_in_flight)

    def profiles(self, perf: PerformanceModel, batch: int) -> list[StageProfile]:
        """Each stage's profile with `batch` requests per stage (micro-batch)."""
        return [perf.stage_profile(self.model, self.workload, self.pools[s.pool].spec, self.pools[s.pool].memory_gb,
                                   s.tp, batch, self.settings, s.dp) for s in self.stages]

    @property
    def engines(self) -> int:
        return engines_of(self.stages)

    def evaluate(self, perf: PerformanceModel, headroom: float = 0.0) -> PipelineEstimate:
        """Predict the deployment: the requests advance as P micro-batches that take turns on the stages, so
        throughput = in flight x O / (P x the slowest stage's time for one micro-batch); `headroom` derates it.
        vLLM runs at most --max-num-seqs of them at once per engine (settings.max_num_seqs; the rest queue)."""
        pp = len(self.stages)
        layers = [s.layers for s in self.stages]
        limit = self.settings.max_num_seqs
        admitted = min(self.requests_in_flight, limit * self.engines if limit else self.requests_in_flight)
        full = self.profiles(perf, admitted)
        memory = [p.memory_gb(n, i == 0, i == pp - 1) for i, (n, p) in enumerate(zip(layers, full))]
        fits = all(m <= p.usable_gb for m, p in zip(memory, full))
        capacity = kv_capacity(layers, full, admitted)
        in_flight = admitted if fits else min(admitted, capacity)
        if in_flight == 0:
            return replace(self.pipeline(perf, admitted, headroom), batch_size=self.requests_in_flight,
                           memory_gb_per_gpu=memory)
        micro = math.ceil(in_flight / pp)
        est = self.pipeline(perf, micro, headroom)
        share = in_flight / (pp * micro)  # 1 unless the last micro-batch is short
        return replace(est, batch_size=self.requests_in_flight, concurrency=in_flight, fits=fits,
                       memory_gb_per_gpu=memory, usable_gb_per_gpu=[p.usable_gb for p in full],
                       kv_capacity=capacity,
                       kv_cache_gb_per_gpu=[p.kv_pool_gb(n, i == 0, i == pp - 1)
                                            for i, (n, p) in enumerate(zip(layers, full))],
                       tokens_per_s=est.tokens_per_s * share,
                       stage_tokens_per_s=[t * share for t in est.stage_tokens_per_s],
                       link_tokens_per_s=[t * share for t in est.link_tokens_per_s])

    def evaluate_served(self, perf: PerformanceModel) -> tuple[PipelineEstimate, int]:
        """Predict it as a vLLM server runs it, and with which --max-num-seqs: the settings' or else vLLM's default
        for the GPU. Where vLLM would not start with its default (the sampler's start-up profile for that many
        requests leaves no room for one request's KV cache) but would when launched for the requests asked, as so
        launched: a run that happened is never predicted "does not fit" for a default it did not use."""
        def launched_with(seqs: int) -> PipelineEstimate:
            return replace(self, settings=self.settings.model_copy(update={"max_num_seqs": seqs})).evaluate(perf)

        asked = self.settings.max_num_seqs
        seqs = asked or min(default_max_num_seqs(self.pools[s.pool].spec) for s in self.stages)
        est = launched_with(seqs)
        if est.concurrency == 0 and asked is None and self.requests_in_flight < seqs * self.engines:
            seqs = math.ceil(self.requests_in_flight / self.engines)
            est = launched_with(seqs)
        return est, seqs

    def pipeline(self, perf: PerformanceModel, batch: int, headroom: float = 0.0) -> PipelineEstimate:
        """One pipeline working on `batch` requests per stage; when the KV cache cannot hold them all, as many as
        fit run at once and the rest follow as others finish."""
        m, w = self.model, self.workload
        last = len(self.stages) - 1
        layers = [s.layers for s in self.stages]
        full = self.profiles(perf, batch)
        memory = [p.memory_gb(n, i == 0, i == last) for i, (n, p) in enumerate(zip(layers, full))]
        fits = all(mem <= p.usable_gb for mem, p in zip(memory, full))
        concurrency = batch if fits else max_concurrency(layers, full, batch)
        active = full if concurrency in (batch, 0) else self.profiles(perf, concurrency)
        # Continuous batching keeps the KV cache full: requests flow through at the rate of `concurrency` in
        # flight, so the batch takes batch / concurrency "waves" (fractional; whole waves under-predicted vLLM).
        waves = batch / concurrency if concurrency else math.inf
        latency = self.settings.link_latency_us * 1e-6
        stage_time = [waves * p.batch_time_s(n, i == last) for i, (n, p) in enumerate(zip(layers, active))]
        links = [link_batch_time_s(w, m, max(concurrency, 1), bw, latency) for bw in self.link_bandwidth_gbps]
        link_time = [waves * t for t, _, _ in links]
        generated = batch * w.output_tokens * (1 - headroom)
        slowest = max(stage_time + link_time) if concurrency else math.inf
        ttft = sum(p.prefill_s(n, i == last) for i, (n, p) in enumerate(zip(layers, active)))
        tpot = sum(p.decode_step_s(n, i == last) for i, (n, p) in enumerate(zip(layers, active)))
        return PipelineEstimate(
            batch_size=batch, concurrency=concurrency,
            tokens_per_s=generated / slowest if concurrency else 0.0,
            ttft_ms=1e3 * (ttft + sum(p for _, p, _ in links)),
            tpot_ms=1e3 * (tpot + sum(s for _, _, s in links)),
            stage_tokens_per_s=[generated / t for t in stage_time],
            link_tokens_per_s=[generated / t for t in link_time],
            memory_gb_per_gpu=memory, usable_gb_per_gpu=[p.usable_gb for p in full], fits=fits,
            bound=bound_of(layers, active, stage_time, link_time),
        )
