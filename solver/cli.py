"""The `tokenop-solve` command line.

`tokenop-solve --config-dir DIR --method enumeration` solves (the bare form); other verbs are subcommands
(`predict`, `calibrate`, `plan`, `validate`). Every user error prints one paragraph and exits non-zero, never a traceback.
"""

from __future__ import annotations

import json
import sys
from functools import wraps
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from solver.backends import BACKENDS
from solver.config import Scenario, load_scenario
from solver.diagnose import explain_infeasible
from solver.errors import InfeasibleError, UserError
from solver.methods import DEFAULT_METHOD, METHODS, Outcome, solve
from solver.perf import get_model
from solver.presets import resolve_config_dir
from solver.report import outcome_dict, render, write_outputs


def user_errors(func):
    """Turn UserError into a clean message and exit code."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            Console(stderr=True).print("interrupted; finished results were written atomically")
            sys.exit(130)
    return wrapper


def apply_overrides(scenario: Scenario, batch_sizes: str | None, headroom: float | None,
                    vllm_deployable: bool) -> Scenario:
    updates = {}
    if headroom is not None:
        updates["headroom"] = headroom
    if vllm_deployable:
        updates["vllm_deployable"] = True
    if updates:
        scenario.settings = scenario.settings.model_copy(update=updates)
    if batch_sizes:
        try:
            sizes = [int(v) for v in batch_sizes.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--batch-size '{batch_sizes}' is not a list of integers. Fix: e.g. --batch-size 32 "
                            "or --batch-size 16,32,64.")
        if not sizes or min(sizes) <= 0:
            raise UserError("--batch-size needs positive integers. Fix: e.g. --batch-size 32.")
        scenario.workload = scenario.workload.model_copy(update={"batch_sizes": sizes})
    return scenario


def load_and_solve(console: Console, config_dir: str, method: str | None, backend: str = "highs",
                   time_limit: float | None = None, batch_sizes: str | None = None, headroom: float | None = None,
                   vllm_deployable: bool = False, verbose: bool = False) -> tuple[Scenario, Outcome]:
    """Resolve and load a scenario (printing where a preset path was substituted and any warnings) and solve it
    with a progress line."""
    directory, note = resolve_config_dir(config_dir)
    if note:
        console.print(note)
    scenario = apply_overrides(load_scenario(directory), batch_sizes, headroom, vllm_deployable)
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    method = method or DEFAULT_METHOD[scenario.settings.optimization_priority]
    with console.status("solving ...") as status:
        outcome = solve(scenario, get_model("roofline"), method=method, backend=backend, time_limit=time_limit,
                        verbose=verbose, progress=lambda text: status.update(text))
    return scenario, outcome


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config-dir", type=str, help="Scenario folder (config.csv, gpu_pool.csv) or a preset name.")
@click.option("--method", type=click.Choice(METHODS), default=None,
              help="Solve method (default from optimization_priority: cost_first -> exact).")
@click.option("--backend", type=click.Choice(BACKENDS), default="highs", show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds for the whole solve (default: time_limit_seconds of config.csv).")
@click.option("--batch-size", "batch_sizes", default=None, help="Batch size(s) to consider, e.g. 32 or 16,32,64.")
@click.option("--headroom", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Derate every predicted stage throughput by this fraction before optimizing (e.g. 0.15).")
@click.option("--vllm-deployable", is_flag=True, help="Only plans vLLM can launch (one TP degree for all stages).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write solution.json and summary.csv here (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Show solver logs.")
@click.pass_context
@user_errors
def main(ctx: click.Context, config_dir, method, backend, time_limit, batch_sizes, headroom, vllm_deployable, output,
         as_json, verbose):
    """Plan the cheapest GPU placement (pools, TP/PP, layer split) for LLM inference."""
    if ctx.invoked_subcommand is not None:
        return
    if not config_dir:
        click.echo(ctx.get_help())
        raise UserError("--config-dir is required. Fix: e.g. tokenop-solve --config-dir configs/medium "
                        "--method enumeration.")
    console = Console(stderr=as_json)
    scenario, outcome = load_and_solve(console, config_dir, method, backend, time_limit, batch_sizes, headroom,
                                       vllm_deployable, verbose)
    if output:
        for path in write_outputs(output, outcome, scenario):
            console.print(f"wrote {path}")
    if as_json:
        click.echo(json.dumps(outcome_dict(outcome, scenario), indent=2))
    else:
        render(outcome, scenario, console)
    if outcome.placement is None:
        raise InfeasibleError(explain_infeasible(scenario, get_model("roofline")))


from solver.calibrate_cli import calibrate_command  # noqa: E402  (subcommands register on `main`)
from solver.plan_cli import plan  # noqa: E402
from solver.predict_cli import predict  # noqa: E402
from solver.validate_cli import validate  # noqa: E402

main.add_command(predict)
main.add_command(validate)
main.add_command(calibrate_command, name="calibrate")
main.add_command(plan)
