"""KV-limited batches: a placement that vLLM can start is never excluded because its KV cache cannot hold the
batch asked for. vLLM admits requests while KV blocks last, so such a placement runs fewer requests at once and
its throughput is the one at that concurrency. The search stands in for it with the largest power of two below
the asked batch at which the placement fits (conservative: vLLM may hold a few more), and only visits such a
batch when some stage type fits there at a pipeline depth where it does not fit at the asked batch; otherwise
every placement it could find also runs at the asked batch, faster.
"""

from __future__ import annotations

import numpy as np

from solver.placement.candidates import MIDDLE, ONLY, ArcSet


def smaller_powers_of_two(batch: int) -> list[int]:
    """The powers of two below `batch`, largest first."""
    sizes, p = [], 1
    while p < batch:
        sizes.append(p)
        p *= 2
    return sizes[::-1]


def kv_ladder(asked: list[int]) -> list[tuple[int, int]]:
    """(batch, asked batch it stands in for) for every power of two below the largest asked batch that was not
    asked itself, largest first; each stands in for the smallest asked batch above it."""
    return [(c, min(b for b in asked if b > c)) for c in smaller_powers_of_two(max(asked)) if c not in asked]


def fitting_kinds(arcs: ArcSet) -> set[tuple[int, int, int, int, int, int]]:
    """(layers, role, pool, TP, DP, depth) of every stage type whose memory fits at a pipeline depth where its role
    exists (a single stage at depth 1, first and last from 2, middle from 3)."""
    depth, k = np.nonzero(arcs.depth_fits)
    depth, role = depth + 1, arcs.role[k]
    valid = np.where(role == ONLY, depth == 1, np.where(role == MIDDLE, depth >= 3, depth >= 2))
    depth, k = depth[valid], k[valid]
    return set(zip(arcs.size[k].tolist(), arcs.role[k].tolist(), arcs.pool[k].tolist(), arcs.tp[k].tolist(),
                   arcs.dp[k].tolist(), depth.tolist()))

