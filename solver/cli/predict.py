"""`tokenop-solve predict`: per batch size, predicted tok/s, TTFT, TPOT, memory and the bound of one layout."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from solver.cli.common import parse_batch_sizes, user_errors
from solver.domain.choices import DEFAULT_PERF_MODEL, PRECISIONS
from solver.domain.errors import ConfigError, UserError
from solver.domain.hardware import Catalog
from solver.domain.model import ModelArch
from solver.domain.workload import Settings, Workload
from solver.loaders.catalog import load_catalog
from solver.loaders.models import load_model
from solver.loaders.tables import read_table
from solver.perf import get_model
from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.perf.engine import default_max_num_seqs
from solver.storage.atomic import write_text_atomic


@click.command()
@click.option("--model", "model_name", default=None,
              help="A preset, scenario folder, config.json (file or folder) or bundled model (e.g. qwen3-235b-a22b).")
@click.option("--gpu", default=None, help="GPU type from the catalog (e.g. H100).")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--dp", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel engines of TP GPUs each, the experts spread over all of them (vLLM "
                   "--data-parallel-size DP --enable-expert-parallel); one stage.")
@click.option("--batch-size", "batch_sizes", default="1,8,64", show_default=True)
@click.option("--input-tokens", type=click.IntRange(min=1), default=None)
@click.option("--output-tokens", type=click.IntRange(min=1), default=None)
@click.option("--precision", type=click.Choice(PRECISIONS), default=None)
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True), default=None)
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=None,
              help="vLLM's --max-num-seqs [default: vLLM's for the GPU: 1024 on H100/H200-class cards, else 256].")
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True, help="Performance model by name.")
@click.option("--points", "points_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV of points (model,gpu,tp,pp,batch_size,input_tokens,output_tokens[,precision,dp]) to "
                   "predict.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --points: write the predicted rows here [default: stdout].")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def predict(model_name: str | None, gpu: str | None, tp: int, pp: int, dp: int, batch_sizes: str,
            input_tokens: int | None, output_tokens: int | None, precision: str | None,
            gpu_memory_utilization: float | None, max_num_seqs: int | None, perf_model: str,
            points_file: Path | None, output: Path | None, as_json: bool) -> None:
    """Predict throughput, latency and memory of MODEL on GPU with TP x PP or DP x TP (or of every row of --points).

    `fits` is false only when vLLM would refuse to start (not even one request fits); when fewer requests than
    asked fit the KV cache, `effective_batch` is what vLLM runs at once and `kv_limited` says so. A server runs at
    most --max-num-seqs at once (the rest queue), and its start-up profile for that many sampled requests is memory
    the KV cache does not get."""
    perf = get_model(perf_model)
    if points_file is not None:
        predict_points(points_file, output, perf, max_num_seqs)
        return
    if not model_name or not gpu:
        raise UserError("--model and --gpu are required (or --points FILE.csv). Fix: e.g. tokenop-solve predict "
                        "--model llama-3.1-8b --gpu H100.")
    model, workload, settings, notes = load_model(model_name)
    work = Workload(input_tokens=input_tokens or (workload.input_tokens if workload else 1024),
                    output_tokens=output_tokens or (workload.output_tokens if workload else 256),
                    batch_sizes=parse_batch_sizes(batch_sizes) or [1])
    if gpu_memory_utilization:
        settings = settings.model_copy(update={"gpu_memory_utilization": gpu_memory_utilization})
    catalog = load_catalog()
    settings = settings.model_copy(update={"max_num_seqs": max_num_seqs})
    rows = [point_row(model, catalog, gpu, (tp, pp, dp), b, work, settings, precision, perf)
            for b in work.batch_sizes]
    model = model.model_copy(update={"precision": precision}) if precision else model
    spec = catalog.spec(gpu)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    layout = f"DP {dp} x TP {tp}, experts over all {dp * tp}" if dp > 1 else f"TP {tp} x PP {pp}"
    table = Table(title=f"{model.name} on {tp * pp * dp}x {spec.gpu_type} ({layout}), {model.precision}, "
                  f"{work.input_tokens} in / {work.output_tokens} out; calibration {catalog.calibration}",
                  title_justify="left")
    for column in ("batch", "tok/s", "TTFT ms", "TPOT ms", "GB/GPU", "fits", "bound"):
        table.add_column(column, justify="right")
    for r in rows:
        fits = ("no: vLLM would not start" if not r["fits"] else
                f"yes, KV cache holds {r['effective_batch']} at once" if r["kv_limited"] else
                f"yes, {r['effective_batch']} at once (--max-num-seqs)" if r["effective_batch"] < r["batch_size"]
                else "yes")
        table.add_row(str(r["batch_size"]), f"{r['tokens_per_second']:,.1f}", f"{r['ttft_ms']:,.0f}",
                      f"{r['tpot_ms']:,.1f}", f"{r['memory_gb_per_gpu']:.1f}", fits, r["bound"])
    console = Console()
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    console.print(table)
    tokens = work.input_tokens + work.output_tokens
    for seqs in sorted({r["max_num_seqs"] for r in rows}, reverse=True):
        r = next(r for r in rows if r["max_num_seqs"] == seqs)
        held = r["max_concurrency"]
        engines = f" over its {dp} engines" if dp > 1 else ""
        console.print(f"--max-num-seqs {seqs}: KV cache {r['kv_cache_gib_per_gpu']:.2f} GiB per GPU, room for {held} "
                      f"request{'' if held == 1 else 's'} of {tokens} tokens{engines} (vLLM's \"Maximum "
                      "concurrency\")", highlight=False, soft_wrap=True)
    default = default_max_num_seqs(catalog.spec(gpu))
    if max_num_seqs is None and any(r["max_num_seqs"] < default for r in rows):
        console.print(f"[yellow]note:[/] with vLLM's default --max-num-seqs {default} this would not start (its "
                      "sampler's start-up profile leaves no KV cache for one request); launch it with the "
                      "--max-num-seqs shown.", highlight=False, soft_wrap=True)


def point_row(model: ModelArch, catalog: Catalog, gpu: str, layout: tuple[int, int, int], batch: int,
              work: Workload, settings: Settings, precision: str | None, perf: PerformanceModel) -> dict:
    """One prediction of (tp, pp, dp): tok/s, TTFT, TPOT, memory, whether vLLM starts, and at which concurrency it
    runs, on a vLLM server with `settings.max_num_seqs` per engine (None: vLLM's default for the GPU; see
    Deployment.evaluate_served)."""
    tp, pp, dp = layout
    if dp > 1 and pp > 1:
        raise UserError(f"--dp {dp} with --pp {pp}: expert-parallel (data-parallel) engines are predicted as one "
                        "stage holding the whole model. Fix: use --pp 1 with --dp.")
    if precision:
        model = model.model_copy(update={"precision": precision})
    catalog.require(gpu)
    if model.num_heads % tp:
        raise UserError(f"--tp {tp} does not divide the model's {model.num_heads} attention heads, which vLLM "
                        f"requires. Fix: use a TP degree that divides {model.num_heads}.")
    if pp > model.num_layers:
        raise UserError(f"--pp {pp} exceeds the model's {model.num_layers} layers. Fix: use --pp <= "
                        f"{model.num_layers}.")
    est, seqs = Deployment.uniform(model, work, settings, catalog.spec(gpu), tp, pp, batch,
                                   dp=dp).evaluate_served(perf)
    return {"batch_size": batch, "tokens_per_second": est.tokens_per_s, "ttft_ms": est.ttft_ms,
            "tpot_ms": est.tpot_ms, "memory_gb_per_gpu": max(est.memory_gb_per_gpu), "fits": est.concurrency > 0,
            "effective_batch": est.concurrency, "kv_limited": 0 < est.concurrency < min(batch, seqs * dp),
            "bound": est.bound, "max_num_seqs": seqs,
            "kv_cache_gib_per_gpu": min(est.kv_cache_gb_per_gpu, default=0.0) * 1e9 / 2**30,
            "max_concurrency": est.kv_capacity}


POINT_COLUMNS = ("model", "gpu", "tp", "pp", "batch_size", "input_tokens", "output_tokens")


def predict_points(path: Path, output: Path | None, perf: PerformanceModel, max_num_seqs: int | None) -> None:
    """Every row of a points CSV with its prediction appended (models are loaded once each); a row vLLM cannot run
    (TP not dividing the heads, say) gets fits false and its reason in `error`. An optional max_num_seqs column
    overrides --max-num-seqs per row, and an optional dp column predicts expert-parallel engines (see --dp)."""
    header, table = read_table(path, f"write rows {','.join(POINT_COLUMNS)}[,precision,dp].")
    missing = [c for c in POINT_COLUMNS if c not in header]
    if missing:
        raise ConfigError(path, f"columns {missing} are missing (header is {header}).",
                          f"use the header {','.join(POINT_COLUMNS)}[,precision,dp].", row=1)
    catalog, models, out = load_catalog(), {}, []
    for row_no, row in table:
        given = [c for c in (*POINT_COLUMNS[2:], "max_num_seqs", "dp") if row.get(c) not in (None, "")]
        try:
            numbers = {c: int(row[c]) for c in given}
            if min(numbers.values()) < 1:
                raise ValueError
        except ValueError:
            raise ConfigError(path, "tp, pp, batch_size, input_tokens, output_tokens (and max_num_seqs, dp where "
                              "given) must be positive whole numbers.", "fix this row.", row=row_no) from None
        if row["model"] not in models:
            models[row["model"]] = load_model(row["model"])
        model, _, settings, _ = models[row["model"]]
        settings = settings.model_copy(update={"max_num_seqs": numbers.get("max_num_seqs", max_num_seqs)})
        work = Workload(input_tokens=numbers["input_tokens"], output_tokens=numbers["output_tokens"],
                        batch_sizes=[numbers["batch_size"]])
        try:
            layout = (numbers["tp"], numbers["pp"], numbers.get("dp", 1))
            predicted = point_row(model, catalog, row["gpu"], layout, numbers["batch_size"], work, settings,
                                  row.get("precision") or None, perf)
        except UserError as exc:  # a layout vLLM cannot run is a row saying why, not the end of the file
            predicted = {"fits": False, "error": str(exc)}
        out.append(row | {"error": ""} | {k: v for k, v in predicted.items() if k != "batch_size"})
    text = pd.DataFrame(out).to_csv(index=False)
    if output:
        write_text_atomic(output, text)
    else:
        click.echo(text, nl=False)
