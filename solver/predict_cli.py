"""`tokenop-solve predict`: per batch size, predicted tok/s, TTFT, TPOT, memory and the bound of one layout."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from solver.catalog import load_catalog
from solver.config import Workload, load_settings_and_model
from solver.errors import UserError
from solver.perf import get_model
from solver.perf.pipeline import evaluate_deployment
from solver.perf.layout import uniform_layout
from solver.presets import resolve_config_dir


@click.command()
@click.option("--model", "model_name", required=True, help="Preset name (e.g. llama-3.1-8b) or a config dir.")
@click.option("--gpu", required=True, help="GPU type from the catalog (e.g. H100).")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--batch-size", "batch_sizes", default="1,8,64", show_default=True)
@click.option("--input-tokens", type=click.IntRange(min=1), default=None)
@click.option("--output-tokens", type=click.IntRange(min=1), default=None)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16", "fp8", "int8", "int4"]), default=None)
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True), default=None)
@click.option("--json", "as_json", is_flag=True)
def predict(model_name, gpu, tp, pp, batch_sizes, input_tokens, output_tokens, precision, gpu_memory_utilization,
            as_json):
    """Predict throughput, latency and memory of MODEL on GPU with TP x PP."""
    from solver.cli import user_errors  # the shared error handler

    @user_errors
    def run():
        directory, _ = resolve_config_dir(model_name)
        model, workload, settings, _ = load_settings_and_model(directory / "config.csv")
        if precision:
            model = model.model_copy(update={"precision": precision})
        if pp > model.num_layers:
            raise UserError(f"--pp {pp} exceeds the model's {model.num_layers} layers. Fix: use --pp <= "
                            f"{model.num_layers}.")
        catalog = load_catalog()
        if catalog.canonical(gpu) is None:
            raise UserError(f"unknown GPU type '{gpu}'. Fix: use one of {catalog.known_types()}.")
        spec = catalog.spec(gpu)
        try:
            sizes = [int(b) for b in batch_sizes.split(",")]
        except ValueError:
            raise UserError(f"--batch-size '{batch_sizes}' is not a list of integers. Fix: e.g. 1,8,64.")
        work = Workload(input_tokens=input_tokens or workload.input_tokens,
                        output_tokens=output_tokens or workload.output_tokens, batch_sizes=sizes)
        if gpu_memory_utilization:
            settings = settings.model_copy(update={"gpu_memory_utilization": gpu_memory_utilization})
        stages, links = uniform_layout(spec, tp, pp, model.num_layers, settings.inter_node_bandwidth_gbps)
        perf = get_model("roofline")
        rows = []
        for b in sizes:
            est = evaluate_deployment(model, work, settings, stages, links, b, perf)
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

    run()


__all__ = ["predict"]
