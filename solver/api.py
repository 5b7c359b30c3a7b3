"""The Python API: what `tokenop-solve` does, for notebooks and other tools, returning the same typed Solution
the CLI writes.

    from solver import load_scenario, solve
    scenario = load_scenario("medium")
    solution = solve(scenario, method="exact")
    print(solution.placement.cost_per_million_tokens)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from solver.domain.capacity import CapacityPlan

from solver.domain.choices import DEFAULT_METHOD, DEFAULT_PERF_MODEL
from solver.domain.errors import UserError
from solver.domain.hardware import Catalog
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution
from solver.domain.workload import Settings
from solver.loaders.catalog import load_catalog
from solver.loaders.scenario import load_scenario as load_folder
from solver.loaders.scenario import resolve_config_dir
from solver.perf import get_model
from solver.report.solution import to_solution
from solver.search.kv_limited import smaller_powers_of_two
from solver.search.solve import solve as search_solve


def load_scenario(config_dir: str | Path, batch_sizes: list[int] | None = None, provider: str | None = None,
                  generate_network: tuple[float, float] | None = None, catalog: Catalog | None = None,
                  pool_file: Path | None = None, **settings: object) -> Scenario:
    """A scenario folder or bundled preset with the command line's overrides: batch sizes, the price provider
    (--cloud-provider), generated bandwidths (--generate-network) and any Settings field (headroom=0.15, ...),
    validated like config.csv. A note about a substituted preset path lands in `scenario.warnings`."""
    directory, note = resolve_config_dir(str(config_dir))
    scenario = load_folder(directory, catalog, provider=provider, generate_network=generate_network,
                           pool_file=pool_file)
    if note:
        scenario.warnings.insert(0, note)
    updates = {key: value for key, value in settings.items() if value is not None}
    if "fixed_tp" in updates:
        updates["fixed_tp"] = canonical_gpu_keys(updates["fixed_tp"])  # type: ignore[arg-type]
    if updates:
        try:
            scenario.settings = Settings.model_validate(scenario.settings.model_dump() | updates)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise UserError(f"{err['loc'][0]}: {err['msg']}. Fix: give a valid value.") from None
    if batch_sizes is not None:
        if not batch_sizes or min(batch_sizes) <= 0:
            raise UserError("--batch-size needs positive integers. Fix: e.g. --batch-size 32.")
        scenario.workload = scenario.workload.model_copy(update={"batch_sizes": list(batch_sizes)})
    return scenario


def canonical_gpu_keys(by_gpu: dict[str, int]) -> dict[str, int]:
    """{'a100': 4} -> {'A100': 4}: GPU types as the catalog names them (--tp-config)."""
    catalog = load_catalog()
    return {catalog.require(name, "--tp-config"): value for name, value in by_gpu.items()}


def solve(scenario: Scenario, method: str | None = None, backend: str = "highs",
          perf_model: str = DEFAULT_PERF_MODEL, time_limit: float | None = None, verbose: bool = False,
          progress: Callable[[str], None] | None = None, batch_fallback: bool = True) -> Solution:
    """The cheapest placement by `method` (default from optimization_priority), with the exact optimum and the
    best single-GPU-type plan beside it. When no batch size of the scenario has a plan, the largest smaller power
    of two that has one is solved instead, and the Solution says so (`batch_fallback=False`: report infeasible)."""
    perf = get_model(perf_model)
    chosen = method or DEFAULT_METHOD[scenario.settings.optimization_priority]
    notes = []
    if method is None and "optimization_priority" in scenario.settings.model_fields_set:
        notes.append(f"no --method given: solving '{chosen}' for optimization_priority "
                     f"{scenario.settings.optimization_priority} (the older solver's default was --method weighted).")

    def run(trial: Scenario) -> Solution:
        outcome = search_solve(trial, perf, method=chosen, backend=backend, time_limit=time_limit, verbose=verbose,
                               progress=progress)
        solution = to_solution(outcome, trial, perf)
        solution.warnings += notes
        p = solution.placement
        if p is not None and p.kv_limited:
            solution.warnings.append(
                f"KV-limited: batch size {p.requested_batch_size} was asked, but this placement's KV cache holds "
                f"{p.batch_size} requests per stage, so vLLM runs {p.batch_size} at once and the figures are for "
                f"that; it is cheaper per token than every placement that holds {p.requested_batch_size}, if any "
                "does (launch it with the max_num_seqs of the plan).")
        return solution

    solution = run(scenario)
    if solution.placement is not None or not batch_fallback or solution.status == "time_limit":
        return solution
    asked = min(scenario.workload.batch_sizes)
    for batch in smaller_powers_of_two(asked):
        if progress:
            progress(f"no plan at batch size {asked}: trying {batch}")
        found = run(replace(scenario, workload=scenario.workload.model_copy(update={"batch_sizes": [batch]})))
        if found.placement is not None:
            found.warnings.append(f"no placement serves batch size {', '.join(map(str, scenario.workload.batch_sizes))}"
                                  f" (the KV cache of that many requests, or another limit, rules every one out); "
                                  f"batch size {batch} is the largest smaller one with a plan, so the plan below runs "
                                  f"{batch} requests per stage (pass a --batch-size to choose another).")
            return found
    return solution


def why_infeasible(scenario: Scenario, perf_model: str = DEFAULT_PERF_MODEL, time_limit: float | None = None) -> str:
    """One paragraph naming the binding constraint of an infeasible scenario and what to relax, within
    `time_limit` seconds (default: the scenario's time_limit_seconds)."""
    from solver.search.diagnose import explain_infeasible

    return explain_infeasible(scenario, get_model(perf_model), time_limit or scenario.settings.time_limit_seconds)


def sweep(spec_file: str | Path, output: str | Path, workers: int | None = None, use_ray: bool = False,
          ray_address: str | None = None, run_date: str | None = None) -> pd.DataFrame:
    """Run (or resume) a sweep spec and return the night's rows, as `tokenop-solve sweep SPEC --output DIR`."""
    import pandas as pd

    from solver.sweeps.run import execute, plan_sweep
    from solver.sweeps.spec import load_spec

    spec = load_spec(Path(spec_file))
    run = plan_sweep(spec, Path(spec_file).parent, Path(output), run_date)
    path = execute(run, workers, use_ray, ray_address)
    return pd.read_parquet(path) if path and path.is_file() else pd.DataFrame()


def plan_capacity(config_dir: str | Path, demand_rps: float | str, workload: str | Path | None = None,
                  **options: object) -> list[CapacityPlan]:
    """The cheapest fleet for a demand (requests/s, or a range 'FROM:TO:STEP'), one CapacityPlan per demand, as
    `tokenop-solve capacity` plans it; `options` are its other options by their Python names (ttft_slo_ms=2000,
    tpot_slo_ms=60, slo_percentile="99", price_scale=("H100=0.8",), months=12, no_simulate=True, ...)."""
    from solver.capacity.request import CapacityRequest, run_capacity

    return run_capacity(CapacityRequest(config_dir=str(config_dir), demand_rps=str(demand_rps),
                                        workload=str(workload) if workload else None, **options))  # type: ignore[arg-type]
