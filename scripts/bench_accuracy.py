"""Predicted vs measured generated tok/s for every measurement CSV under results/calibration/ (no fitting yet:
datasheet-derived catalog factors). Prints per-run relative error and the median |error| per GPU type.

    python scripts/bench_accuracy.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from solver.catalog import load_catalog
from solver.config import Settings, Workload, load_settings_and_model
from solver.perf import evaluate_pipeline, get_model
from solver.predict_cli import uniform_layout
from solver.presets import presets_dir

CALIBRATION = Path(__file__).resolve().parent.parent / "results" / "calibration"


def predict_row(row, model, catalog, perf) -> float:
    spec = catalog.spec(row.gpu_type)
    settings = Settings(gpu_memory_utilization=0.85)
    stages, links = uniform_layout(spec, int(row.tp), int(row.pp), model.num_layers, int(row.num_gpus), settings)
    work = Workload(input_tokens=int(row.input_tokens), output_tokens=int(row.output_tokens),
                    batch_sizes=[int(row.batch_size)])
    return evaluate_pipeline(model, work, settings, stages, links, int(row.batch_size),
                             perf).tokens_per_s


def main() -> None:
    model, *_ = load_settings_and_model(presets_dir() / "llama-3.3-70b" / "config.csv")
    catalog, perf = load_catalog(), get_model("roofline")
    console = Console()
    for path in sorted(CALIBRATION.glob("*.csv")):
        runs = pd.read_csv(path)
        runs["predicted"] = [predict_row(r, model, catalog, perf) for r in runs.itertuples()]
        runs["rel_error"] = runs["predicted"] / runs["measured_output_tokens_per_s"] - 1
        table = Table(title=f"{path.name}: predicted vs measured generated tok/s", title_justify="left")
        for column in ("GPU", "TP", "PP", "batch", "measured", "predicted", "error"):
            table.add_column(column, justify="right")
        for r in runs.sort_values(["gpu_type", "tp", "pp"]).itertuples():
            table.add_row(r.gpu_type, str(r.tp), str(r.pp), str(r.batch_size), f"{r.measured_output_tokens_per_s:.1f}",
                          f"{r.predicted:.1f}", f"{r.rel_error:+.0%}")
        console.print(table)
        for gpu, group in runs.groupby("gpu_type"):
            console.print(f"{gpu}: median |error| {group['rel_error'].abs().median():.0%} over {len(group)} runs")
        console.print(f"all: median |error| {runs['rel_error'].abs().median():.0%}")


if __name__ == "__main__":
    main()
