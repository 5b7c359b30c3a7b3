"""Run a sweep's points in parallel, on a local process pool (the default, sized to the cores) or on Ray, writing
each point as it finishes; finished points of an earlier, interrupted run are skipped."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solver.domain.errors import UserError
from solver.search.parallel import run_parallel
from solver.sweeps.point import data_hash, solve_point
from solver.sweeps.spec import Point, SweepSpec
from solver.sweeps.store import SweepStore


@dataclass
class SweepRun:
    """A sweep's plan: every point with its key, the ones already done, and the counts as points finish."""

    spec: SweepSpec
    store: SweepStore
    points: list[tuple[Point, str, str]]  # (point, key, data hash)
    done: set[str]
    counts: dict[str, int] = field(default_factory=lambda: {"optimal": 0, "time_limit": 0, "failed": 0})

    @property
    def todo(self) -> list[tuple[Point, str, str]]:
        return [(p, k, h) for p, k, h in self.points if k not in self.done]

    def record(self, row: dict[str, Any]) -> None:
        status = row["status"]
        bucket = "optimal" if status in ("optimal", "feasible") else ("time_limit" if status == "time_limit"
                                                                          else "failed")
        self.counts[bucket] += 1


def plan_sweep(spec: SweepSpec, spec_folder: Path, output: Path, run_date: str | None = None) -> SweepRun:
    """The points of `spec` (resolved against its folder), their keys, and which of them this night has done."""
    store = SweepStore(output, spec.name, run_date or dt.date.today().isoformat())
    hashes: dict[tuple[str, str | None, str | None], str] = {}  # the files a point depends on, hashed once
    points = []
    for point in spec.points(spec_folder):
        files = (point.scenario, point.prices, point.gpu_pool)
        if files not in hashes:
            hashes[files] = data_hash(point)
        points.append((point, point.key(hashes[files]), hashes[files]))
    return SweepRun(spec, store, points, store.done_keys() & {k for _, k, _ in points})


def run_local(run: SweepRun, workers: int | None = None) -> Iterator[dict[str, Any]]:
    """Solve the points still to do on a local process pool; yield each row as it is stored. A point cut short by
    Ctrl-C is simply not written and runs again on resume."""
    todo = run.todo
    if not todo:
        return
    tasks = [(p.model_dump(), key, digest, run.store.run_date) for p, key, digest in todo]
    size = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    for _, row in run_parallel(solve_point, tasks, size):
        yield _stored(run, row)


def run_ray(run: SweepRun, address: str | None = None) -> Iterator[dict[str, Any]]:
    """The same points as Ray tasks: on the cluster at `address` ('auto' or HOST:PORT), else on a local Ray."""
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed. Fix: pip install 'tokenop-solve[ray]', or leave out --ray.") from None
    todo = run.todo
    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": os.cpu_count() or 1}))
    try:
        task = ray.remote(solve_point).options(**catalog_env())
        pending = [task.remote(p.model_dump(), key, digest, run.store.run_date) for p, key, digest in todo]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            yield _stored(run, ray.get(finished[0]))
    finally:
        if started:
            ray.shutdown()


def catalog_env() -> dict[str, Any]:
    """Ray task options that carry the catalog choices (`$TOKENOP_GPU_CATALOG`, `$TOKENOP_CALIBRATION`, which
    `--calibration` sets) to the workers, which on a cluster do not share this process's environment."""
    from solver.loaders.catalog import CALIBRATION_ENV, CATALOG_ENV

    env = {name: os.environ[name] for name in (CATALOG_ENV, CALIBRATION_ENV) if os.environ.get(name)}
    return {"runtime_env": {"env_vars": env}} if env else {}


def _stored(run: SweepRun, row: dict[str, Any]) -> dict[str, Any]:
    run.store.write(row)
    run.done.add(row["key"])
    run.record(row)
    return row


def execute(run: SweepRun, workers: int | None = None, use_ray: bool = False, ray_address: str | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None) -> Path | None:
    """Run what is left of `run`, then rebuild the night's points.parquet; returns its path."""
    rows = run_ray(run, ray_address) if use_ray else run_local(run, workers)
    try:
        for row in rows:
            if progress:
                progress(row)
    finally:
        run.store.consolidate()
    return run.store.folder / "points.parquet"
