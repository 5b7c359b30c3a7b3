"""The placement MILP, written once in a backend-neutral form (docs/formulation.md has the math).

Variables: x_k in {0..S} = how many stages of type k (size n_k, pool g_k, TP t_k, role r_k) the pipeline has;
when links can matter, w_gh in {0..S} = how many consecutive stage pairs go from pool g to pool h, with a
connectivity flow f so the w form one Eulerian trail (= an order of the stages); u_t in {0,1} picks vLLM's single
TP degree. The objective is $/h; solve methods move a throughput threshold tau (stage types and links slower
than tau get upper bound 0) and the budget row, so one model serves every method. Each family is one function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from solver.candidates import ArcSet
from solver.config import Scenario


@dataclass
class LinearModel:
    """min c'x s.t. row_lo <= A x <= row_hi, lb <= x <= ub, x_j integer where `integer`."""

    names: list[str]
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    c: np.ndarray
    A: sparse.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    row_names: list[str]
    families: dict[str, range]

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape


@dataclass
class _Builder:
    names: list[str] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    row_lo: list[float] = field(default_factory=list)
    row_hi: list[float] = field(default_factory=list)
    row_names: list[str] = field(default_factory=list)
    families: dict[str, range] = field(default_factory=dict)

    def add_vars(self, names: list[str], lb: float, ub, integer: bool) -> np.ndarray:
        first = len(self.names)
        self.names += names
        self.lb += [lb] * len(names)
        self.ub += list(np.broadcast_to(np.asarray(ub, dtype=float), (len(names),)))
        self.integer += [integer] * len(names)
        return np.arange(first, len(self.names))

    def add_row(self, name: str, cols, vals, lo: float = -math.inf, hi: float = math.inf) -> int:
        row = len(self.row_lo)
        cols = np.asarray(cols, dtype=int)
        self.rows.append(np.full(len(cols), row))
        self.cols.append(cols)
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), cols.shape))
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        self.row_names.append(name)
        return row

    def family(self, name: str, start: int) -> None:
        self.families[name] = range(start, len(self.row_lo))

    def build(self) -> LinearModel:
        n = len(self.names)
        cat = (lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.array([], dtype=dtype))
        A = sparse.csr_matrix((cat(self.vals, float), (cat(self.rows, int), cat(self.cols, int))),
                              shape=(len(self.row_lo), n))
        return LinearModel(self.names, np.array(self.lb, float), np.array(self.ub, float), np.array(self.integer),
                           np.zeros(n), A, np.array(self.row_lo, float), np.array(self.row_hi, float),
                           self.row_names, self.families)


@dataclass
class PlacementModel:
    """The MILP plus what methods need to move the threshold and budget and to read solutions back."""

    lp: LinearModel
    arcs: ArcSet
    x: np.ndarray
    w: np.ndarray | None  # pool x pool transition counts (None when no link can ever bind)
    budget_row: int
    x_ub: np.ndarray
    allowed: np.ndarray  # stage types allowed at all (homogeneous baselines switch pools off)

    def set_threshold(self, tau: float) -> None:
        """Only stage types and links sustaining at least `tau` tok/s may be used."""
        fast = (self.arcs.throughput >= tau) & self.allowed
        self.lp.ub[self.x] = np.where(fast, self.x_ub, 0.0)
        if self.w is not None:
            self.lp.ub[self.w.ravel()] = np.where(self.arcs.link_throughput.ravel() >= tau, self.x_ub.max(), 0.0)

    def set_budget(self, max_hourly_cost: float) -> None:
        self.lp.row_hi[self.budget_row] = max_hourly_cost

    def counts(self, solution: np.ndarray) -> np.ndarray:
        return np.rint(solution[self.x]).astype(int)

    def transitions(self, solution: np.ndarray) -> np.ndarray | None:
        return None if self.w is None else np.rint(solution[self.w]).astype(int)


# --- constraint families --------------------------------------------------------------------------------------

def add_cover(b: _Builder, arcs: ArcSet, x: np.ndarray) -> None:
    """One first stage, one last stage (or one stage that is both), and the sizes add up to all L layers."""
    first = len(b.row_lo)
    b.add_row("one_first_stage", x[arcs.holds_first], 1.0, 1.0, 1.0)
    b.add_row("one_last_stage", x[arcs.holds_last], 1.0, 1.0, 1.0)
    b.add_row("all_layers", x, arcs.size, arcs.num_layers, arcs.num_layers)
    b.family("cover", first)


def add_stage_limit(b: _Builder, x: np.ndarray, max_stages: int) -> None:
    """At most max_pipeline_stages stages."""
    first = len(b.row_lo)
    b.add_row("max_stages", x, 1.0, hi=max_stages)
    b.family("max_stages", first)


def add_gpu_supply(b: _Builder, scenario: Scenario, arcs: ArcSet, x: np.ndarray) -> None:
    """For each pool g: sum of tp_k x_k over stage types on g <= count_g."""
    first = len(b.row_lo)
    for g, pool in enumerate(scenario.pools):
        on_pool = arcs.pool == g
        b.add_row(f"gpus[{pool.name}]", x[on_pool], arcs.tp[on_pool], hi=pool.count)
    b.family("gpu_supply", first)


def add_stage_order(b: _Builder, scenario: Scenario, arcs: ArcSet, x: np.ndarray, max_stages: int) -> np.ndarray:
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
    b.add_row("flow_source", np.r_[source, x], np.r_[np.ones(pools), -np.ones(len(x))], 0.0, 0.0)
    for g in range(pools):
        on = arcs.pool == g
        b.add_row(f"out_degree[{g}]", np.r_[w[g, :], x[on]], np.r_[np.ones(pools), -1.0 + arcs.holds_last[on]],
                  0.0, 0.0)
        b.add_row(f"in_degree[{g}]", np.r_[w[:, g], x[on]], np.r_[np.ones(pools), -1.0 + arcs.holds_first[on]],
                  0.0, 0.0)
        b.add_row(f"source_only_first[{g}]", np.r_[source[g], x[on & arcs.holds_first]],
                  np.r_[1.0, -np.full((on & arcs.holds_first).sum(), max_stages)], hi=0.0)
        b.add_row(f"flow_balance[{g}]", np.r_[source[g], f[:, g], f[g, :], x[on]],
                  np.r_[1.0, np.ones(pools), -np.ones(pools), -np.ones(on.sum())], 0.0, 0.0)
        for h in range(pools):
            b.add_row(f"flow_on_used[{g},{h}]", [f[g, h], w[g, h]], [1.0, -max_stages], hi=0.0)
    b.family("stage_order", first)
    return w


def add_budget(b: _Builder, arcs: ArcSet, x: np.ndarray, max_hourly_cost: float) -> int:
    """Sum of $/h of the chosen stages <= budget (the row the enumeration method moves)."""
    first = len(b.row_lo)
    row = b.add_row("budget", x, arcs.cost, hi=max_hourly_cost)
    b.family("budget", first)
    return row


def add_latency_slos(b: _Builder, scenario: Scenario, arcs: ArcSet, x: np.ndarray, w: np.ndarray | None) -> None:
    """TTFT and TPOT add up over stages and transfers: sum_k t_k x_k + sum_gh t_gh w_gh <= SLO."""
    wl = scenario.workload
    first = len(b.row_lo)
    links = (lambda times: (w.ravel(), times.ravel()) if w is not None else ([], []))
    if math.isfinite(wl.ttft_slo_ms):
        cols, vals = links(arcs.link_prefill_s)
        b.add_row("ttft_slo", np.r_[x, cols], np.r_[arcs.prefill_s, vals], hi=wl.ttft_slo_ms / 1e3)
    if math.isfinite(wl.tpot_slo_ms):
        cols, vals = links(arcs.link_step_s)
        b.add_row("tpot_slo", np.r_[x, cols], np.r_[arcs.decode_step_s, vals], hi=wl.tpot_slo_ms / 1e3)
    b.family("latency_slo", first)


def add_uniform_tp(b: _Builder, arcs: ArcSet, x: np.ndarray, max_stages: int) -> None:
    """vLLM runs one TP degree for every pipeline stage: pick u_t, and stages only with tp = t."""
    first = len(b.row_lo)
    degrees = sorted(set(arcs.tp.tolist()))
    u = b.add_vars([f"u[{t}]" for t in degrees], 0.0, 1.0, True)
    b.add_row("one_tp_degree", u, 1.0, 1.0, 1.0)
    for t, u_t in zip(degrees, u):
        with_t = x[arcs.tp == t]
        b.add_row(f"uniform_tp[{t}]", np.r_[with_t, u_t], np.r_[np.ones(len(with_t)), -max_stages], hi=0.0)
    b.family("vllm_uniform_tp", first)


def links_can_matter(scenario: Scenario, arcs: ArcSet) -> bool:
    """Transitions need modelling when some link is slower than some stage or an SLO counts transfer time."""
    wl = scenario.workload
    slo = math.isfinite(wl.ttft_slo_ms) or math.isfinite(wl.tpot_slo_ms)
    return slo or bool(len(arcs) and arcs.link_throughput.min() < arcs.throughput.max())


def build_model(scenario: Scenario, arcs: ArcSet) -> PlacementModel:
    """Assemble the MILP for one batch size from the constraint families; objective: $/h."""
    s = scenario.settings
    S = s.max_pipeline_stages
    b = _Builder()
    # No more copies of a stage type than fit in the layers and in its pool.
    counts = np.array([p.count for p in scenario.pools])
    x_ub = np.minimum(np.minimum(arcs.num_layers // np.maximum(arcs.size, 1), counts[arcs.pool] // arcs.tp), S)
    x_ub = np.where(arcs.role == 1, x_ub, np.minimum(x_ub, 1)).astype(float)
    x = b.add_vars([f"x[n{n},{scenario.pools[g].name},tp{t},r{r}]" for n, g, t, r in
                    zip(arcs.size, arcs.pool, arcs.tp, arcs.role)], 0.0, x_ub, True)
    add_cover(b, arcs, x)
    add_stage_limit(b, x, S)
    add_gpu_supply(b, scenario, arcs, x)
    w = add_stage_order(b, scenario, arcs, x, S) if links_can_matter(scenario, arcs) else None
    budget = add_budget(b, arcs, x, s.max_hourly_cost)
    add_latency_slos(b, scenario, arcs, x, w)
    if s.vllm_deployable:
        add_uniform_tp(b, arcs, x, S)
    lp = b.build()
    lp.c[x] = arcs.cost
    return PlacementModel(lp=lp, arcs=arcs, x=x, w=w, budget_row=budget, x_ub=x_ub,
                          allowed=np.ones(len(arcs), dtype=bool))
