"""The bare command: load a scenario, solve it with a progress line, print the report (or JSON), write outputs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from solver.api import why_infeasible
from solver.cli.common import SolveRequest, load_and_solve, user_errors
from solver.domain.errors import InfeasibleError
from solver.report.files import write_outputs
from solver.report.tables import render


@user_errors
def run_solve(options: dict, switches: dict[str, bool | None], output: Path | None, as_json: bool) -> None:
    console = Console(stderr=as_json)
    request = SolveRequest(**options, switches=switches)  # type: ignore[arg-type]
    scenario, solution = load_and_solve(console, request)
    if output:
        for path in write_outputs(output, solution):
            console.print(f"wrote {path}")
    if as_json:
        click.echo(solution.model_dump_json(indent=2))
    else:
        render(solution, console)
    if solution.placement is None:
        raise InfeasibleError(why_infeasible(scenario, request.perf_model))
