"""`tokenop-solve predict`: per batch size, predicted tok/s, TTFT, TPOT, memory and the bound of one layout."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from solver.cli.common import parse_batch_sizes, user_errors
from solver.domain.choices import DEFAULT_PERF_MODEL, PRECISIONS
from solver.domain.errors import UserError
from solver.domain.workload import Workload
from solver.loaders.catalog import load_catalog
from solver.loaders.config_csv import load_settings_and_model
from solver.loaders.scenario import resolve_config_dir
from solver.perf import get_model
from solver.perf.deployment import Deployment


@click.command()
@click.option("--model", "model_name", required=True, help="Preset name (e.g. llama-3.1-8b) or a config dir.")
@click.option("--gpu", required=True, help="GPU type from the catalog (e.g. H100).")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--batch-size", "batch_sizes", default="1,8,64", show_default=True)
@click.option("--input-tokens", type=click.IntRange(min=1), default=None)
@click.option("--output-tokens", type=click.IntRange(min=1), default=None)
@click.option("--precision", type=click.Choice(PRECISIONS), default=None)
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True), default=None)
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True, help="Performance model by name.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def predict(model_name: str, gpu: str, tp: int, pp: int, batch_sizes: str, input_tokens: int | None,
            output_tokens: int | None, precision: str | None, gpu_memory_utilization: float | None, perf_model: str,
            as_json: bool) -> None:
    """Predict throughput, latency and memory of MODEL on GPU with TP x PP."""
    directory, _ = resolve_config_dir(model_name)
    model, workload, settings, _ = load_settings_and_model(directory / "config.csv")
    if precision:
        model = model.model_copy(update={"precision": precision})
    if model.num_heads % tp:
        raise UserError(f"--tp {tp} does not divide the model's {model.num_heads} attention heads, which vLLM "
                        f"requires. Fix: use a TP degree that divides {model.num_heads}.")
    if pp > model.num_layers:
        raise UserError(f"--pp {pp} exceeds the model's {model.num_layers} layers. Fix: use --pp <= "
                        f"{model.num_layers}.")
    catalog = load_catalog()
    if catalog.canonical(gpu) is None:
        raise UserError(f"unknown GPU type '{gpu}'. Fix: use one of {catalog.known_types()}.")
    spec = catalog.spec(gpu)
    sizes = parse_batch_sizes(batch_sizes) or []
    work = Workload(input_tokens=input_tokens or workload.input_tokens,
                    output_tokens=output_tokens or workload.output_tokens, batch_sizes=sizes)
    if gpu_memory_utilization:
        settings = settings.model_copy(update={"gpu_memory_utilization": gpu_memory_utilization})
    perf = get_model(perf_model)
    rows = []
    for b in sizes:
        est = Deployment.uniform(model, work, settings, spec, tp, pp, b).evaluate(perf)
        rows.append({"batch_size": b, "tokens_per_second": est.tokens_per_s, "ttft_ms": est.ttft_ms,
                     "tpot_ms": est.tpot_ms, "memory_gb_per_gpu": max(est.memory_gb_per_gpu), "fits": est.fits,
                     "bound": est.bound, "concurrency": est.concurrency})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{model.name} on {tp * pp}x {spec.gpu_type} (TP {tp} x PP {pp}), {model.precision}, "
                  f"{work.input_tokens} in / {work.output_tokens} out", title_justify="left")
    for column in ("batch", "tok/s", "TTFT ms", "TPOT ms", "GB/GPU", "fits", "bound"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["batch_size"]), f"{r['tokens_per_second']:,.1f}", f"{r['ttft_ms']:,.0f}",
                      f"{r['tpot_ms']:,.1f}", f"{r['memory_gb_per_gpu']:.1f}",
                      "yes" if r["fits"] else f"no (runs {r['concurrency']} at a time)", r["bound"])
    Console().print(table)
