"""The bare command: load a scenario, solve it with a progress line, print the report (or JSON), write outputs."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import click
from rich.console import Console

from solver.api import why_infeasible
from solver.cli.common import SolveRequest, load_and_solve, user_errors
from solver.domain.errors import InfeasibleError, NoPlanInTime, UserError
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution
from solver.report.files import solution_files
from solver.report.tables import render
from solver.storage.resultset import ResultSet


@user_errors
def run_solve(options: dict, switches: dict[str, bool | None], output: Path | None, as_json: bool) -> None:
    console = Console(stderr=as_json)
    request = SolveRequest(**options, switches=switches)  # type: ignore[arg-type]
    with ResultSet(output) if output else nullcontext() as results:  # checked and locked before solving
        scenario, solution = load_and_solve(console, request)
        if results is not None:
            for name, text in solution_files(solution).items():
                results.add(name, text)
    if output:
        console.print(f"wrote {', '.join(solution_files(solution))} to {output}")
    if as_json:
        click.echo(solution.model_dump_json(indent=2))
    else:
        render(solution, console)
    if solution.placement is None:
        raise no_plan_error(scenario, solution, request)


def no_plan_error(scenario: Scenario, solution: Solution, request: SolveRequest) -> UserError:
    """Exit 4 when the time ran out first, exit 3 (with the binding constraint) when no plan exists."""
    if solution.status == "time_limit":
        return NoPlanInTime(f"no plan found within {solution.solve_seconds:.1f} s (the time limit); that is not a "
                            "proof that none exists. Fix: raise --time-limit.")
    left = (request.time_limit or scenario.settings.time_limit_seconds) - solution.solve_seconds
    return InfeasibleError(why_infeasible(scenario, request.perf_model, max(left, 1.0)))
