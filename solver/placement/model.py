"""The placement MILP, written once in a backend-neutral form (docs/formulation.md has the math).

Variables: y_k / z_k = stages of group k and the layers they hold (group = pool, TP, role, run of sizes); when
links can matter, w_gh = consecutive stage pairs from pool g to pool h, with a connectivity flow so the w form
one Eulerian trail (= an order of the stages); d_P picks the pipeline depth when memory depends on it; u_t picks
vLLM's single TP degree. The objective is $/h; search methods move a throughput threshold tau (sizes and links
slower than tau are switched off) by changing bounds and coefficients in place, so one model serves every method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from solver.domain.scenario import Scenario
from solver.milp.linear import Builder, LinearModel
from solver.placement.candidates import MIDDLE, ArcSet
from solver.placement.constraints import (
    add_budget,
    add_cover,
    add_gpu_supply,
    add_instances,
    add_latency_slos,
    add_pipeline_depth,
    add_stage_limit,
    add_stage_order,
    add_uniform_tp,
    links_can_matter,
)
from solver.placement.groups import StageGroups, depth_windows, group_stage_types


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
                assert self.windows is not None  # set together with d
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
        if self.d is None or self.windows is None or self.depth is not None:
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


def _data_positions(A: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Where A[row, col] sits in A.data, so a coefficient can be changed without rebuilding the matrix."""
    return np.array([A.indptr[r] + int(np.flatnonzero(A.indices[A.indptr[r]:A.indptr[r + 1]] == c)[0])
                     for r, c in zip(rows, cols)], dtype=int)


def build_model(scenario: Scenario, arcs: ArcSet) -> PlacementModel:
    """Assemble the MILP for one batch size from the constraint families; objective: $/h."""
    s = scenario.settings
    S = s.max_pipeline_stages
    groups = group_stage_types(arcs)
    b = Builder()
    # No more stages of a group than fit in the layers and in its pool; one first, one last.
    counts = np.array([p.count for p in scenario.pools])
    y_ub = np.minimum(np.minimum(arcs.num_layers // np.maximum(groups.lo, 1), counts[groups.pool] // groups.gpus), S)
    y_ub = np.where(groups.role == MIDDLE, y_ub, np.minimum(y_ub, 1)).astype(float)
    names = [f"{scenario.pools[g].name},tp{t}{f'dp{d}' if d > 1 else ''},r{r},n{lo}+" for g, t, d, r, lo in
             zip(groups.pool, groups.tp, groups.dp, groups.role, groups.lo)]
    y = b.add_vars([f"y[{n}]" for n in names], 0.0, y_ub, True)
    z = b.add_vars([f"z[{n}]" for n in names], 0.0, arcs.num_layers, True)
    lo_rows, hi_rows = add_cover(b, groups, y, z, arcs.num_layers)
    at_depth = depth_windows(arcs, groups)
    whole_runs = (at_depth[0] == groups.lo) & (at_depth[1] == groups.lo + groups.length - 1)
    d: np.ndarray | None = None
    windows: np.ndarray | None = None
    if whole_runs.all():  # memory does not depend on the depth here
        add_stage_limit(b, y, S)
    else:
        d, windows = add_pipeline_depth(b, y, arcs.depth_fits.shape[0]), at_depth
    add_gpu_supply(b, scenario, groups, y)
    w = add_stage_order(b, scenario, groups, y, S) if links_can_matter(scenario, arcs) else None
    m, instance_cost = add_instances(b, scenario, groups, y)
    rented = np.array([scenario.pools[g].instance is not None for g in groups.pool], dtype=bool)
    stage_cost = np.where(rented, 0.0, groups.cost)
    add_budget(b, np.r_[y, m], np.r_[stage_cost, instance_cost], s.max_hourly_cost)
    add_latency_slos(b, scenario, arcs, groups, y, z, w)
    if s.vllm_deployable:
        add_uniform_tp(b, groups, y, S)
    lp = b.build()
    lp.c[y], lp.c[m] = stage_cost, instance_cost
    return PlacementModel(lp=lp, arcs=arcs, groups=groups, y=y, z=z, hi_entries=_data_positions(lp.A, hi_rows, y),
                          lo_entries=_data_positions(lp.A, lo_rows, y), w=w, y_ub=y_ub,
                          allowed=np.ones(len(groups), dtype=bool), d=d, windows=windows)
