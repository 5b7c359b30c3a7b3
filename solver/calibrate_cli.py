"""`tokenop-solve calibrate`: fit per-GPU factors to measured runs and write them where the solver reads them."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from solver.calibration import GpuCalibration, calibrate, write_calibration
from solver.catalog import CALIBRATED_FIELDS, load_catalog
from solver.errors import UserError
from solver.measurements import Defaults, collect
from solver.perf import get_model

DEFAULT_MEASUREMENTS = Path(__file__).resolve().parent.parent / "results" / "calibration"


SHORT = {"compute_efficiency": "compute eff", "memory_efficiency": "memory eff", "attention_efficiency": "attn eff",
         "comm_efficiency": "comm eff", "layer_overhead_us": "layer us", "step_overhead_ms": "step ms"}


def report_tables(results: list[GpuCalibration]) -> tuple[Table, Table]:
    """Errors before/after (fit and holdout runs), then the factors before -> after."""
    errors = Table(title="median |predicted / measured - 1| of generated tok/s", title_justify="left")
    for column in ("GPU", "runs fit", "runs holdout", "fit before", "fit after", "holdout before", "holdout after"):
        errors.add_column(column, justify="right")
    factors = Table(title="fitted factors (catalog prior -> fitted)", title_justify="left")
    for column in ("GPU", *(SHORT[f] for f in CALIBRATED_FIELDS)):
        factors.add_column(column, justify="right")
    pct = (lambda value: "-" if value != value else f"{value:.0%}")
    for r in results:
        errors.add_row(r.gpu_type, str(r.fit_runs), str(r.holdout_runs), pct(r.fit_error_before),
                       pct(r.fit_error_after), pct(r.holdout_error_before), pct(r.holdout_error_after))
        factors.add_row(r.gpu_type, *(f"{getattr(r.before, f):g}->{round(getattr(r.after, f), 3):g}" for f in CALIBRATED_FIELDS))
    return errors, factors


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", default=None, help="Model of runs whose files do not name one (preset or config dir).")
@click.option("--gpu", default=None, help="GPU type of runs whose files do not name one.")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True, help="TP of such runs.")
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True, help="PP of such runs.")
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True), default=0.9,
              show_default=True, help="vLLM's setting during runs whose files do not record it.")
@click.option("--holdout", type=click.FloatRange(0, 0.5), default=0.3, show_default=True,
              help="Fraction of configurations held out to report the error on unseen runs (0: fit on all).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Calibration table to update [default: gpu_pools/calibration.csv, which the solver reads].")
@click.option("--dry-run", is_flag=True, help="Report the fit without writing anything.")
@click.option("--json", "as_json", is_flag=True)
def calibrate_command(paths, model, gpu, tp, pp, gpu_memory_utilization, holdout, output, dry_run, as_json):
    """Fit efficiency factors and overheads per GPU type to measured runs.

    PATHS are measurement files or folders (default: results/calibration/): runs CSV, seed-001 benchmark JSON,
    `vllm bench serve` result JSON or tokenop validation.json."""
    from solver.cli import user_errors  # the shared error handler

    @user_errors
    def run():
        console = Console(stderr=as_json)
        priors = load_catalog(calibrated=False)
        defaults = Defaults(model=model, gpu=gpu, tp=tp, pp=pp, gpu_memory_utilization=gpu_memory_utilization)
        runs = collect(list(paths) or [DEFAULT_MEASUREMENTS], priors, defaults)
        if not runs:
            raise UserError("no measurements found. Fix: pass measurement files or folders (docs/calibration.md).")
        with console.status("calibrating ...") as status:
            results = calibrate(runs, priors, get_model("roofline"), holdout, progress=status.update)
        target = output or priors.directory / "calibration.csv"
        written = None if dry_run else write_calibration(target, results)
        if as_json:
            click.echo(json.dumps({"runs": len(runs), "written": None if dry_run else str(target),
                                   "gpus": [r.row() for r in results]}, indent=2))
            return
        for table_ in report_tables(results):
            console.print(table_)
        if written is not None:
            used = target.resolve() == (priors.directory / "calibration.csv").resolve()
            console.print(f"wrote {target} ({len(written)} GPU types)"
                          + ("; the solver and predict use these factors from now on" if used else ""))

    run()
