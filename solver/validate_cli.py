"""`tokenop-solve validate`: launch (or reach) vLLM for a solution, benchmark it, report predicted vs measured."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from solver.calibrate_cli import report_tables
from solver.calibration import calibrate, write_calibration
from solver.catalog import load_catalog
from solver.errors import UserError
from solver.io_utils import write_json_atomic
from solver.measurements import collect
from solver.perf import get_model
from solver.plan_cli import plan_for
from solver.solution_file import read_solution
from solver.validate import (SERVED_NAME, compare, healthy, measurement_of, python_of, run_benchmark, vllm_server,
                             vllm_version)

UNITS = {"tokens_per_s": "tok/s", "ttft_ms": "ms", "tpot_ms": "ms"}


def comparison_table(comparison) -> Table:
    table = Table(title="predicted vs measured", title_justify="left")
    for column in ("figure", "predicted", "measured", "error"):
        table.add_column(column, justify="right")
    errors = comparison.relative_error
    for key, unit in UNITS.items():
        table.add_row(f"{key} ({unit})", f"{comparison.predicted[key]:,.1f}", f"{comparison.measured[key]:,.1f}",
                      f"{errors[key]:+.0%}" if key in errors else "-")
    return table


@click.command()
@click.option("--solution", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="solution.json written by `tokenop-solve --output` or `plan`.")
@click.option("--model", default=None, help="HF id or local path vLLM loads [default: hf_model_name of the config].")
@click.option("--tokenizer", default=None, help="Tokenizer for the benchmark's prompts [default: --model].")
@click.option("--base-url", default=None, help="Benchmark this running OpenAI-compatible vLLM server instead.")
@click.option("--served-model-name", default=None, help="Model name that server answers to [default: --model].")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--num-prompts", type=click.IntRange(min=1), default=None, help="Requests [default: 4 x batch size].")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for validation.json and logs [default: the solution's folder].")
@click.option("--server-timeout", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="Seconds to wait for the server to load.")
@click.option("--vllm-arg", "vllm_args", multiple=True, help="Extra engine argument, e.g. --vllm-arg=--load-format=dummy.")
@click.option("--python", default=None, help="Python that has vLLM installed [default: this one].")
@click.option("--calibrate", "recalibrate", is_flag=True,
              help="Fit this GPU type's factors to the measurement (plus --calibration-data) into gpu_pools/.")
@click.option("--calibration-data", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="Earlier measurement files to fit together with this run.")
@click.option("--json", "as_json", is_flag=True, help="Print validation.json to stdout.")
def validate(solution, model, tokenizer, base_url, served_model_name, port, num_prompts, output, server_timeout,
             vllm_args, python, recalibrate, calibration_data, as_json):
    """Launch vLLM with the solution's layout, run its serving benchmark and compare with the prediction."""
    from solver.cli import user_errors  # the shared error handler

    @user_errors
    def run():
        console = Console(stderr=as_json)
        found = read_solution(solution)
        plan = plan_for(found.data, found.placement, model)
        if not plan.deployable:
            raise UserError(f"{solution}: {'; '.join(plan.problems)}. Fix: tokenop-solve plan --config-dir "
                            f"{found.data.get('config_dir') or 'DIR'} --output DIR, then validate its solution.json.")
        out_dir = output or solution.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        interpreter = python_of(python)
        metadata = {"gpu": found.placement.stages[0].gpu_type, "tp": str(plan.tp), "pp": str(plan.pp)}
        prompts = num_prompts or 4 * found.placement.requests_in_flight
        with console.status("validating ...") as status:
            if base_url:
                base = base_url.rstrip("/")
                if not healthy(base):
                    raise UserError(f"no healthy server at {base} (GET /health failed). Fix: start vLLM there or "
                                    "leave out --base-url to let validate start one.")
                name = served_model_name or plan.model
                bench = run_benchmark(interpreter, base, name, tokenizer or plan.model, found, prompts, out_dir,
                                      metadata, status.update)
            else:
                with vllm_server(plan, plan.model, interpreter, port, list(vllm_args), out_dir / "server.log",
                                 server_timeout, status.update) as base:
                    bench = run_benchmark(interpreter, base, SERVED_NAME, tokenizer or plan.model, found, prompts,
                                          out_dir, metadata, status.update)
        comparison = compare(found, bench, plan.max_num_seqs)
        measurement = measurement_of(found, bench, plan, f"{out_dir.name}/validation.json")
        report = {
            "solution": str(solution), "date": dt.datetime.now().isoformat(timespec="seconds"),
            "host": socket.gethostname(), "vllm_version": vllm_version(interpreter),
            "base_url": base_url, "launch": plan.to_dict(), "num_prompts": prompts,
            "predicted": comparison.predicted, "measured": comparison.measured,
            "planner_tokens_per_s": found.placement.tokens_per_s,
            "relative_error": comparison.relative_error,
            "benchmark": {k: v for k, v in bench.items() if not isinstance(v, list)},
            "measurements": [measurement.to_dict()] if measurement else [],
        }
        write_json_atomic(out_dir / "validation.json", report)
        console.print(comparison_table(comparison))
        console.print(f"wrote {out_dir / 'validation.json'}")
        if recalibrate:
            if measurement is None:
                raise UserError("--calibrate needs a single-GPU-type placement: one set of factors cannot explain "
                                "a run across GPU types. Fix: validate a homogeneous plan.")
            priors = load_catalog(calibrated=False)
            runs = [measurement, *collect(list(calibration_data), priors)]
            results = calibrate(runs, priors, get_model("roofline"), holdout=0.0)
            target = priors.directory / "calibration.csv"
            write_calibration(target, results)
            for table in report_tables(results):
                console.print(table)
            console.print(f"wrote {target}")
        if as_json:
            click.echo(json.dumps(report, indent=2, default=str))

    run()
