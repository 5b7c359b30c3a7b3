"""From chosen stage-type counts to a Placement: order the stages (an Eulerian trail of the chosen pool
transitions), give them their layer ranges, and predict the pipeline as vLLM runs it."""

from __future__ import annotations

import numpy as np

from solver.domain.placement import Placement, Stage, hourly_cost
from solver.domain.scenario import Scenario
from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.placement.candidates import FIRST, LAST, MIDDLE, ArcSet

StageTuple = tuple[int, int, int, int, int]  # (first layer, end layer, pool index, tp, dp)


def placement_from_stages(scenario: Scenario, stages: list[StageTuple], batch: int, perf: PerformanceModel
                          ) -> Placement:
    """Build a Placement from (start, end, pool index, tp, dp) tuples at micro-batch `batch`, predicting its figures
    with `perf` as vLLM runs it (len(stages) x batch requests in flight)."""
    pools = scenario.pools
    layout = [Stage(pool=pools[g].name, gpu_type=pools[g].gpu_type, tp=int(t), dp=int(d), first_layer=int(a),
                    end_layer=int(e)) for a, e, g, t, d in stages]
    deployment = Deployment.of_stages(scenario, layout, len(stages) * batch)
    est = deployment.evaluate(perf, headroom=scenario.settings.headroom)
    out = [s.model_copy(update={"dollar_per_hour": s.gpus * pools[g].dollar_per_hour, "tokens_per_s": float(thr),
                                "memory_gb_per_gpu": float(mem)})
           for s, (_, _, g, _, _), thr, mem in zip(layout, stages, est.stage_tokens_per_s, est.memory_gb_per_gpu)]
    return Placement(stages=out, batch_size=batch, tokens_per_s=est.tokens_per_s,
                     dollar_per_hour=hourly_cost(out, deployment.pools), ttft_ms=est.ttft_ms, tpot_ms=est.tpot_ms,
                     bound=est.bound, link_tokens_per_s=est.link_tokens_per_s,
                     link_bandwidth_gbps=deployment.link_bandwidth_gbps)


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
                   ) -> list[StageTuple]:
    """Turn chosen stage-type counts into (start, end, pool index, tp, dp) stages in pipeline order."""
    chosen = [k for k in np.flatnonzero(counts) for _ in range(counts[k])]
    if len(chosen) == 1:
        k = chosen[0]
        return [(0, int(arcs.size[k]), int(arcs.pool[k]), int(arcs.tp[k]), int(arcs.dp[k]))]
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
        stages.append((start, end, int(arcs.pool[k]), int(arcs.tp[k]), int(arcs.dp[k])))
        start = end
    return stages
