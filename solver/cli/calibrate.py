"""`tokenop-solve calibrate`: fit per-GPU factors to measured runs and write them where the solver reads them."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from solver.calibration.fit import GpuCalibration, gpu_types, transferred, write_calibration
from solver.calibration.fit import calibrate as fit
from solver.calibration.measurements import Defaults, collect
from solver.cli.common import user_errors
from solver.domain.choices import DEFAULT_PERF_MODEL
from solver.domain.errors import UserError
from solver.domain.hardware import Catalog
from solver.loaders.catalog import calibration_target, load_catalog
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
              help="Calibration table to update [default: the one the solver reads, gpu_pools/calibration.csv unless "
                   "--calibration picks another].")
@click.option("--fit-layer-overhead", "depth_fitted", default="", metavar="GPU[,GPU]",
              help="GPU types whose fixed time per layer is fitted too instead of held at the catalog's measured "
                   "value: for runs of one vLLM version at batch 1 on models of several depths.")
@click.option("--only", default="", metavar="GPU[,GPU]",
              help="Fit only these GPU types [default: every type the runs measured]; the other rows of the "
                   "calibration table stay as they are.")
@click.option("--transfer", default="", metavar="FROM:TO[,FROM:TO]",
              help="Give GPU type TO the factors fitted for FROM, for a card of the same chip whose runs are not "
                   "of this engine generation (H100:H200: the H200 is an H100 with more, faster memory).")
@click.option("--dry-run", is_flag=True, help="Report the fit without writing anything.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def calibrate(paths: tuple[Path, ...], model: str | None, gpu: str | None, tp: int, pp: int,
              gpu_memory_utilization: float, holdout: float, perf_model: str, output: Path | None,
              depth_fitted: str, only: str, transfer: str, dry_run: bool, as_json: bool) -> None:
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
    results += transfers(results, priors, transfer)
    in_use = calibration_target(priors.directory)
    target = output or in_use
    written = None if dry_run else write_calibration(target, results)
    if as_json:
        click.echo(json.dumps({"runs": len(runs), "written": None if dry_run else str(target),
                               "gpus": [r.row() for r in results]}, indent=2))
        return
    for table_ in report_tables(results):
        console.print(table_)
    if written is not None:
        used = target.resolve() == in_use.resolve()
        console.print(f"wrote {target} ({len(written)} GPU types)"
                      + ("; the solver and predict use these factors from now on" if used else ""))


def transfers(results: list[GpuCalibration], priors: Catalog, pairs: str) -> list[GpuCalibration]:
    """--transfer FROM:TO,...: a row for each TO with the factors just fitted for FROM."""
    fitted = {r.gpu_type: r for r in results}
    rows = []
    for pair in filter(None, (p.strip() for p in pairs.split(","))):
        source, _, target = (name.strip() for name in pair.partition(":"))
        if not source or not target:
            raise UserError(f"--transfer {pair}: expected FROM:TO. Fix: e.g. --transfer H100:H200.")
        source_type, target_type = priors.require(source, "--transfer"), priors.require(target, "--transfer")
        if source_type not in fitted:
            raise UserError(f"--transfer {pair}: no run measured {source_type} (fitted: {', '.join(fitted)}). Fix: "
                            "transfer from a GPU type the runs measured.")
        if target_type in fitted:
            raise UserError(f"--transfer {pair}: {target_type} is fitted to its own runs here. Fix: leave its runs "
                            "out, or drop the transfer.")
        rows.append(transferred(fitted[source_type], priors.spec(target_type)))
    return rows
