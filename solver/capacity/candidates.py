"""Candidate replica types: pipelines from the placement MILP, one search per request bucket and batch size.

For every bucket (its prompt and output length) and every batch size of a ladder, the placement search returns
the exact minimum-$/token pipeline and the best single-GPU-type one (the same search's baseline). Small batches
give small, cheap-per-hour pipelines (what a trickle of demand wants); large ones the cheapest per token.

SLOs: the MILP can enforce TPOT at the batch it plans for, and TTFT at batch 1 (where its prefill time is one
prompt's). Each (bucket, batch) is first searched without them, which does not depend on the SLO and is cached
across SLO levels; only where that optimum breaks an SLO is it searched again with the SLO as a constraint. This
loses nothing: an unconstrained optimum that meets a constraint is also the constrained optimum. Each distinct set
of stages is one candidate, later rated per bucket by its SLO-limited request rate (capacity/rates.py).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from solver.domain.capacity import Bucket, Slo
from solver.domain.placement import Placement, Stage
from solver.domain.scenario import Scenario
from solver.perf import get_model
from solver.search.parallel import run_parallel, worker_pool
from solver.search.solve import solve as search_solve

BATCH_LADDER = (1, 4, 16, 64, 256)
NO_SLO = Slo()


@dataclass(frozen=True)
class Layout:
    """A pipeline's stages and how it was found."""

    stages: tuple[Stage, ...]
    origin: str

    @property
    def key(self) -> tuple[tuple[str, int, int, int, int], ...]:
        return tuple((s.pool, s.tp, s.dp, s.first_layer, s.end_layer) for s in self.stages)


@dataclass(frozen=True)
class Searched:
    """What one placement search returned: the min-$/token pipeline, the best single-GPU-type one, and whether the
    time limit cut it short."""

    best: Placement | None
    single_type: Placement | None
    cut: bool


@dataclass
class LayoutCache:
    """Searches by (prompt, output, batch, SLO): a second SLO level or demand reuses every search it can, and the
    worker processes stay up between them (`with LayoutCache() as cache:` closes them)."""

    searched: dict[tuple, Searched] = field(default_factory=dict)
    searches: int = 0
    pool: ProcessPoolExecutor | None = None

    def workers(self, size: int) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool = worker_pool(size)
        return self.pool

    def __enter__(self) -> LayoutCache:
        return self

    def __exit__(self, *_: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def bucket_scenario(scenario: Scenario, bucket: Bucket, batch: int, slo: Slo) -> Scenario:
    """The scenario serving one bucket at one batch size, with the SLOs the placement MILP can check there and no
    throughput floor (max_total_runtime_hours would otherwise set one and search identical replicas too)."""
    workload = scenario.workload.model_copy(update={
        "input_tokens": bucket.input_tokens, "output_tokens": bucket.output_tokens, "batch_sizes": [batch],
        "throughput_demand": 0.0, "tpot_slo_ms": slo.tpot_ms,
        "ttft_slo_ms": slo.ttft_ms if batch == 1 else math.inf})
    # One pipeline per search: the fleet MILP decides how many copies to rent.
    return replace(scenario, workload=workload, settings=scenario.settings.model_copy(update={"max_replicas": 1}))


def search_layout(scenario: Scenario, perf_model: str, backend: str, deadline: float) -> Searched:
    """One placement search until `deadline` (wall-clock seconds since the epoch: worker processes share it); a
    module-level function, so workers can run it."""
    time_limit = deadline - time.time()
    if time_limit <= 0:
        return Searched(None, None, cut=True)
    # Exactly at the batch asked: the capacity model itself runs each copy at the concurrency its KV cache holds.
    outcome = search_solve(scenario, get_model(perf_model), method="exact", backend=backend, time_limit=time_limit,
                           kv_limited=False)
    return Searched(outcome.placement, outcome.homogeneous, outcome.time_limited)


def _breaks(placement: Placement, slo: Slo, batch: int) -> bool:
    """Whether a plan breaks an SLO the MILP would enforce at this batch size."""
    return placement.tpot_ms > slo.tpot_ms or (batch == 1 and placement.ttft_ms > slo.ttft_ms)


def generate_layouts(scenario: Scenario, buckets: list[Bucket], slo: Slo, perf_model: str, backend: str = "highs",
                     time_limit: float = 60.0, ladder: tuple[int, ...] = BATCH_LADDER, workers: int | None = None,
                     cache: LayoutCache | None = None, progress: Callable[[str], None] | None = None
                     ) -> tuple[list[Layout], str, bool]:
    """Distinct pipelines over every bucket and batch size of `ladder`, one line saying how they were found, and
    whether a time limit cut the search short. Searches run on `workers` processes (default: the cores)."""
    if cache is None:
        with LayoutCache() as own:
            return generate_layouts(scenario, buckets, slo, perf_model, backend, time_limit, ladder, workers, own,
                                    progress)
    deadline = time.time() + time_limit
    pairs = [(bucket, batch) for bucket in buckets for batch in ladder]

    def answer_key(bucket: Bucket, batch: int) -> tuple:
        """The search that answers (bucket, batch) under `slo`: the unconstrained one unless its optimum breaks
        an SLO the MILP can enforce there."""
        free = cache.searched.get(_key(bucket, batch, NO_SLO))
        breaks = free is not None and free.best is not None and _breaks(free.best, slo, batch)
        return _key(bucket, batch, slo if breaks else NO_SLO)

    _run(scenario, [(b, n, NO_SLO) for b, n in pairs], perf_model, backend, deadline, workers, cache, progress)
    again = [(b, n, slo) for b, n in pairs if answer_key(b, n) != _key(b, n, NO_SLO)]
    _run(scenario, again, perf_model, backend, deadline, workers, cache, progress)
    found: dict[tuple, Layout] = {}
    cut = False
    for bucket, batch in pairs:
        key = answer_key(bucket, batch)
        searched = cache.searched.get(key)
        if searched is None:
            cut = True
            continue
        cut = cut or searched.cut
        for placement, how in ((searched.best, "min $/token"), (searched.single_type, "best single GPU type")):
            if placement is not None:
                layout = Layout(tuple(placement.stages), f"{how} for {bucket.name} at batch {batch}")
                found.setdefault(layout.key, layout)
    note = (f"{len(found)} candidate pipelines from {cache.searches} placement searches (exact min $/token and best "
            f"single GPU type per bucket and batch size {', '.join(map(str, ladder))}; searched again with the SLO "
            f"as a constraint where the optimum broke it)")
    if cut:
        note += "; the time limit cut the candidate search short, so cheaper fleets may exist outside them"
    return list(found.values()), note, cut


def _key(bucket: Bucket, batch: int, slo: Slo) -> tuple:
    return bucket.input_tokens, bucket.output_tokens, batch, slo.ttft_ms if batch == 1 else math.inf, slo.tpot_ms


def _run(scenario: Scenario, todo: list[tuple[Bucket, int, Slo]], perf_model: str, backend: str, deadline: float,
         workers: int | None, cache: LayoutCache, progress: Callable[[str], None] | None) -> None:
    """Search the (bucket, batch, SLO) triples not cached yet, in parallel, until the deadline."""
    todo = [item for item in todo if _key(*item) not in cache.searched]
    if not todo or deadline <= time.time():
        return
    size = min(workers or os.cpu_count() or 1, len(todo))
    if size > 1:  # one solver thread per worker: the workers already use the cores
        scenario = replace(scenario, settings=scenario.settings.model_copy(update={"threads": 1}))
    tasks = [(bucket_scenario(scenario, b, n, slo), perf_model, backend, deadline) for b, n, slo in todo]
    pool = cache.workers(workers or os.cpu_count() or 1) if size > 1 else None
    for done, (i, result) in enumerate(run_parallel(search_layout, tasks, size, in_process=size <= 1, pool=pool),
                                       start=1):
        if not (result.cut and result.best is None):  # a search the deadline stopped early is not an answer
            cache.searched[_key(*todo[i])] = result
        cache.searches += 1
        if progress:
            progress(f"candidate pipelines: {done} of {len(todo)} placement searches")
