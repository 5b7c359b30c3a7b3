"""`tokenop-solve calibrate`: fit per-GPU factors to measured runs and write them where the solver reads them."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from solver.calibration.fit import calibrate as fit
from solver.calibration.fit import gpu_types, write_calibration
from solver.calibration.measurements import Defaults, collect
from solver.cli.common import user_errors
from solver.domain.choices import DEFAULT_PERF_MODEL
from solver.domain.errors import UserError
from solver.loaders.catalog import load_catalog
from solver.loaders.resources import bundled_dir
from solver.perf import get_model
from solver.report.measured import report_tables


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
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True, help="Performance model by name.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Calibration table to update [default: gpu_pools/calibration.csv, which the solver reads].")
@click.option("--fit-layer-overhead", "depth_fitted", default="", metavar="GPU[,GPU]",
              help="GPU types whose fixed time per layer is fitted too instead of held at the catalog's measured "
                   "value: for runs of one vLLM version at batch 1 on models of several depths.")
@click.option("--only", default="", metavar="GPU[,GPU]",
              help="Fit only these GPU types [default: every type the runs measured]; the other rows of the "
                   "calibration table stay as they are.")
@click.option("--dry-run", is_flag=True, help="Report the fit without writing anything.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def calibrate(paths: tuple[Path, ...], model: str | None, gpu: str | None, tp: int, pp: int,
              gpu_memory_utilization: float, holdout: float, perf_model: str, output: Path | None,
              depth_fitted: str, only: str, dry_run: bool, as_json: bool) -> None:
    """Fit efficiency factors and overheads per GPU type to measured runs.

    PATHS are measurement files or folders (default: results/calibration/): runs CSV, seed-001 benchmark JSON,
    `vllm bench serve` result JSON or tokenop validation.json."""
    console = Console(stderr=as_json)
    priors = load_catalog(calibrated=False)
    defaults = Defaults(model=model, gpu=gpu, tp=tp, pp=pp, gpu_memory_utilization=gpu_memory_utilization)
    runs = collect(list(paths) or [bundled_dir("calibration")], priors, defaults)
    if not runs:
        raise UserError("no measurements found. Fix: pass measurement files or folders (docs/calibration.md).")
    if only:
        chosen = gpu_types(priors, only, "--only")
        measured = sorted({m.gpu_type for m in runs})
        runs = [m for m in runs if m.gpu_type in chosen]
        if not runs:
            raise UserError(f"no run measured {', '.join(sorted(chosen))} (the runs measured "
                            f"{', '.join(measured)}). Fix: name measured GPU types in --only.")
    with console.status("calibrating ...") as status:
        results = fit(runs, priors, get_model(perf_model), holdout, progress=status.update,
                      fit_layer_overhead=gpu_types(priors, depth_fitted, "--fit-layer-overhead"))
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
