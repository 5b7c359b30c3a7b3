"""`tokenop-solve validate`: launch (or reach) vLLM for a solution, benchmark it, report predicted vs measured."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import click
from rich.console import Console

from solver.calibration.fit import calibrate, write_calibration
from solver.calibration.measurements import collect
from solver.cli.common import user_errors
from solver.domain.errors import UserError
from solver.domain.solution import Solution
from solver.loaders.catalog import calibration_target, load_catalog
from solver.loaders.solution import read_solution
from solver.perf import get_model
from solver.report.measured import comparison_table, report_tables
from solver.storage.atomic import write_json_atomic
from solver.vllm.benchmark import python_of, run_benchmark, vllm_version
from solver.vllm.compare import compare, deployment_prediction, measurement_of
from solver.vllm.launch import plan_of_solution
from solver.vllm.server import SERVED_NAME, healthy, vllm_server


def show_prediction(solution: Solution, requests: int, console: Console, as_json: bool) -> None:
    """The prediction validate compares against: the solution's Deployment, factors and performance model."""
    est = deployment_prediction(solution, requests)
    figures = {"tokens_per_s": est.tokens_per_s, "ttft_ms": est.ttft_ms, "tpot_ms": est.tpot_ms,
               "requests_in_flight": requests, "perf_model": f"{solution.perf_model} {solution.perf_model_version}"}
    if as_json:
        click.echo(json.dumps({"predicted": figures}, indent=2))
        return
    console.print(f"predicted for {requests} requests in flight ({figures['perf_model']}): "
                  f"{est.tokens_per_s:,.1f} tok/s, TTFT {est.ttft_ms:,.1f} ms, TPOT {est.tpot_ms:,.2f} ms",
                  highlight=False)


@click.command()
@click.option("--solution", "solution_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
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
@click.option("--vllm-arg", "vllm_args", multiple=True,
              help="Extra engine argument, e.g. --vllm-arg=--load-format=dummy.")
@click.option("--python", default=None, help="Python that has vLLM installed [default: this one].")
@click.option("--calibrate", "recalibrate", is_flag=True,
              help="Fit this GPU type's factors to the measurement (plus --calibration-data) into gpu_pools/.")
@click.option("--calibration-data", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="Earlier measurement files to fit together with this run.")
@click.option("--dry-run", is_flag=True, help="Print what the planner predicted for this plan; start nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print validation.json to stdout.")
@user_errors
def validate(solution_file: Path, model: str | None, tokenizer: str | None, base_url: str | None,
             served_model_name: str | None, port: int, num_prompts: int | None, output: Path | None,
             server_timeout: float, vllm_args: tuple[str, ...], python: str | None, recalibrate: bool,
             calibration_data: tuple[Path, ...], dry_run: bool, as_json: bool) -> None:
    """Launch vLLM with the solution's layout, run its serving benchmark and compare with the prediction."""
    console = Console(stderr=as_json)
    found = read_solution(solution_file)
    assert found.placement is not None
    plan = plan_of_solution(found, found.placement, model)
    if not plan.deployable:
        raise UserError(f"{solution_file}: {'; '.join(plan.problems)}. Fix: tokenop-solve plan --config-dir "
                        f"{found.config_dir or 'DIR'} --output DIR, then validate its solution.json.")
    if dry_run:
        show_prediction(found, plan.max_num_seqs, console, as_json)
        return
    out_dir = output or solution_file.parent
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
            bench = run_benchmark(interpreter, base, name, tokenizer or plan.model, found, plan.max_num_seqs, prompts,
                                  out_dir, metadata, status.update)
        else:
            with vllm_server(plan, plan.model, interpreter, port, list(vllm_args), out_dir / "server.log",
                             server_timeout, status.update) as base:
                bench = run_benchmark(interpreter, base, SERVED_NAME, tokenizer or plan.model, found,
                                      plan.max_num_seqs, prompts, out_dir, metadata, status.update)
    comparison = compare(found, bench, plan.max_num_seqs)
    measurement = measurement_of(found, bench, plan, f"{out_dir.name}/validation.json")
    report = {
        "solution": str(solution_file), "date": dt.datetime.now().isoformat(timespec="seconds"),
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
        results = calibrate(runs, priors, get_model(found.perf_model), holdout=0.0)
        target = calibration_target(priors.directory)
        write_calibration(target, results)
        for table in report_tables(results):
            console.print(table)
        console.print(f"wrote {target}")
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
