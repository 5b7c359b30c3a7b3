"""Fit the kernel-level constants of the roofline model to the lent-GPU measurements of
scripts/gpu_kernels.py and scripts/gpu_model_step.py, and report how well they explain them.

1. GEMMs: t = t0 + max(FLOPs / (peak x compute efficiency), bytes / bandwidth), fitted on every measured shape and
   token count (bf16 and fp8): achieved bandwidth, compute efficiency and the fixed time per GEMM t0.
2. Whole decode steps: the GEMMs at the fitted efficiencies + the KV cache read at an attention bandwidth + a
   fixed time per layer + a time per layer per sequence; fitted on every model, batch and context measured.

3. The planner's own performance model (roofline, the installed H100 factors, fitted to published vLLM runs)
   against the same one-GPU decode steps, without its per-step engine overhead: how far a forward pass alone is
   from what vLLM achieved.

The fixed time per layer is what the catalog's `layer_overhead_us` takes (gpu_pools/gpus.csv); the rest is
reported to show which other factors the measurements support. Prints figures, asserts nothing.

    python scripts/fit_gpu_kernels.py [results/calibration/gpu_kernels]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.optimize import least_squares

from solver.domain.workload import Settings, Workload
from solver.loaders.catalog import load_catalog
from solver.loaders.hf_config import read_hf_config
from solver.loaders.resources import bundled_dir
from solver.perf import get_model

PEAK_TFLOPS = {"bf16": 989.4, "fp8": 1978.9}  # H100 SXM datasheet, dense (gpu_pools/gpus.csv)
DATASHEET_TBPS = 3.35


def errors_row(errors: np.ndarray) -> list[str]:
    e = np.abs(errors)
    return [f"{np.median(e):.1%}", f"{np.quantile(e, 0.9):.1%}", f"{e.max():.1%}"]


def fit_gemm(rows: list[dict], peak: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(bandwidth TB/s, compute efficiency, t0 us) and the relative errors for GEMMs of one precision."""
    seconds = np.array([r["seconds"] for r in rows])
    flops = np.array([r["flops"] for r in rows])
    traffic = np.array([r["weight_bytes"] + width * r["m"] * r["k"] + 2 * r["m"] * r["n"] for r in rows])

    def model(x: np.ndarray) -> np.ndarray:
        tbps, efficiency, t0_us = x
        return t0_us * 1e-6 + np.maximum(flops / (peak * 1e12 * efficiency), traffic / (tbps * 1e12))

    fit = least_squares(lambda x: np.log(model(x) / seconds), [3.0, 0.75, 10.0],
                        bounds=([0.5, 0.1, 0.0], [DATASHEET_TBPS, 1.0, 100.0]))
    return fit.x, model(fit.x) / seconds - 1


def fit_gemms(kernels: dict, table: Table) -> tuple[float, float]:
    """(bandwidth TB/s, compute efficiency) of the bf16 GEMMs; one table row per precision."""
    result = (0.0, 0.0)
    for dtype, peak in PEAK_TFLOPS.items():
        rows = [r for r in kernels["gemm"] if r["dtype"] == dtype]
        (tbps, efficiency, t0_us), errors = fit_gemm(rows, peak, 2 if dtype == "bf16" else 1)
        table.add_row(f"GEMM {dtype}", str(len(rows)), f"{tbps:.2f} TB/s ({tbps / DATASHEET_TBPS:.0%} of datasheet), "
                      f"{efficiency:.0%} of peak, {t0_us:.0f} us per GEMM", *errors_row(errors))
        if dtype == "bf16":
            result = (tbps, efficiency)
    return result


def step_terms(steps: dict, tbps: float, efficiency: float) -> tuple[np.ndarray, ...]:
    """Per measured decode step: layers, GEMM roofline seconds, KV bytes read, sequences, measured seconds."""
    layers, gemm, kv, batch, seconds = [], [], [], [], []
    for model in steps["models"]:
        a = model["arch"]
        tp = a["tp"]
        hq, hkv, hd = a["heads"] // tp, max(a["kv_heads"] // tp, 1), a["head_dim"]
        shapes = [(a["d_model"], (hq + 2 * hkv) * hd), (hq * hd, a["d_model"]), (a["d_model"], 2 * a["d_ff"] // tp),
                  (a["d_ff"] // tp, a["d_model"])]
        for step in model["decode"]:
            b = step["batch"]

            def roofline(k: int, n: int, b: int = b) -> float:
                return max(2 * b * k * n / (PEAK_TFLOPS["bf16"] * 1e12 * efficiency), 2 * k * n / (tbps * 1e12))

            layers.append(a["layers"])
            gemm.append(a["layers"] * sum(roofline(k, n) for k, n in shapes) + roofline(a["d_model"], a["vocab"] // tp))
            kv.append(b * step["context"] * 2 * hkv * hd * 2 * a["layers"])
            batch.append(b)
            seconds.append(step["seconds"])
    return tuple(np.array(v, dtype=float) for v in (layers, gemm, kv, batch, seconds))


def fit_steps(steps: dict, tbps: float, efficiency: float, table: Table) -> None:
    layers, gemm, kv, batch, seconds = step_terms(steps, tbps, efficiency)

    def model(x: np.ndarray) -> np.ndarray:
        layer_us, attention_tbps, sequence_us = x
        return layers * (layer_us + sequence_us * batch) * 1e-6 + gemm + kv / (attention_tbps * 1e12)

    fit = least_squares(lambda x: np.log(model(x) / seconds), [50.0, 2.5, 0.0],
                        bounds=([0.0, 0.3, 0.0], [500.0, DATASHEET_TBPS, 10.0]))
    layer_us, attention_tbps, sequence_us = fit.x
    names = sorted({f"{m['arch']['name']} TP{m['arch']['tp']}" for m in steps["models"]})
    table.add_row("decode step", str(len(seconds)),
                  f"{layer_us:.0f} us per layer, KV read at {attention_tbps:.2f} TB/s "
                  f"({attention_tbps / DATASHEET_TBPS:.0%}), {sequence_us:.2f} us per layer per sequence "
                  f"({', '.join(names)})", *errors_row(model(fit.x) / seconds - 1))


def planner_model_steps(steps: dict, table: Table) -> None:
    """The roofline model's decode step (installed H100 factors, engine step overhead left out) for every measured
    step of a whole model on one GPU (TP1: the TP>1 measurements leave out the all-reduces the model includes)."""
    spec, perf = load_catalog().spec("H100"), get_model("roofline")
    predicted, measured, batches = [], [], []
    for entry in steps["models"]:
        a = entry["arch"]
        if a["tp"] != 1:
            continue
        model = read_hf_config(bundled_dir("configs") / "models" / f"{a['name']}.json")[0]
        for step in entry["decode"]:
            work = Workload(input_tokens=step["context"], output_tokens=1, batch_sizes=[step["batch"]])
            profile = perf.stage_profile(model, work, spec, spec.memory_gb, 1, step["batch"], Settings())
            predicted.append(profile.decode_step_s(model.num_layers, 1) - profile.step_s)
            measured.append(step["seconds"])
            batches.append(step["batch"])
    errors = np.array(predicted) / np.array(measured) - 1
    by_batch = {b: np.median(errors[np.array(batches) == b]) for b in (1, 64, 256)}
    table.add_row("planner's model", str(len(errors)), "roofline with the installed H100 factors, no engine step "
                  "overhead; median signed error at batch 1 / 64 / 256: "
                  + " / ".join(f"{v:+.0%}" for v in by_batch.values()), *errors_row(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path("results/calibration/gpu_kernels"))
    args = parser.parse_args()
    kernels = json.loads((args.folder / "h100_kernels.json").read_text())
    steps = json.loads((args.folder / "h100_steps.json").read_text())
    table = Table(title=f"kernel fits on {kernels['environment']['gpu']} (torch {kernels['environment']['torch']}): "
                  "model vs measured", title_justify="left")
    for column in ("what", "points", "fitted", "median |err|", "p90", "max"):
        table.add_column(column, justify="right" if column != "fitted" else "left")
    tbps, efficiency = fit_gemms(kernels, table)
    fit_steps(steps, tbps, efficiency, table)
    planner_model_steps(steps, table)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
