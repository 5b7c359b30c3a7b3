"""Stage types aggregated into groups: one MILP column pair per (pool, TP x DP, role, run of consecutive sizes)
instead of one per size (docs/formulation.md, "Why stage groups")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.placement.candidates import ArcSet, StageRoles


@dataclass(frozen=True)
class StageGroups(StageRoles):
    """Stage types aggregated into groups (pool, TP x DP layout, role, a run of consecutive sizes lo..lo+len-1).

    Within a group cost is fixed, memory grows and throughput falls with the size (a StageProfile is affine in
    the layer count), so at any threshold the allowed sizes are an interval lo..hi(tau): y stages of the group
    can hold any z layers with lo y <= z <= hi y. Quantized sizes give runs of length one (plain stage types).
    """

    pool: np.ndarray
    tp: np.ndarray
    dp: np.ndarray
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
    def gpus(self) -> np.ndarray:
        return self.tp * self.dp

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
    order = np.lexsort((arcs.size, arcs.role, arcs.dp, arcs.tp, arcs.pool))
    key = np.c_[arcs.pool, arcs.tp, arcs.dp, arcs.role][order]
    size, thr = arcs.size[order], arcs.throughput[order]
    new_run = np.r_[True, (key[1:] != key[:-1]).any(axis=1) | (np.diff(size) != 1) | (np.diff(thr) > 0)]
    start = np.flatnonzero(new_run)
    heads = order[start]
    fits = [_affine(arcs.size[run], values[run]) for values in (arcs.prefill_s, arcs.decode_step_s)
            for run in np.split(order, start[1:])]
    slopes = np.array(fits).reshape(2, len(start), 2)
    return StageGroups(pool=arcs.pool[heads], tp=arcs.tp[heads], dp=arcs.dp[heads], role=arcs.role[heads],
                       cost=arcs.cost[heads], lo=arcs.size[heads], start=start, members=order,
                       prefill_slope=slopes[0, :, 0], prefill_intercept=slopes[0, :, 1],
                       step_slope=slopes[1, :, 0], step_intercept=slopes[1, :, 1])


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
