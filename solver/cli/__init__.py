"""The `tokenop-solve` command line.

`tokenop-solve --config-dir DIR --method enumeration` solves (the bare form); the other verbs are subcommands.
This module only declares options and registers commands by name: each command's module (and numpy, pandas, the
solvers) is imported when that command runs, so `--help` answers at once. Nothing in `solver` imports the CLI.
"""

from __future__ import annotations

from pathlib import Path

import click

from solver.domain.choices import BACKENDS, DEFAULT_PERF_MODEL, METHODS

# name -> (module, attribute, one-line help shown by --help without importing the module)
SUBCOMMANDS = {
    "predict": ("solver.cli.predict", "predict", "Predict tok/s, latency and memory of a model on TP x PP GPUs."),
    "plan": ("solver.cli.plan", "plan", "Write the vLLM launch (launch.sh, plan.json) of the best placement."),
    "validate": ("solver.cli.validate", "validate", "Launch vLLM with a solution's layout, benchmark it, compare."),
    "calibrate": ("solver.cli.calibrate", "calibrate", "Fit per-GPU efficiency factors to measured runs."),
    "schema": ("solver.cli.schema", "schema", "Print the JSON schema of solution.json."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        import importlib

        module, attribute, _ = SUBCOMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUBCOMMANDS[name][2]) for name in sorted(SUBCOMMANDS)])


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config-dir", type=str, help="Scenario folder (config.csv, gpu_pool.csv) or a preset name.")
@click.option("--method", type=click.Choice(METHODS), default=None,
              help="Solve method (default from optimization_priority: cost_first -> exact).")
@click.option("--backend", type=click.Choice(BACKENDS), default="highs", show_default=True)
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True, help="Performance model by name.")
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
@click.version_option(package_name="tokenop-solve")
@click.pass_context
def main(ctx: click.Context, **options: object) -> None:
    """Plan the cheapest GPU placement (pools, TP/PP, layer split) for LLM inference."""
    if ctx.invoked_subcommand is not None:
        return
    if not options["config_dir"]:
        click.echo(ctx.get_help())
        click.echo("error: --config-dir is required. Fix: e.g. tokenop-solve --config-dir medium --method "
                   "enumeration.", err=True)
        ctx.exit(2)
    from solver.cli.solve import run_solve

    run_solve(**options)
