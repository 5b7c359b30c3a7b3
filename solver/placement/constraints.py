"""The placement MILP's constraint families, one function each, with the math in its docstring
(docs/formulation.md explains why the formulation is exact)."""

from __future__ import annotations

import math

import numpy as np

from solver.domain.scenario import Scenario
from solver.milp.linear import Builder
from solver.placement.candidates import ArcSet
from solver.placement.groups import StageGroups


def add_cover(b: Builder, groups: StageGroups, y: np.ndarray, z: np.ndarray, num_layers: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """One first stage, one last stage (or one stage that is both), each group's layers within its stages'
    sizes, and the layers add up to all L. Returns the rows z_k - lo_k y_k >= 0 and z_k - hi_k y_k <= 0 whose
    coefficients thresholds and depths move."""
    first = len(b.row_lo)
    b.add_row("one_first_stage", y[groups.holds_first], 1.0, 1.0, 1.0)
    b.add_row("one_last_stage", y[groups.holds_last], 1.0, 1.0, 1.0)
    b.add_row("all_layers", z, 1.0, num_layers, num_layers)
    hi = groups.lo + groups.length - 1
    lo_rows = [b.add_row(f"size_min[{k}]", [z[k], y[k]], [1.0, -groups.lo[k]], lo=0.0) for k in range(len(groups))]
    hi_rows = [b.add_row(f"size_max[{k}]", [z[k], y[k]], [1.0, -hi[k]], hi=0.0) for k in range(len(groups))]
    b.family("cover", first)
    return np.array(lo_rows, dtype=int), np.array(hi_rows, dtype=int)


def add_stage_limit(b: Builder, y: np.ndarray, max_stages: int) -> None:
    """At most max_pipeline_stages stages."""
    first = len(b.row_lo)
    b.add_row("max_stages", y, 1.0, hi=max_stages)
    b.family("max_stages", first)


def add_pipeline_depth(b: Builder, y: np.ndarray, max_depth: int) -> np.ndarray:
    """Exactly one depth P (d_P = 1) and P stages. Which sizes fit at P (`depth_windows`) enters as bounds:
    PlacementModel.configure."""
    first = len(b.row_lo)
    depths = np.arange(1, max_depth + 1)
    d = b.add_vars([f"d[{p}]" for p in depths], 0.0, 1.0, True)
    b.add_row("one_depth", d, 1.0, 1.0, 1.0)
    b.add_row("stages_equal_depth", np.r_[y, d], np.r_[np.ones(len(y)), -depths], 0.0, 0.0)
    b.family("pipeline_depth", first)
    return d


def add_gpu_supply(b: Builder, scenario: Scenario, groups: StageGroups, y: np.ndarray) -> None:
    """For each pool g: sum of gpus_k y_k over groups on g <= count_g (gpus_k = tp_k x dp_k)."""
    first = len(b.row_lo)
    for g, pool in enumerate(scenario.pools):
        on_pool = groups.pool == g
        b.add_row(f"gpus[{pool.name}]", y[on_pool], groups.gpus[on_pool], hi=pool.count)
    b.family("gpu_supply", first)


def add_stage_order(b: Builder, scenario: Scenario, groups: StageGroups, y: np.ndarray, max_stages: int
                    ) -> np.ndarray:
    """Consecutive stages g -> h form an Eulerian trail over pools from the first stage's pool to the last's:
    out-degree(g) = stages on g - [last on g], in-degree(g) = stages on g - [first on g], and a flow from a
    virtual source through the used transitions reaches every stage (no detached cycles)."""
    pools = len(scenario.pools)
    first = len(b.row_lo)
    w = b.add_vars([f"w[{g},{h}]" for g in range(pools) for h in range(pools)], 0.0, max_stages, True)
    w = w.reshape(pools, pools)
    f = b.add_vars([f"f[{g},{h}]" for g in range(pools) for h in range(pools)], 0.0, max_stages, False)
    f = f.reshape(pools, pools)
    source = b.add_vars([f"f[src,{g}]" for g in range(pools)], 0.0, max_stages, False)
    b.add_row("flow_source", np.r_[source, y], np.r_[np.ones(pools), -np.ones(len(y))], 0.0, 0.0)
    for g in range(pools):
        on = groups.pool == g
        b.add_row(f"out_degree[{g}]", np.r_[w[g, :], y[on]], np.r_[np.ones(pools), -1.0 + groups.holds_last[on]],
                  0.0, 0.0)
        b.add_row(f"in_degree[{g}]", np.r_[w[:, g], y[on]], np.r_[np.ones(pools), -1.0 + groups.holds_first[on]],
                  0.0, 0.0)
        b.add_row(f"source_only_first[{g}]", np.r_[source[g], y[on & groups.holds_first]],
                  np.r_[1.0, -np.full((on & groups.holds_first).sum(), max_stages)], hi=0.0)
        b.add_row(f"flow_balance[{g}]", np.r_[source[g], f[:, g], f[g, :], y[on]],
                  np.r_[1.0, np.ones(pools), -np.ones(pools), -np.ones(on.sum())], 0.0, 0.0)
        for h in range(pools):
            b.add_row(f"flow_on_used[{g},{h}]", [f[g, h], w[g, h]], [1.0, -max_stages], hi=0.0)
    b.family("stage_order", first)
    return w


def add_instances(b: Builder, scenario: Scenario, groups: StageGroups, y: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Pools listed as cloud instances are rented whole: m_g instances of G_g GPUs hold the pool's TP groups,
    sum_k gpus_k y_k <= G_g m_g (gpus_k divides G_g, so the groups pack into the instances), and m_g x the instance's
    $/h replaces the per-GPU cost of those stages. Returns the m columns and their $/h."""
    first = len(b.row_lo)
    rented = [(g, pool.name, pool.count, pool.instance) for g, pool in enumerate(scenario.pools) if pool.instance]
    m = b.add_vars([f"m[{name}]" for _, name, _, _ in rented], 0.0,
                   np.array([-(-count // instance.gpus) for _, _, count, instance in rented], dtype=float), True)
    for (g, name, _, instance), m_g in zip(rented, m):
        on = groups.pool == g
        b.add_row(f"instances[{name}]", np.r_[y[on], m_g], np.r_[groups.gpus[on], -instance.gpus], hi=0.0)
    b.family("instances", first)
    return m, np.array([instance.dollar_per_hour for _, _, _, instance in rented], dtype=float)


def add_budget(b: Builder, columns: np.ndarray, hourly: np.ndarray, max_hourly_cost: float) -> None:
    """The objective's $/h (stages on per-GPU pools plus rented instances) <= max_hourly_cost; the methods' own
    budgets are checked on the frontier."""
    first = len(b.row_lo)
    b.add_row("budget", columns, hourly, hi=max_hourly_cost)
    b.family("budget", first)


def add_latency_slos(b: Builder, scenario: Scenario, arcs: ArcSet, groups: StageGroups, y: np.ndarray,
                     z: np.ndarray, w: np.ndarray | None) -> None:
    """TTFT and TPOT add up over stages and transfers; a group's stages take slope z + intercept y in total:
    sum_k (slope_k z_k + intercept_k y_k) + sum_gh t_gh w_gh <= SLO."""
    wl = scenario.workload
    first = len(b.row_lo)
    links = (lambda times: (w.ravel(), times.ravel()) if w is not None else ([], []))
    for name, limit_ms, slope, intercept, link_s in (
            ("ttft_slo", wl.ttft_slo_ms, groups.prefill_slope, groups.prefill_intercept, arcs.link_prefill_s),
            ("tpot_slo", wl.tpot_slo_ms, groups.step_slope, groups.step_intercept, arcs.link_step_s)):
        if math.isfinite(limit_ms):
            cols, vals = links(link_s)
            b.add_row(name, np.r_[z, y, cols], np.r_[slope, intercept, vals], hi=limit_ms / 1e3)
    b.family("latency_slo", first)


def add_uniform_tp(b: Builder, groups: StageGroups, y: np.ndarray, max_stages: int) -> None:
    """vLLM runs one TP degree for every pipeline stage: pick u_t, and stages only with tp = t."""
    first = len(b.row_lo)
    degrees = sorted(set(groups.tp.tolist()))
    u = b.add_vars([f"u[{t}]" for t in degrees], 0.0, 1.0, True)
    b.add_row("one_tp_degree", u, 1.0, 1.0, 1.0)
    for t, u_t in zip(degrees, u):
        with_t = y[groups.tp == t]
        b.add_row(f"uniform_tp[{t}]", np.r_[with_t, u_t], np.r_[np.ones(len(with_t)), -max_stages], hi=0.0)
    b.family("vllm_uniform_tp", first)


def links_can_matter(scenario: Scenario, arcs: ArcSet) -> bool:
    """Transitions need modelling when some link is slower than some stage or an SLO counts transfer time."""
    wl = scenario.workload
    slo = math.isfinite(wl.ttft_slo_ms) or math.isfinite(wl.tpot_slo_ms)
    return slo or bool(len(arcs) and arcs.link_throughput.min() < arcs.throughput.max())
