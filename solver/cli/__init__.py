"""The `tokenop-solve` command line.

`tokenop-solve --config-dir DIR --method enumeration` solves (the bare form); the other verbs are subcommands.
This module only declares options and registers commands by name: each command's module (and numpy, pandas, the
solvers) is imported when that command runs, so `--help` answers at once. Nothing in `solver` imports the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from solver.cli.options import finite, use_calibration
from solver.domain.choices import BACKENDS, DEFAULT_PERF_MODEL, METHODS

# name -> (module, attribute, one-line help shown by --help without importing the module)
SUBCOMMANDS = {
    "capacity": ("solver.cli.capacity", "capacity", "Cheapest fleet for a demand and SLOs, checked by simulation."),
    "predict": ("solver.cli.predict", "predict", "Predict tok/s, latency and memory of a model on TP x PP GPUs."),
    "plan": ("solver.cli.plan", "plan", "Write the vLLM launch (launch.sh, plan.json) of the best placement."),
    "validate": ("solver.cli.validate", "validate", "Launch vLLM with a solution's layout, benchmark it, compare."),
    "calibrate": ("solver.cli.calibrate", "calibrate", "Fit per-GPU efficiency factors to measured runs."),
    "schema": ("solver.cli.schema", "schema", "Print the JSON schema of solution.json."),
    "sweep": ("solver.cli.sweep", "sweep", "Run a sweep spec resumably; its history and nightly diff."),
    "report": ("solver.cli.sweep", "report", "HTML report of a sweep: costs, Pareto fronts, trend, placements."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked, and whose Ctrl-C exits 130 (click's own
    standalone mode prints "Aborted!" and exits 1)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(code, int):
            sys.exit(code)
        return code

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


PROVIDERS = ("AWS", "GCP", "Azure", "Lambda", "CoreWeave", "Nebius", "neocloud")


def legacy_switch(name: str):  # noqa: ANN201 (a click decorator)
    """--enable-NAME / --disable-NAME of the older solver: accepted, with a notice that they change nothing here."""
    return click.option(f"--enable-{name}/--disable-{name}", f"switch_{name.replace('-', '_')}", default=None,
                        hidden=True)


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config-dir", type=str, help="Scenario folder (config.csv, gpu_pool.csv) or a preset name.")
@click.option("--method", type=click.Choice(METHODS), default=None,
              help="Solve method (default from optimization_priority: cost_first -> exact).")
@click.option("--backend", type=click.Choice(BACKENDS), default="highs", show_default=True)
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True, help="Performance model by name.")
@click.option("--calibration", metavar="NAME|FILE", expose_value=False, is_eager=True, callback=use_calibration,
              help="Efficiency factors for every command (before the subcommand): a profile of the GPU catalog "
                   "(default: fitted to published vLLM sweeps; vllm-0.26: our vLLM 0.26 runs on H100/H200; none: "
                   "datasheet priors) or a calibration CSV. Also $TOKENOP_CALIBRATION.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True, max=10**7), default=None, callback=finite,
              help="Seconds for the whole solve (default: time_limit_seconds of config.csv).")
@click.option("--optimality-gap", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Accept plans within this relative gap (default: proven optimal, 1e-4).")
@click.option("--batch-size", "batch_sizes", default=None, help="Batch size(s) to consider, e.g. 32 or 16,32,64.")
@click.option("--headroom", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Derate every predicted stage throughput by this fraction before optimizing (e.g. 0.15).")
@click.option("--vllm-deployable", is_flag=True, help="Only plans vLLM can launch (one TP degree for all stages).")
@click.option("--no-expert-parallel", is_flag=True,
              help="Do not place mixture-of-experts models expert-parallel (vLLM --data-parallel-size N "
                   "--enable-expert-parallel); TP x PP only.")
@click.option("--cloud-provider", type=click.Choice(PROVIDERS, case_sensitive=False), default=None,
              help="Price GPUs at this provider's catalog prices (default: the lowest listed).")
@click.option("--generate-network", type=(click.FloatRange(min=0, min_open=True),
                                          click.FloatRange(min=0, min_open=True)), default=None,
              metavar="INTRA INTER", help="GB/s within one GPU type and between types, instead of a bandwidth file.")
@click.option("--cost-weight", type=click.FloatRange(0, 1), default=None,
              help="cost_throughput_weight of the weighted method (implies --method weighted).")
@click.option("--tp-config", default=None, help="""Fixed TP degree per GPU type, e.g. '{"A100": 4, "V100": 1}'.""")
@click.option("--enforce-cost-target", is_flag=True, help="Make max_cost_per_million_token a hard limit.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Solver threads.")
@click.option("--max-threads", type=click.IntRange(min=1), default=None, hidden=True)
@click.option("--search-all-tp", is_flag=True, hidden=True)
@legacy_switch("symmetry-breaking")
@legacy_switch("upper-bound")
@legacy_switch("tight-bigm")
@legacy_switch("flow-conservation")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write solution.json and summary.csv here (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Show solver logs.")
@click.version_option(package_name="tokenop-solve")
@click.pass_context
def main(ctx: click.Context, output: Path | None, as_json: bool, **options: object) -> None:
    """Plan the cheapest GPU placement (pools, TP/PP, layer split) for LLM inference. The older solver's flags
    (--enable-*/--disable-*, --search-all-tp, --max-threads) are accepted; docs/migration.md says what each does."""
    if ctx.invoked_subcommand is not None:
        return
    if not options["config_dir"]:
        click.echo(ctx.get_help())
        click.echo("error: --config-dir is required. Fix: e.g. tokenop-solve --config-dir medium --method "
                   "enumeration.", err=True)
        ctx.exit(2)
    from solver.cli.solve import run_solve

    switches = {key.removeprefix("switch_"): options.pop(key) for key in list(options) if key.startswith("switch_")}
    run_solve(options, switches, output, as_json)
