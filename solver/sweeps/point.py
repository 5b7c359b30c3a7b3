"""One sweep point, solved in a worker process (or a Ray task) and returned as one flat row: a failing point is a
row with its message, never a crash of the sweep."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from solver import __version__
from solver.domain.errors import UserError
from solver.domain.placement import Stage
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution
from solver.sweeps.spec import Point


def stored_placement(stages: list[Stage]) -> str:
    """The placement column: JSON [[gpu_type, tp, first_layer, end_layer], ...], a fifth number dp on
    expert-parallel stages (older nights have only the four)."""
    return json.dumps([[s.gpu_type, s.tp, s.first_layer, s.end_layer] + ([s.dp] if s.dp > 1 else []) for s in stages])


def stages_of(placement: str | list) -> list[Stage]:
    """The stages a placement column holds (its JSON text, or that text already parsed), each pool named after its
    GPU type."""
    rows = json.loads(placement) if isinstance(placement, str) else placement
    return [Stage(pool=gpu, gpu_type=gpu, tp=tp, first_layer=first, end_layer=end, dp=rest[0] if rest else 1)
            for gpu, tp, first, end, *rest in rows]


def engine_version() -> str:
    """The tool and the performance model a row was solved with ("0.2.0, roofline v10"): a new model version changes
    answers as much as new prices do."""
    from solver.domain.choices import DEFAULT_PERF_MODEL
    from solver.perf import get_model

    perf = get_model(DEFAULT_PERF_MODEL)
    return f"{__version__}, {perf.name} v{perf.version}"


def data_hash(point: Point) -> str:
    """What a point's answer depends on besides its inputs: the tool and performance model versions, the catalog,
    the scenario's files, a prices or pool file. A change to any of them makes the point run again."""
    from solver.loaders.catalog import catalog_files
    from solver.loaders.scenario import resolve_config_dir

    directory = resolve_config_dir(point.scenario)[0]
    files = [*catalog_files(), *sorted(p for p in directory.iterdir() if p.is_file())]
    files += [Path(p) for p in (point.prices, point.gpu_pool) if p]
    digest = hashlib.sha256(engine_version().encode() + b"\0")
    for path in files:
        digest.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"missing"))
    return digest.hexdigest()[:16]


def scenario_of(point: Point) -> Scenario:
    """The point's scenario: the folder or preset with the grid's values applied."""
    from solver.api import load_scenario
    from solver.loaders.catalog import load_catalog, with_prices

    catalog = with_prices(load_catalog(), Path(point.prices)) if point.prices else None
    scenario = load_scenario(point.scenario, [point.batch_size] if point.batch_size else None,
                             provider=point.price_provider, catalog=catalog,
                             pool_file=Path(point.gpu_pool) if point.gpu_pool else None, headroom=point.headroom,
                             threads=1)  # one solver thread per point: the sweep runs a point per core
    shape = {k: v for k, v in (("input_tokens", point.input_tokens), ("output_tokens", point.output_tokens)) if v}
    if shape:
        scenario.workload = scenario.workload.model_copy(update=shape)
    if point.precision:
        scenario.model = scenario.model.model_copy(update={"precision": point.precision})
    return scenario


def solve_point(inputs: dict[str, Any], key: str, digest: str, run_date: str) -> dict[str, Any]:
    """Solve one point (in a worker) and return its row."""
    from solver.api import solve

    point = Point(**inputs)
    row: dict[str, Any] = {"key": key, "point_id": point.point_id, "run_date": run_date, **point.model_dump(),
                           "tool_version": engine_version(), "data_hash": digest, "status": "error", "message": ""}
    started = time.perf_counter()
    try:
        # A batch size the grid asks for is answered at that size (infeasible if it does not fit), so nights compare.
        solution = solve(scenario_of(point), method=point.method, time_limit=point.time_limit_seconds,
                         batch_fallback=point.batch_size is None)
        row.update(solution_columns(solution))
    except UserError as exc:
        row["message"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a failing point is a row, whatever failed
        row["message"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - started
    return row


def solution_columns(solution: Solution) -> dict[str, Any]:
    """The flat columns of a solved point: status, figures with units in their names, the placement."""
    p = solution.placement
    columns: dict[str, Any] = {"status": solution.status, "method": solution.method,
                               "gap": solution.optimality_gap, "solve_seconds": solution.solve_seconds,
                               "message": "; ".join(solution.warnings)[:2000]}
    if p is None:
        return columns
    gpus: dict[str, int] = {}
    for stage in p.stages:
        gpus[stage.gpu_type] = gpus.get(stage.gpu_type, 0) + stage.gpus * p.replicas
    return columns | {
        "cost_per_million_tokens": p.cost_per_million_tokens, "dollar_per_hour": p.total_dollar_per_hour,
        "tokens_per_s": p.total_tokens_per_s, "ttft_ms": p.ttft_ms, "tpot_ms": p.tpot_ms,
        "plan_batch_size": p.batch_size, "replicas": p.replicas, "gpu_mix": " + ".join(f"{n}x {t}" for t, n in
                                                                                sorted(gpus.items())),
        "gpus_by_type": json.dumps(gpus, sort_keys=True),
        "placement": stored_placement(p.stages),
        "exact_cost_per_million_tokens": solution.exact.cost_per_million_tokens if solution.exact else None,
        "homogeneous_cost_per_million_tokens": (solution.homogeneous.cost_per_million_tokens
                                                if solution.homogeneous else None)}
