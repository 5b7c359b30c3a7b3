"""A sweep's report: one self-contained HTML page (figures embedded) plus the PNGs beside it. Every figure's data
is returned too, so tests check what is drawn, not only that a file exists."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from solver.storage.atomic import write_text_atomic
from solver.sweeps.history import describe, trend
from solver.sweeps.point import stages_of

GPU_COLORS = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000"]


def _pyplot():  # noqa: ANN202 - matplotlib is imported only for reports, headless
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cost_by_point(latest: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """$/M tokens of every solved point of the latest night, labelled with its GPU mix."""
    plt = _pyplot()
    data = latest.dropna(subset=["cost_per_million_tokens"]).sort_values("cost_per_million_tokens")
    labels = list(describe(data))
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(data) + 1.5))
    ax.barh(labels, data["cost_per_million_tokens"], color="#4477aa")
    for y, (cost, mix) in enumerate(zip(data["cost_per_million_tokens"], data["gpu_mix"])):
        ax.text(cost, y, f"  ${cost:.3f}  {mix}", va="center", fontsize=7)
    ax.set_xlabel("$ per 1M generated tokens")
    ax.set_title("Cost per token and GPU mix, latest night")
    ax.invert_yaxis()
    _save(fig, folder / "cost_by_point.png")
    return {"labels": labels, "cost_per_million_tokens": list(data["cost_per_million_tokens"])}


def pareto(latest: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """$/h against tok/s of each scenario's points; the Pareto front (nothing cheaper and faster) and the cheapest
    plan per token marked."""
    plt = _pyplot()
    data = latest.dropna(subset=["dollar_per_hour"])
    fig, ax = plt.subplots(figsize=(8, 5))
    fronts = {}
    for i, (scenario, group) in enumerate(data.groupby("scenario")):
        name, color = Path(str(scenario)).name, GPU_COLORS[i % len(GPU_COLORS)]
        ax.scatter(group["tokens_per_s"], group["dollar_per_hour"], color=color, alpha=0.5, label=name)
        front = group.sort_values("tokens_per_s", ascending=False)
        front = front[front["dollar_per_hour"] <= front["dollar_per_hour"].cummin()].sort_values("tokens_per_s")
        ax.plot(front["tokens_per_s"], front["dollar_per_hour"], color=color)
        best = group.loc[group["cost_per_million_tokens"].idxmin()]
        ax.scatter([best["tokens_per_s"]], [best["dollar_per_hour"]], color=color, marker="*", s=200,
                   edgecolor="black")
        fronts[name] = list(zip(front["tokens_per_s"], front["dollar_per_hour"]))
    ax.set_xlabel("generated tok/s")
    ax.set_ylabel("$/h")
    ax.set_title("Cost vs throughput per scenario (line: Pareto front, star: lowest $/token)")
    ax.legend(fontsize=8)
    _save(fig, folder / "pareto.png")
    return {"fronts": fronts}


def savings(latest: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """Saving of each point's plan against the best single-GPU-type plan."""
    plt = _pyplot()
    data = latest.dropna(subset=["cost_per_million_tokens", "homogeneous_cost_per_million_tokens"])
    saving = 1 - data["cost_per_million_tokens"] / data["homogeneous_cost_per_million_tokens"]
    labels = list(describe(data))
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(data) + 1.5))
    ax.barh(labels, 100 * saving, color="#228833")
    ax.set_xlabel("saving vs the best single-GPU-type plan (%)")
    ax.invert_yaxis()
    _save(fig, folder / "savings.png")
    return {"labels": labels, "saving": list(saving)}


def trend_chart(frame: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """Each point's $/M tokens over the nights."""
    plt = _pyplot()
    table = trend(frame)
    fig, ax = plt.subplots(figsize=(9, 5))
    for point, values in table.iterrows():
        ax.plot(list(table.columns), list(values), marker="o", label=point)
    ax.set_ylabel("$ per 1M generated tokens")
    ax.set_title("Trend over nights")
    if len(table) <= 12:
        ax.legend(fontsize=7)
    _save(fig, folder / "trend.png")
    return {"nights": list(table.columns), "points": {p: list(v) for p, v in table.iterrows()}}


def placements(latest: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """The cheapest plan of each scenario as layers -> stages -> GPU types with TP."""
    plt = _pyplot()
    data = latest.dropna(subset=["placement"])
    best = data.loc[data.groupby("scenario")["cost_per_million_tokens"].idxmin()]
    fig, ax = plt.subplots(figsize=(10, 0.8 * len(best) + 1.2))
    rows = [(Path(str(scenario)).name, json.loads(placement))
            for scenario, placement in zip(best["scenario"], best["placement"])]
    plans = [stages_of(parsed) for _, parsed in rows]
    types = sorted({s.gpu_type for plan in plans for s in plan})
    colors = {t: GPU_COLORS[i % len(GPU_COLORS)] for i, t in enumerate(types)}
    for y, plan in enumerate(plans):
        for s in plan:
            ax.barh(y, s.layers, left=s.first_layer, color=colors[s.gpu_type], edgecolor="white")
            ax.text((s.first_layer + s.end_layer) / 2, y, f"{s.gpu_type} {s.layout}", ha="center", va="center",
                    fontsize=7, color="white")
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set_xlabel("layers")
    ax.set_title("Cheapest placement per scenario: layers -> pipeline stages -> GPU type (TP)")
    _save(fig, folder / "placements.png")
    return {"placements": dict(rows)}


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def write_report(frame: pd.DataFrame, name: str, folder: Path) -> dict[str, Any]:
    """PNGs and index.html for sweep `name` into `folder`; returns every figure's data."""
    folder.mkdir(parents=True, exist_ok=True)
    latest = frame[frame["run_date"] == frame["run_date"].max()]
    figures = {"cost_by_point": cost_by_point(latest, folder), "pareto": pareto(latest, folder),
               "savings": savings(latest, folder), "trend": trend_chart(frame, folder),
               "placements": placements(latest, folder)}
    counts = latest["status"].value_counts().to_dict()
    images = "".join(f'<h2>{html.escape(key.replace("_", " "))}</h2><img alt="{key}" src="data:image/png;base64,'
                     f'{base64.b64encode((folder / f"{key}.png").read_bytes()).decode()}">' for key in figures)
    table = latest[["scenario", "method", "status", "cost_per_million_tokens", "dollar_per_hour", "tokens_per_s",
                    "gpu_mix"]].to_html(index=False, float_format=lambda v: f"{v:,.4f}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px}</style></head>"
            f"<body><h1>Sweep '{html.escape(name)}', night {html.escape(str(latest['run_date'].iloc[0]))}</h1>"
            f"<p>{len(latest)} points: {html.escape(json.dumps(counts))}. $ per 1M generated tokens, $/h, tok/s.</p>"
            f"{images}<h2>points</h2>{table}</body></html>")
    write_text_atomic(folder / "index.html", page)
    return figures
