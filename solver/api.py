"""The Python API: what `tokenop-solve` does, for notebooks and other tools, returning the same typed Solution
the CLI writes.

    from solver import load_scenario, solve
    scenario = load_scenario("medium")
    solution = solve(scenario, method="exact")
    print(solution.placement.cost_per_million_tokens)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from solver.domain.choices import DEFAULT_METHOD, DEFAULT_PERF_MODEL
from solver.domain.errors import UserError
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution
from solver.loaders.scenario import load_scenario as load_folder
from solver.loaders.scenario import resolve_config_dir
from solver.perf import get_model
from solver.report.solution import to_solution
from solver.search.solve import solve as search_solve


def load_scenario(config_dir: str | Path, batch_sizes: list[int] | None = None, headroom: float | None = None,
                  vllm_deployable: bool = False) -> Scenario:
    """A scenario folder or bundled preset, with the command line's overrides applied; a note about a
    substituted preset path lands in `scenario.warnings`."""
    directory, note = resolve_config_dir(str(config_dir))
    scenario = load_folder(directory)
    if note:
        scenario.warnings.insert(0, note)
    updates: dict[str, object] = {}
    if headroom is not None:
        updates["headroom"] = headroom
    if vllm_deployable:
        updates["vllm_deployable"] = True
    if updates:
        scenario.settings = scenario.settings.model_copy(update=updates)
    if batch_sizes is not None:
        if not batch_sizes or min(batch_sizes) <= 0:
            raise UserError("--batch-size needs positive integers. Fix: e.g. --batch-size 32.")
        scenario.workload = scenario.workload.model_copy(update={"batch_sizes": list(batch_sizes)})
    return scenario


def solve(scenario: Scenario, method: str | None = None, backend: str = "highs",
          perf_model: str = DEFAULT_PERF_MODEL, time_limit: float | None = None, verbose: bool = False,
          progress: Callable[[str], None] | None = None) -> Solution:
    """The cheapest placement by `method` (default from optimization_priority), with the exact optimum and the
    best single-GPU-type plan beside it."""
    perf = get_model(perf_model)
    chosen = method or DEFAULT_METHOD[scenario.settings.optimization_priority]
    outcome = search_solve(scenario, perf, method=chosen, backend=backend, time_limit=time_limit, verbose=verbose,
                           progress=progress)
    return to_solution(outcome, scenario, perf)


def why_infeasible(scenario: Scenario, perf_model: str = DEFAULT_PERF_MODEL) -> str:
    """One paragraph naming the binding constraint of an infeasible scenario and what to relax."""
    from solver.search.diagnose import explain_infeasible

    return explain_infeasible(scenario, get_model(perf_model))
