"""`tokenop-solve plan`: solve (or read a solution) and write the vLLM launch for it: launch.sh and plan.json.

When the cheapest placement is not something vLLM can launch (mixed TP degrees), the deployable optimum is
solved as well and both costs are reported; the files describe the deployable one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console

from solver.errors import InfeasibleError, UserError
from solver.io_utils import write_json_atomic, write_text_atomic
from solver.methods import METHODS
from solver.report import outcome_dict, placement_table, write_outputs
from solver.solution_file import read_solution
from solver.vllm_plan import LaunchPlan, launch_plan, launch_script


def plan_for(solution_data: dict, placement, model: str | None) -> LaunchPlan:
    return launch_plan(placement, model or solution_data.get("hf_model_name") or solution_data["model"],
                       int(solution_data["input_tokens"]), int(solution_data["output_tokens"]),
                       float(solution_data["gpu_memory_utilization"]), solution_data["gpus_per_node"])


def write_plan(output: Path, plan: LaunchPlan, placement, console: Console) -> None:
    header = [f"tokenop-solve launch plan: {plan.model}, TP {plan.tp} x PP {plan.pp} on "
              + " + ".join(f"{n.gpus}x {n.gpu_type}" for n in plan.nodes),
              f"predicted {placement.tokens_per_s:,.0f} tok/s at ${placement.dollar_per_hour:,.2f}/h "
              f"(${placement.cost_per_million_tokens:.4f} per 1M tokens), {placement.requests_in_flight} requests "
              f"in flight",
              *plan.notes]
    script = output / "launch.sh"
    write_text_atomic(script, launch_script(plan, header))
    os.chmod(script, 0o755)
    write_json_atomic(output / "plan.json", plan.to_dict())
    console.print(f"wrote {script} and {output / 'plan.json'}")
    for line in plan.commands():
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@click.command()
@click.option("--config-dir", default=None, help="Scenario to solve (folder or preset name).")
@click.option("--solution", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Plan an existing solution.json instead of solving.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for launch.sh, plan.json (and solution.json when solving).")
@click.option("--model", default=None, help="HF id or local path vLLM loads [default: hf_model_name of the config].")
@click.option("--method", type=click.Choice(METHODS), default=None)
@click.option("--batch-size", "batch_sizes", default=None, help="Batch size(s) to consider, e.g. 32 or 16,32,64.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print plan.json to stdout.")
def plan(config_dir, solution, output, model, method, batch_sizes, time_limit, as_json):
    """Write the vLLM launch (launch.sh, plan.json) of the cheapest deployable placement."""
    from solver.cli import load_and_solve, user_errors  # the shared solve flow and error handler

    @user_errors
    def run():
        console = Console(stderr=as_json)
        if (config_dir is None) == (solution is None):
            raise UserError("pass exactly one of --config-dir (solve, then plan) or --solution (plan a solution.json)."
                            " Fix: e.g. tokenop-solve plan --config-dir configs/medium --output results/runs/plan.")
        if solution is not None:
            found = read_solution(solution)
            chosen = plan_for(found.data, found.placement, model)
            if not chosen.deployable:
                raise UserError(f"{solution}: {'; '.join(chosen.problems)}. Fix: tokenop-solve plan --config-dir "
                                f"{found.data.get('config_dir') or 'DIR'} --output {output} (it solves the "
                                "deployable optimum too).")
            placement = found.placement
        else:
            scenario, outcome = load_and_solve(console, config_dir, method, time_limit=time_limit,
                                               batch_sizes=batch_sizes)
            if outcome.placement is None:
                from solver.diagnose import explain_infeasible
                from solver.perf import get_model
                raise InfeasibleError(explain_infeasible(scenario, get_model("roofline")))
            chosen = plan_for(outcome_dict(outcome, scenario), outcome.placement, model)
            if not chosen.deployable:
                best = outcome.placement
                scenario, outcome = load_and_solve(console, config_dir, method, time_limit=time_limit,
                                                   batch_sizes=batch_sizes, vllm_deployable=True)
                if outcome.placement is None:
                    raise InfeasibleError(f"the cheapest placement is not deployable ({'; '.join(chosen.problems)})"
                                          " and no placement with one TP degree for all stages exists. Fix: add "
                                          "GPUs or relax the limits in config.csv.")
                extra = outcome.placement.cost_per_million_tokens / best.cost_per_million_tokens - 1
                console.print(f"The cheapest placement (${best.cost_per_million_tokens:.4f} per 1M tokens) is not "
                              f"directly deployable: {'; '.join(chosen.problems)}. The deployable optimum costs "
                              f"${outcome.placement.cost_per_million_tokens:.4f} per 1M tokens ({extra:+.1%}).",
                              highlight=False)
                chosen = plan_for(outcome_dict(outcome, scenario), outcome.placement, model)
            placement = outcome.placement
            for path in write_outputs(output, outcome, scenario):
                console.print(f"wrote {path}")
        console.print(placement_table(placement, "deployable placement"))
        write_plan(output, chosen, placement, console)
        if as_json:
            click.echo(json.dumps(chosen.to_dict(), indent=2))

    run()
