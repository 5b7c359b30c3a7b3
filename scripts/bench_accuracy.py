"""Predicted vs measured generated tok/s for the measurements under results/calibration/, before calibration
(datasheet priors of gpu_pools/gpus.csv) and after (factors fitted on the fit part; errors reported on the runs
held out). Then a stricter test of generalisation: for every GPU type measured in several files, each file in turn
is predicted with factors fitted on the others only (a whole sweep - model, context length - never seen).
The held-out errors are also given per source file and GPU (median, p90, max), and every source's errors with the
catalog that `predict` and the planner use (calibrated types fitted, the rest on priors). Prints figures, asserts
nothing.

    python scripts/bench_accuracy.py [--holdout 0.3]

Our own vLLM 0.26 runs (vllm_h100_runs.csv, vllm_h200_runs.csv) are a calibration profile of their own
(gpu_pools/calibration-vllm-0.26.csv): a later vLLM generation, ~20% faster per step than the published sweeps the
default profile is fitted to. They are fitted apart, per card with the fixed time per layer free (one engine version
at batch 1 on models of 16 to 80 layers separates it from the step overhead), and tested the strict way too: each
card's runs predicted with the factors fitted on the other card's (the same chip with other memory). Every other
type holds the time per layer at the value measured on the lent H100.

Sources in NEVER_FITTED take no part in any fit here or in the installed catalog: they are predicted with the
installed catalog only, run by run, as data the factors never saw (see each file's README for why).

The published AWS runs name a distilled checkpoint (DeepSeek-R1-Distill-Llama-70B); its architecture is
Llama-3.3-70B's, hence --model llama-3.3-70b, and they ran with gpu_memory_utilization 0.85 (their README).
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

from solver.calibration.fit import (
    DEPTH_FITTED_FIELDS,
    calibrate,
    fit_factors,
    gpu_types,
    predict,
    relative_errors,
    served,
    split,
    with_factors,
)
from solver.calibration.measurements import Defaults, collect
from solver.loaders.catalog import load_catalog
from solver.loaders.resources import bundled_dir
from solver.perf import get_model

# GPUStack's vLLM v0.11 lab runs (gpustack_vllm_v011.README.md): their H100 ran prefill at ~37% of its peak where
# three other Hopper sources agree on ~66%, and a fit to them would trade those sources for this one; their 12 A100
# runs are too few to fit an A100-80GB row of their own. So they test the installed catalog and nothing else (their
# Qwen3-235B-A22B runs chose one constant of the model, MOE_GEMM_HALF_WIDTH in solver/perf/roofline.py).
NEVER_FITTED = frozenset({"gpustack_vllm_v011.csv"})
# Our vLLM 0.26 runs: the vllm-0.26 profile's sources, by card (vllm_h100_runs.README.md).
VLLM_026 = {"vllm_h100_runs.csv": "H100", "vllm_h200_runs.csv": "H200"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--model", default="llama-3.3-70b")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    parser.add_argument("--fit-layer-overhead", default="", help="as `calibrate --fit-layer-overhead`")
    args = parser.parse_args()
    priors, perf = load_catalog(calibrated=False), get_model("roofline")
    every = collect([bundled_dir("calibration")], priors, Defaults(model=args.model,
                                                    gpu_memory_utilization=args.gpu_memory_utilization))
    runs = [m for m in every if m.file not in NEVER_FITTED and m.file not in VLLM_026]
    depth_fitted = gpu_types(priors, args.fit_layer_overhead, "--fit-layer-overhead")
    fitted = {r.gpu_type: r.after for r in calibrate(runs, priors, perf, args.holdout,
                                                     fit_layer_overhead=depth_fitted)}
    _, held = split(runs, args.holdout)
    held_ids = {id(m) for m in held}
    table = Table(title="predicted vs measured generated tok/s (H = held out of the fit)", title_justify="left")
    for column in ("GPU", "TP", "PP", "GPUs/node", "batch", "in/out", "measured", "before", "err", "after", "err",
                   "set"):
        table.add_column(column, justify="right")
    errors: dict[tuple[str, str, str], list[float]] = {}
    for m in sorted(runs, key=lambda m: (m.gpu_type, m.tp, m.pp, m.gpus_per_node, m.input_tokens)):
        before, after = predict(m, priors.spec(m.gpu_type), perf), predict(m, fitted[m.gpu_type], perf)
        part = "holdout" if id(m) in held_ids else "fit"
        for stage, value in (("before", before), ("after", after)):
            for gpu in (m.gpu_type, "all"):
                errors.setdefault((gpu, part, stage), []).append(value / m.tokens_per_s - 1)
        table.add_row(m.gpu_type, str(m.tp), str(m.pp), str(m.gpus_per_node), str(m.batch_size),
                      f"{m.input_tokens}/{m.output_tokens}", f"{m.tokens_per_s:.1f}", f"{before:.1f}",
                      f"{before / m.tokens_per_s - 1:+.0%}", f"{after:.1f}", f"{after / m.tokens_per_s - 1:+.0%}",
                      "H" if part == "holdout" else "")
    console = Console(width=140)
    console.print(table)
    summary = Table(title="median |error|", title_justify="left")
    for column in ("GPU", "fit runs: before", "after", "holdout runs: before", "after"):
        summary.add_column(column, justify="right")
    for gpu in sorted({m.gpu_type for m in runs}) + ["all"]:
        cells = [np.median(np.abs(errors.get((gpu, part, stage), [np.nan])))
                 for part in ("fit", "holdout") for stage in ("before", "after")]
        summary.add_row(gpu, *(f"{c:.0%}" for c in cells))
    console.print(summary)
    console.print(held_out_by_source([m for m in runs if id(m) in held_ids], fitted, perf))
    installed, recent = load_catalog(profile="default"), load_catalog(profile="vllm-0.26")
    console.print(installed_catalog_by_source([m for m in every if m.file not in VLLM_026], installed, priors, perf))
    console.print(never_fitted_runs([m for m in every if m.file in NEVER_FITTED], installed, perf))
    console.print(leave_one_file_out(runs, priors, perf))
    ours = [m for m in every if m.file in VLLM_026]
    console.print("\n[bold]vllm-0.26 profile[/bold]: our vLLM 0.26 runs, fitted apart")
    own_fit = {r.gpu_type: r.after for r in calibrate(ours, priors, perf, args.holdout,
                                                      fit_layer_overhead=set(VLLM_026.values()))}
    console.print(held_out_by_source(split(ours, args.holdout)[1], own_fit, perf))
    console.print(installed_catalog_by_source(ours, installed, priors, perf, "the default profile (published sweeps)"))
    console.print(installed_catalog_by_source(ours, recent, priors, perf, "--calibration vllm-0.26"))
    console.print(other_card(ours, priors, perf))


def spread(errors) -> list[str]:
    """Median, p90 and max of |errors|, as table cells."""
    e = np.abs(errors)
    return [f"{np.median(e):.0%}", f"{np.percentile(e, 90):.0%}", f"{e.max():.0%}"]


def held_out_by_source(held, fitted, perf) -> Table:
    """|error| of the held-out runs after fitting, per source file and GPU: median, p90 and max."""
    table = Table(title="held-out runs after fitting, |predicted / measured - 1| per source and GPU",
                  title_justify="left")
    for column in ("source", "GPU", "runs", "median", "p90", "max"):
        table.add_column(column, justify="right")
    groups: dict[tuple[str, str], list[float]] = {}
    for m in held:
        error = abs(predict(m, fitted[m.gpu_type], perf) / m.tokens_per_s - 1)
        for key in ((m.file, m.gpu_type), ("all", "")):
            groups.setdefault(key, []).append(error)
    for (source, gpu), values in sorted(groups.items(), key=lambda kv: (kv[0][0] == "all", kv[0])):
        table.add_row(source, gpu, str(len(values)), *spread(values))
    return table


def installed_catalog_by_source(runs, installed, priors, perf,
                                profile: str = "the installed catalog (what predict and the planner use)") -> Table:
    """|error| of every run with the catalog `predict` and the planner use (a calibration profile over the priors):
    for a GPU type that profile does not calibrate, this is how the priors do on data they never saw."""
    table = Table(title=f"with {profile}, |predicted / measured - 1|",
                  title_justify="left")
    for column in ("source", "GPU", "calibrated", "runs", "median", "p90", "max", "median signed"):
        table.add_column(column, justify="right")
    groups: dict[tuple[str, str], list[float]] = {}
    for m in runs:
        groups.setdefault((m.file, m.gpu_type), []).append(
            predict(m, installed.spec(m.gpu_type), perf) / m.tokens_per_s - 1)
    calibrated = {gpu for gpu, spec in installed.specs.items() if spec != priors.spec(gpu)}
    for (source, gpu), values in sorted(groups.items()):
        table.add_row(source, gpu, "yes" if gpu in calibrated else "no (priors)", str(len(values)), *spread(values),
                      f"{np.median(values):+.0%}")
    return table


def never_fitted_runs(runs, installed, perf) -> Table:
    """Every run of the NEVER_FITTED sources against the installed catalog, with the concurrency vLLM reaches."""
    table = Table(title="never-fitted sources, run by run, with the installed catalog", title_justify="left")
    for column in ("source", "model", "GPU", "TP", "requests", "in/out", "measured", "predicted", "err",
                   "at once"):
        table.add_column(column, justify="right")
    for m in runs:
        estimate = served(m, installed.spec(m.gpu_type), perf)
        predicted, concurrency = estimate.tokens_per_s, estimate.concurrency
        table.add_row(m.source, m.model.name, m.gpu_type, str(m.tp), str(m.batch_size),
                      f"{m.input_tokens}/{m.output_tokens}", f"{m.tokens_per_s:.1f}", f"{predicted:.1f}",
                      f"{predicted / m.tokens_per_s - 1:+.0%}", str(concurrency))
    return table


def leave_one_file_out(runs, priors, perf) -> Table:
    """Per measurement file: median |error| of its runs under factors fitted on the other files of its GPU type."""
    table = Table(title="leave one file out: |error| of a file's runs, factors fitted on the other files",
                  title_justify="left")
    for column in ("GPU", "file", "runs", "median", "p90", "max"):
        table.add_column(column, justify="right")
    by_file: dict[tuple[str, str], list] = {}
    for m in runs:
        by_file.setdefault((m.gpu_type, m.file), []).append(m)
    errors = []
    for gpu, name in sorted(by_file):
        others = [m for (g, n), group in by_file.items() if g == gpu and n != name for m in group]
        if not others:
            continue
        mine = relative_errors(by_file[gpu, name], fit_factors(others, priors.spec(gpu), perf), perf)
        errors.extend(mine)
        table.add_row(gpu, name, str(len(mine)), *spread(mine))
    table.add_row("all", "", str(len(errors)), *spread(np.array(errors)))
    return table


def other_card(runs, priors, perf) -> Table:
    """Same engine, another card: each card's runs predicted with the factors fitted on the other card's runs (per-
    layer time free), the card keeping its own datasheet figures, as `calibrate --transfer` does."""
    table = Table(title="vllm-0.26: each card predicted with the other card's fitted factors, |predicted / measured "
                        "- 1|", title_justify="left")
    for column in ("card", "factors from", "runs", "median", "p90", "max", "median signed"):
        table.add_column(column, justify="right")
    by_card: dict[str, list] = {}
    for m in runs:
        by_card.setdefault(m.gpu_type, []).append(m)
    fitted = {gpu: fit_factors(mine, priors.spec(gpu), perf, DEPTH_FITTED_FIELDS) for gpu, mine in by_card.items()}
    for gpu in sorted(by_card):
        for other in sorted(set(by_card) - {gpu}):
            errors = relative_errors(by_card[gpu], with_factors(priors.spec(gpu), fitted[other]), perf)
            table.add_row(gpu, other, str(len(errors)), *spread(errors), f"{np.median(errors):+.0%}")
    return table


if __name__ == "__main__":
    main()
