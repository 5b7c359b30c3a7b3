"""Candidate generation: every kind of pipeline stage the MILP may pick.

A stage's cost, throughput and memory depend only on its size n (layers), pool, TP degree and role (first stage
holds the embedding, last stage the LM head, a single stage both), never on where its layers sit. So candidates
are *stage types* (n, pool, tp, role); the MILP picks how many of each, and the layer ranges follow from the
order (docs/formulation.md). Memory is the exception that depends on the pipeline: vLLM runs a pipeline of P
stages as P micro-batches of `batch` requests, so every stage holds the KV cache of P x batch requests; each type
records at which depths P it fits (and meets min_memory_utilization), and types that fit at no depth never reach
the MILP. With segment quantization only sizes from `segment_sizes` are generated, except that the last stage
may absorb any remainder; `auto` keeps every size (exact) unless that would exceed `max_exact_arcs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.domain.scenario import Scenario
from solver.perf.base import PerformanceModel
from solver.perf.estimate import link_batch_time_s

FIRST, MIDDLE, LAST, ONLY = 0, 1, 2, 3


class StageRoles:
    """Which stages hold the embedding (first) and the LM head (last), for tables with a `role` column."""

    role: np.ndarray

    @property
    def holds_first(self) -> np.ndarray:
        return (self.role == FIRST) | (self.role == ONLY)

    @property
    def holds_last(self) -> np.ndarray:
        return (self.role == LAST) | (self.role == ONLY)


@dataclass(frozen=True)
class ArcSet(StageRoles):
    """Arcs and link data for one (micro-)batch size; arrays are aligned by arc index."""

    batch: int
    num_layers: int
    size: np.ndarray  # layers
    role: np.ndarray  # FIRST, MIDDLE, LAST or ONLY
    pool: np.ndarray
    tp: np.ndarray
    dp: np.ndarray  # data-parallel ranks (> 1: expert parallel); the stage uses tp x dp GPUs
    throughput: np.ndarray  # generated tok/s the stage sustains (after headroom)
    cost: np.ndarray  # $/h of the stage's GPUs
    depth_fits: np.ndarray  # [P - 1, k]: type k's memory fits (and meets min utilization) in a P-stage pipeline
    prefill_s: np.ndarray
    decode_step_s: np.ndarray
    link_throughput: np.ndarray  # pool x pool tok/s of the activation transfer
    link_prefill_s: np.ndarray
    link_step_s: np.ndarray
    quantized: bool

    def __len__(self) -> int:
        return len(self.size)


def parallel_options(scenario: Scenario) -> list[tuple[int, int, int]]:
    """(pool index, tp, dp) layouts a stage may take. TP groups (dp = 1) must fit inside one node (one instance,
    whose size they divide) and within the pool's count, and divide the attention heads (vLLM refuses other
    degrees). A mixture-of-experts model may also take expert-parallel stages (unless settings.expert_parallel is
    off): dp data-parallel ranks of one GPU each, dp any allowed degree above 1, inside one node likewise, so the
    tokens' all-to-all stays on the GPU interconnect."""
    m, s = scenario.model, scenario.settings
    options = []
    for i, pool in enumerate(scenario.pools):
        for t in s.tp_degrees_for(pool.gpu_type):
            if 1 <= t <= pool.max_tp and (pool.instance is None or pool.instance.gpus % t == 0):
                if m.num_heads % t == 0:
                    options.append((i, t, 1))
                if t > 1 and m.is_moe and s.expert_parallel:
                    options.append((i, 1, t))
    return options


def stage_kinds(num_layers: int, min_layers: int, sizes: list[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(size, role) of every allowed stage; `sizes=None` means every size (the exact formulation).

    First and middle stages leave room for at least one more stage: of min_layers, or, with segment quantization,
    of a single layer, as the last stage may then absorb any remainder."""
    minimum = min(min_layers, num_layers)
    body = np.arange(minimum, num_layers - (1 if sizes is not None else minimum) + 1)
    if sizes is not None:
        body = body[np.isin(body, sizes)]
    tail = np.arange(1 if sizes is not None else minimum, num_layers - minimum + 1)
    kinds = [(body, FIRST), (body, MIDDLE), (tail, LAST), (np.array([num_layers]), ONLY)]
    return (np.concatenate([k for k, _ in kinds]).astype(int),
            np.concatenate([np.full(len(k), r) for k, r in kinds]).astype(int))


def segment_floor(memory: np.ndarray, fits: np.ndarray, layers: np.ndarray, roles: np.ndarray, target_gb: float
                  ) -> np.ndarray:
    """[P - 1, k]: the fewest layers a stage of kind k may hold at depth P under min_memory_utilization, as the
    older solver meant it: the smallest size whose memory per GPU reaches `target_gb` (u x GPU memory), capped at
    the largest size that fits, so it only removes stages too small to use their GPUs and never makes a scenario
    infeasible. The last stage takes the remainder of the layers and has no floor (as with segment quantization).
    `memory` / `fits` are [P - 1, k] for one (pool, TP); sizes of one role are increasing in k."""
    floor = np.zeros(memory.shape, dtype=int)
    for role in (FIRST, MIDDLE, ONLY):
        kind = roles == role
        for p in range(memory.shape[0]):
            ok = fits[p] & kind
            if ok.any():
                reach = ok & (memory[p] >= target_gb)
                floor[p, kind] = layers[reach].min() if reach.any() else layers[ok].max()
    return floor


def use_quantization(scenario: Scenario) -> bool:
    mode = scenario.settings.segment_quantization
    if mode != "auto":
        return mode == "on"
    s = scenario.settings
    kinds = len(stage_kinds(scenario.model.num_layers, s.min_layers_per_stage, None)[0])
    return kinds * len(parallel_options(scenario)) > s.max_exact_arcs


def build_arcs(scenario: Scenario, batch: int, perf: PerformanceModel, quantize: bool | None = None,
               enforce_min_utilization: bool = True) -> ArcSet:
    """All stage types at micro-batch `batch` that fit memory at some pipeline depth, with their throughput, cost,
    latency parts and the depths where they fit. Expert-parallel stages hold the whole model: vLLM's
    data-parallel engines are not chained into pipeline stages here."""
    m, w, s = scenario.model, scenario.workload, scenario.settings
    quantize = use_quantization(scenario) if quantize is None else quantize
    layers, roles = stage_kinds(m.num_layers, s.min_layers_per_stage, s.segment_sizes if quantize else None)
    first = ((roles == FIRST) | (roles == ONLY)).astype(float)
    last = ((roles == LAST) | (roles == ONLY)).astype(float)
    depths = np.arange(1, min(s.max_pipeline_stages, m.num_layers) + 1)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("size", "role", "pool", "tp", "dp", "throughput",
                                                            "cost", "prefill_s", "decode_step_s", "depth_fits")}
    options = parallel_options(scenario)
    for pool_index, tp, dp in options:
        pool = scenario.pools[pool_index]
        profile = perf.stage_profile(m, w, pool.spec, pool.memory_gb, tp, batch, s, dp)
        memory = np.array([perf.stage_profile(m, w, pool.spec, pool.memory_gb, tp, int(p) * batch, s, dp)
                           .memory_gb(layers, first, last) for p in depths])
        fits = (memory <= profile.usable_gb) & ((roles == ONLY) | (dp == 1))
        if enforce_min_utilization and s.min_memory_utilization > 0:
            fits &= layers >= segment_floor(memory, fits, layers, roles, s.min_memory_utilization * pool.memory_gb)
        keep = fits.any(axis=0)
        n, lst = layers[keep], last[keep]
        columns["size"].append(n)
        columns["role"].append(roles[keep])
        columns["pool"].append(np.full(keep.sum(), pool_index))
        columns["tp"].append(np.full(keep.sum(), tp))
        columns["dp"].append(np.full(keep.sum(), dp))
        columns["throughput"].append(profile.throughput(n, lst) * (1 - s.headroom))
        columns["cost"].append(np.full(keep.sum(), tp * dp * pool.dollar_per_hour))
        columns["prefill_s"].append(profile.prefill_s(n, lst))
        columns["decode_step_s"].append(profile.decode_step_s(n, lst))
        columns["depth_fits"].append(fits[:, keep])
    arrays = {k: (np.concatenate(v, axis=-1) if v else np.array([])) for k, v in columns.items()}
    if not options:
        arrays["depth_fits"] = np.zeros((len(depths), 0), dtype=bool)
    for key in ("size", "role", "pool", "tp", "dp"):
        arrays[key] = arrays[key].astype(int)
    link = np.array([[link_batch_time_s(w, m, batch, bw, s.link_latency_us * 1e-6) for bw in row]
                     for row in scenario.bandwidth_gbps]).reshape(len(scenario.pools), len(scenario.pools), 3)
    return ArcSet(batch=batch, num_layers=m.num_layers, **arrays,
                  link_throughput=batch * w.output_tokens * (1 - s.headroom) / link[:, :, 0],
                  link_prefill_s=link[:, :, 1], link_step_s=link[:, :, 2], quantized=quantize)
