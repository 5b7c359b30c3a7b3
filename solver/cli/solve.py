"""The bare command: load a scenario, solve it with a progress line, print the report (or JSON), write outputs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from solver.api import why_infeasible
from solver.cli.common import load_and_solve, user_errors
from solver.domain.errors import InfeasibleError
from solver.report.files import write_outputs
from solver.report.tables import render


@user_errors
def run_solve(config_dir: str, method: str | None, backend: str, perf_model: str, time_limit: float | None,
              batch_sizes: str | None, headroom: float | None, vllm_deployable: bool, output: Path | None,
              as_json: bool, verbose: bool) -> None:
    console = Console(stderr=as_json)
    scenario, solution = load_and_solve(console, config_dir, method, backend, perf_model, time_limit, batch_sizes,
                                        headroom, vllm_deployable, verbose)
    if output:
        for path in write_outputs(output, solution):
            console.print(f"wrote {path}")
    if as_json:
        click.echo(solution.model_dump_json(indent=2))
    else:
        render(solution, console)
    if solution.placement is None:
        raise InfeasibleError(why_infeasible(scenario, perf_model))
