"""The placement MILP, written once in a backend-neutral form (docs/formulation.md has the math).

Variables: x_k in {0..S} = how many stages of type k (size n_k, pool g_k, TP t_k, role r_k) the pipeline has;
when links can matter, w_gh in {0..S} = how many consecutive stage pairs go from pool g to pool h, with a
connectivity flow f so the w form one Eulerian trail (= an order of the stages); u_t in {0,1} picks vLLM's single
TP degree. The objective is $/h; solve methods move a throughput threshold tau (sizes and links slower than tau
are switched off) and check their own budgets on the frontier, so one model serves every method. Each family is
one function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from solver.candidates import MIDDLE, ArcSet, StageRoles
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


@dataclass(frozen=True)
class StageGroups(StageRoles):
    """Stage types aggregated into groups (pool, TP, role, a run of consecutive sizes lo..lo+len-1).

    Within a group cost is fixed, memory grows and throughput falls with the size (a StageProfile is affine in
    the layer count), so at any threshold the allowed sizes are an interval lo..hi(tau): y stages of the group
    can hold any z layers with lo y <= z <= hi y. Quantized sizes give runs of length one (plain stage types).
    """

    pool: np.ndarray
    tp: np.ndarray
    role: np.ndarray
    cost: np.ndarray
    lo: np.ndarray  # smallest size of the run
    start: np.ndarray  # offsets into `members` (a run's arc indices, by increasing size)
    members: np.ndarray
    prefill_slope: np.ndarray  # s per layer and s per stage: latency of a stage = slope n + intercept
    prefill_intercept: np.ndarray
    step_slope: np.ndarray
    step_intercept: np.ndarray

    def __len__(self) -> int:
        return len(self.pool)

    @property
    def length(self) -> np.ndarray:
        return np.diff(np.r_[self.start, len(self.members)])

    def of_arc(self) -> np.ndarray:
        """Group index of every stage type."""
        group = np.empty(len(self.members), dtype=int)
        group[self.members] = np.repeat(np.arange(len(self)), self.length)
        return group


def _affine(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of values over sizes; StageProfile guarantees they are affine."""
    if len(sizes) == 1:
        return 0.0, float(values[0])
    slope = float((values[-1] - values[0]) / (sizes[-1] - sizes[0]))
    intercept = float(values[0] - slope * sizes[0])
    if not np.allclose(slope * sizes + intercept, values, rtol=1e-9, atol=1e-12):
        raise ValueError("stage latency is not affine in the layer count; the performance model breaks "
                         "the StageProfile contract")
    return slope, intercept


def group_stage_types(arcs: ArcSet) -> StageGroups:
    """Split stage types into maximal runs of consecutive sizes with non-increasing throughput."""
    order = np.lexsort((arcs.size, arcs.role, arcs.tp, arcs.pool))
    key = np.c_[arcs.pool, arcs.tp, arcs.role][order]
    size, thr = arcs.size[order], arcs.throughput[order]
    new_run = np.r_[True, (key[1:] != key[:-1]).any(axis=1) | (np.diff(size) != 1) | (np.diff(thr) > 0)]
    start = np.flatnonzero(new_run)
    heads = order[start]
    fits = [_affine(arcs.size[run], values[run]) for values in (arcs.prefill_s, arcs.decode_step_s)
            for run in np.split(order, start[1:])]
    slopes = np.array(fits).reshape(2, len(start), 2)
    return StageGroups(pool=arcs.pool[heads], tp=arcs.tp[heads], role=arcs.role[heads], cost=arcs.cost[heads],
                       lo=arcs.size[heads], start=start, members=order,
                       prefill_slope=slopes[0, :, 0], prefill_intercept=slopes[0, :, 1],
                       step_slope=slopes[1, :, 0], step_intercept=slopes[1, :, 1])


@dataclass
class PlacementModel:
    """The MILP plus what methods need to move the threshold and to read solutions back."""

    lp: LinearModel
    arcs: ArcSet
    groups: StageGroups
    y: np.ndarray  # stages per group
    z: np.ndarray  # layers per group
    hi_entries: np.ndarray  # positions in lp.A.data of the -hi coefficients of the rows z - hi y <= 0
    lo_entries: np.ndarray  # ... and of the -lo coefficients of the rows z - lo y >= 0
    w: np.ndarray | None  # pool x pool transition counts (None when no link can ever bind)
    y_ub: np.ndarray
    allowed: np.ndarray  # groups allowed at all (homogeneous baselines switch pools off)
    d: np.ndarray | None = None  # pipeline depth indicators (None when memory never depends on the depth)
    windows: np.ndarray | None = None  # [0 / 1, P - 1, k]: smallest / largest size of group k at depth P
    split: set[int] = field(default_factory=set)  # depths solved on their own (see configure)
    tau: float = 0.0
    depth: int | None = None

    def configure(self, tau: float, depth: int | None = None) -> None:
        """Threshold: only stage sizes and links sustaining at least `tau` tok/s may be used (hi(tau) per group).
        Depth None: every depth not split off, with the memory windows left out (a relaxation; a solution that
        breaks them gets its depth split off, `memory_depth_violated`). Depth P: exactly P stages, each group's
        sizes within its window at P (exact; only bounds and coefficients change, so these solves stay small)."""
        self.tau, self.depth = tau, depth
        self._apply()

    def _apply(self) -> None:
        g = self.groups
        fast = (self.arcs.throughput[g.members] >= self.tau).astype(int)
        usable = np.add.reduceat(fast, g.start)  # a prefix of each run, as throughput falls with size
        lo, hi = g.lo.copy(), g.lo + np.maximum(usable, 1) - 1
        ok = (usable > 0) & self.allowed
        if self.d is not None:
            if self.depth is None:
                self.lp.lb[self.d] = 0.0
                self.lp.ub[self.d] = [0.0 if p in self.split else 1.0 for p in range(1, len(self.d) + 1)]
            else:
                lo = np.maximum(lo, self.windows[0, self.depth - 1])
                hi = np.minimum(hi, self.windows[1, self.depth - 1])
                ok &= lo <= hi
                self.lp.lb[self.d] = self.lp.ub[self.d] = (np.arange(1, len(self.d) + 1) == self.depth)
        self.lp.ub[self.y] = np.where(ok, self.y_ub, 0.0)
        self.lp.A.data[self.hi_entries] = -np.maximum(hi, lo)
        self.lp.A.data[self.lo_entries] = -lo
        if self.w is not None:
            self.lp.ub[self.w.ravel()] = np.where(self.arcs.link_throughput.ravel() >= self.tau, self.y_ub.max(),
                                                  0.0)

    def memory_depth_violated(self, solution: np.ndarray) -> int | None:
        """The solution's depth P if one of its stages does not fit memory at that depth, else None. Stages of a
        group have floor(z/y) or ceil(z/y) layers (`counts`)."""
        if self.d is None or self.depth is not None:
            return None
        depth = int(np.argmax(solution[self.d])) + 1
        stages, layers = np.rint(solution[self.y]).astype(int), np.rint(solution[self.z]).astype(int)
        for k in np.flatnonzero(stages):
            a, c = self.windows[:, depth - 1, k]
            if layers[k] // stages[k] < a or -(-layers[k] // stages[k]) > c:
                return depth
        return None

    def thresholds(self) -> np.ndarray:
        """Sorted distinct throughputs of the allowed stage types and of the links between their pools: the only
        thresholds where C(tau) can change."""
        arcs = self.allowed[self.groups.of_arc()]
        pools = np.unique(self.arcs.pool[arcs])
        links = self.arcs.link_throughput[np.ix_(pools, pools)] if self.w is not None else []
        return np.unique(np.r_[self.arcs.throughput[arcs], np.ravel(links)])

    def counts(self, solution: np.ndarray) -> np.ndarray:
        """Stages per stage type: each group's z layers split as evenly as possible over its y stages (the
        split that keeps the group's slowest stage fastest)."""
        g = self.groups
        stages, layers = np.rint(solution[self.y]).astype(int), np.rint(solution[self.z]).astype(int)
        result = np.zeros(len(self.arcs), dtype=int)
        for k in np.flatnonzero(stages):
            small, extra = divmod(int(layers[k]), int(stages[k]))
            for size, how_many in ((small, stages[k] - extra), (small + 1, extra)):
                if how_many:
                    result[g.members[g.start[k] + size - g.lo[k]]] += how_many
        return result

    def transitions(self, solution: np.ndarray) -> np.ndarray | None:
        return None if self.w is None else np.rint(solution[self.w]).astype(int)


# --- constraint families --------------------------------------------------------------------------------------

def add_cover(b: _Builder, groups: StageGroups, y: np.ndarray, z: np.ndarray, num_layers: int
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


def add_stage_limit(b: _Builder, y: np.ndarray, max_stages: int) -> None:
    """At most max_pipeline_stages stages."""
    first = len(b.row_lo)
    b.add_row("max_stages", y, 1.0, hi=max_stages)
    b.family("max_stages", first)


def depth_windows(arcs: ArcSet, groups: StageGroups) -> np.ndarray:
    """[0 / 1, P - 1, k]: a P-stage pipeline lets group k's stages hold only a..c layers (a > c: none) of its run
    lo..hi, as each stage holds the KV cache of P x batch requests. Memory grows with the size, so the sizes that
    fit (at or above min_memory_utilization) form an interval."""
    windows = np.empty((2, arcs.depth_fits.shape[0], len(groups)), dtype=int)
    for k in range(len(groups)):
        run = groups.members[groups.start[k]:groups.start[k] + groups.length[k]]
        lo, hi = int(groups.lo[k]), int(groups.lo[k] + len(run) - 1)
        for p, fits in enumerate(arcs.depth_fits[:, run]):
            ok = np.flatnonzero(fits)
            if len(ok) and len(ok) != ok[-1] - ok[0] + 1:
                raise ValueError("memory is not monotone in the stage size; the performance model breaks the "
                                 "StageProfile contract")
            windows[:, p, k] = (lo + ok[0], lo + ok[-1]) if len(ok) else (hi + 1, hi)
    return windows


def add_pipeline_depth(b: _Builder, y: np.ndarray, max_depth: int) -> np.ndarray:
    """Exactly one depth P (d_P = 1) and P stages. Which sizes fit at P (`depth_windows`) enters as bounds:
    PlacementModel.configure."""
    first = len(b.row_lo)
    depths = np.arange(1, max_depth + 1)
    d = b.add_vars([f"d[{p}]" for p in depths], 0.0, 1.0, True)
    b.add_row("one_depth", d, 1.0, 1.0, 1.0)
    b.add_row("stages_equal_depth", np.r_[y, d], np.r_[np.ones(len(y)), -depths], 0.0, 0.0)
    b.family("pipeline_depth", first)
    return d


def add_gpu_supply(b: _Builder, scenario: Scenario, groups: StageGroups, y: np.ndarray) -> None:
    """For each pool g: sum of tp_k y_k over groups on g <= count_g."""
    first = len(b.row_lo)
    for g, pool in enumerate(scenario.pools):
        on_pool = groups.pool == g
        b.add_row(f"gpus[{pool.name}]", y[on_pool], groups.tp[on_pool], hi=pool.count)
    b.family("gpu_supply", first)


def add_stage_order(b: _Builder, scenario: Scenario, groups: StageGroups, y: np.ndarray, max_stages: int
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


def add_budget(b: _Builder, groups: StageGroups, y: np.ndarray, max_hourly_cost: float) -> None:
    """Sum of $/h of the chosen stages <= max_hourly_cost (the methods' own budgets are checked on the frontier)."""
    first = len(b.row_lo)
    b.add_row("budget", y, groups.cost, hi=max_hourly_cost)
    b.family("budget", first)


def add_latency_slos(b: _Builder, scenario: Scenario, arcs: ArcSet, groups: StageGroups, y: np.ndarray,
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


def add_uniform_tp(b: _Builder, groups: StageGroups, y: np.ndarray, max_stages: int) -> None:
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


def _data_positions(A: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Where A[row, col] sits in A.data, so a coefficient can be changed without rebuilding the matrix."""
    return np.array([A.indptr[r] + int(np.flatnonzero(A.indices[A.indptr[r]:A.indptr[r + 1]] == c)[0])
                     for r, c in zip(rows, cols)], dtype=int)


def build_model(scenario: Scenario, arcs: ArcSet) -> PlacementModel:
    """Assemble the MILP for one batch size from the constraint families; objective: $/h."""
    s = scenario.settings
    S = s.max_pipeline_stages
    groups = group_stage_types(arcs)
    b = _Builder()
    # No more stages of a group than fit in the layers and in its pool; one first, one last.
    counts = np.array([p.count for p in scenario.pools])
    y_ub = np.minimum(np.minimum(arcs.num_layers // np.maximum(groups.lo, 1), counts[groups.pool] // groups.tp), S)
    y_ub = np.where(groups.role == MIDDLE, y_ub, np.minimum(y_ub, 1)).astype(float)
    names = [f"{scenario.pools[g].name},tp{t},r{r},n{lo}+" for g, t, r, lo in
             zip(groups.pool, groups.tp, groups.role, groups.lo)]
    y = b.add_vars([f"y[{n}]" for n in names], 0.0, y_ub, True)
    z = b.add_vars([f"z[{n}]" for n in names], 0.0, arcs.num_layers, True)
    lo_rows, hi_rows = add_cover(b, groups, y, z, arcs.num_layers)
    windows = depth_windows(arcs, groups)
    whole_runs = (windows[0] == groups.lo) & (windows[1] == groups.lo + groups.length - 1)
    if whole_runs.all():  # memory does not depend on the depth here
        d, windows = None, None
        add_stage_limit(b, y, S)
    else:
        d = add_pipeline_depth(b, y, arcs.depth_fits.shape[0])
    add_gpu_supply(b, scenario, groups, y)
    w = add_stage_order(b, scenario, groups, y, S) if links_can_matter(scenario, arcs) else None
    add_budget(b, groups, y, s.max_hourly_cost)
    add_latency_slos(b, scenario, arcs, groups, y, z, w)
    if s.vllm_deployable:
        add_uniform_tp(b, groups, y, S)
    lp = b.build()
    lp.c[y] = groups.cost
    return PlacementModel(lp=lp, arcs=arcs, groups=groups, y=y, z=z, hi_entries=_data_positions(lp.A, hi_rows, y),
                          lo_entries=_data_positions(lp.A, lo_rows, y), w=w, y_ub=y_ub,
                          allowed=np.ones(len(groups), dtype=bool), d=d, windows=windows)
