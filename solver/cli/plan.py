"""`tokenop-solve plan`: solve (or read a solution) and write the vLLM launch for it: launch.sh and plan.json.

When the cheapest placement is not something vLLM can launch (mixed TP degrees), the deployable optimum is
solved as well and both costs are reported; the files describe the deployable one.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from solver.api import why_infeasible
from solver.cli.common import SolveRequest, load_and_solve, user_errors
from solver.cli.options import finite
from solver.domain.choices import DEFAULT_PERF_MODEL, METHODS
from solver.domain.errors import InfeasibleError, UserError
from solver.domain.placement import Placement
from solver.domain.solution import Solution
from solver.loaders.solution import read_solution
from solver.report.files import solution_files
from solver.report.tables import placement_table
from solver.storage.resultset import ResultSet
from solver.vllm.launch import LaunchPlan, launch_script, plan_of_solution


def add_plan(results: ResultSet, plan: LaunchPlan, placement: Placement, console: Console) -> None:
    """launch.sh and plan.json into the result set, and the launch steps on the console."""
    header = [f"tokenop-solve launch plan: {plan.model}, {plan.layout} on "
              + " + ".join(f"{n.gpus}x {n.gpu_type}" for n in plan.nodes),
              f"predicted {placement.tokens_per_s:,.0f} tok/s at ${placement.dollar_per_hour:,.2f}/h "
              f"(${placement.cost_per_million_tokens:.4f} per 1M tokens), {placement.requests_in_flight} requests "
              f"in flight",
              *plan.notes]
    results.add("launch.sh", launch_script(plan, header), executable=True)
    results.add("plan.json", json.dumps(plan.to_dict(), indent=2) + "\n")
    for line in plan.commands():
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def deployable_solution(console: Console, config_dir: str, method: str | None, perf_model: str,
                        time_limit: float | None, batch_sizes: str | None, model: str | None
                        ) -> tuple[Solution, LaunchPlan]:
    """Solve; when the optimum mixes TP degrees, solve the deployable optimum too and say what it costs."""
    request = SolveRequest(config_dir, method, perf_model=perf_model, time_limit=time_limit, batch_sizes=batch_sizes)
    scenario, solution = load_and_solve(console, request)
    if solution.placement is None:
        raise InfeasibleError(why_infeasible(scenario, perf_model, time_limit))
    chosen = plan_of_solution(solution, solution.placement, model)
    if chosen.deployable:
        return solution, chosen
    best = solution.placement
    _, solution = load_and_solve(console, request, vllm_deployable=True)
    if solution.placement is None:
        raise InfeasibleError(f"the cheapest placement is not deployable ({'; '.join(chosen.problems)}) and no "
                              "placement with one TP degree for all stages exists. Fix: add GPUs or relax the limits "
                              "in config.csv.")
    extra = solution.placement.cost_per_million_tokens / best.cost_per_million_tokens - 1
    console.print(f"The cheapest placement (${best.cost_per_million_tokens:.4f} per 1M tokens) is not directly "
                  f"deployable: {'; '.join(chosen.problems)}. The deployable optimum costs "
                  f"${solution.placement.cost_per_million_tokens:.4f} per 1M tokens ({extra:+.1%}).", highlight=False)
    return solution, plan_of_solution(solution, solution.placement, model)


@click.command()
@click.option("--config-dir", default=None, help="Scenario to solve (folder or preset name).")
@click.option("--solution", "solution_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Plan an existing solution.json instead of solving.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for launch.sh, plan.json (and solution.json when solving).")
@click.option("--model", default=None, help="HF id or local path vLLM loads [default: hf_model_name of the config].")
@click.option("--method", type=click.Choice(METHODS), default=None)
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True, help="Performance model by name.")
@click.option("--batch-size", "batch_sizes", default=None, help="Batch size(s) to consider, e.g. 32 or 16,32,64.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True, max=10**7), default=None, callback=finite)
@click.option("--json", "as_json", is_flag=True, help="Print plan.json to stdout.")
@user_errors
def plan(config_dir: str | None, solution_file: Path | None, output: Path, model: str | None, method: str | None,
         perf_model: str, batch_sizes: str | None, time_limit: float | None, as_json: bool) -> None:
    """Write the vLLM launch (launch.sh, plan.json) of the cheapest deployable placement."""
    console = Console(stderr=as_json)
    if (config_dir is None) == (solution_file is None):
        raise UserError("pass exactly one of --config-dir (solve, then plan) or --solution (plan a solution.json). "
                        "Fix: e.g. tokenop-solve plan --config-dir medium --output results/runs/plan.")
    with ResultSet(output) as results:  # checked and locked before solving; written as one unit at the end
        solution, chosen = planned(console, results, config_dir, solution_file, output, model, method, perf_model,
                                   batch_sizes, time_limit)
        assert solution.placement is not None
        console.print(placement_table(solution.placement, "deployable placement"))
        add_plan(results, chosen, solution.placement, console)
    console.print(f"wrote {', '.join(results.files)} to {output}")
    if as_json:
        click.echo(json.dumps(chosen.to_dict(), indent=2))


def planned(console: Console, results: ResultSet, config_dir: str | None, solution_file: Path | None, output: Path,
            model: str | None, method: str | None, perf_model: str, batch_sizes: str | None,
            time_limit: float | None) -> tuple[Solution, LaunchPlan]:
    """The solution to plan (read, or solved with its files added to the result set) and its launch."""
    if solution_file is not None:
        solution = read_solution(solution_file)
        assert solution.placement is not None
        chosen = plan_of_solution(solution, solution.placement, model)
        if not chosen.deployable:
            raise UserError(f"{solution_file}: {'; '.join(chosen.problems)}. Fix: tokenop-solve plan --config-dir "
                            f"{solution.config_dir or 'DIR'} --output {output} (it solves the deployable optimum "
                            "too).")
        return solution, chosen
    solution, chosen = deployable_solution(console, config_dir or "", method, perf_model, time_limit, batch_sizes,
                                           model)
    for name, text in solution_files(solution).items():
        results.add(name, text)
    return solution, chosen
