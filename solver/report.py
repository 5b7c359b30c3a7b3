"""Reports of a solve: rich tables for people, JSON and CSV for machines. Every number carries its unit."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from solver.config import Scenario
from solver.io_utils import write_csv_atomic, write_json_atomic
from solver.methods import Outcome
from solver.placement import Placement, link_bandwidths


def clean(value):
    """JSON-safe: infinities and NaN become null."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def saving(outcome: Outcome) -> float | None:
    """Relative $/token saving of the chosen plan against the best homogeneous plan."""
    p, h = outcome.placement, outcome.homogeneous
    if p is None or h is None:
        return None
    return 1 - p.cost_per_million_tokens / h.cost_per_million_tokens


def distance_from_exact(outcome: Outcome) -> float | None:
    p, e = outcome.placement, outcome.exact
    if p is None or e is None:
        return None
    return p.cost_per_million_tokens / e.cost_per_million_tokens - 1


def outcome_dict(outcome: Outcome, scenario: Scenario) -> dict:
    p = outcome.placement
    return clean({
        "config_dir": str(scenario.source) if scenario.source else None,
        "model": scenario.model.name,
        "hf_model_name": scenario.model.hf_name,
        "num_layers": scenario.model.num_layers,
        "precision": scenario.model.precision,
        "model_arch": scenario.model.model_dump(),
        "gpus_per_node": {p.gpu_type: p.spec.gpus_per_node for p in scenario.pools},
        "pool_memory_gb": {p.name: p.memory_gb for p in scenario.pools},
        "link_bandwidth_gbps": link_bandwidths(scenario, p) if p else [],
        "vllm_deployable": scenario.settings.vllm_deployable,
        "input_tokens": scenario.workload.input_tokens,
        "output_tokens": scenario.workload.output_tokens,
        "gpu_memory_utilization": scenario.settings.gpu_memory_utilization,
        "method": outcome.method,
        "backend": outcome.backend,
        "status": "time_limit" if outcome.time_limited else ("optimal" if p else "infeasible"),
        "solve_seconds": outcome.seconds,
        "solves": outcome.solves,
        "optimality_gap": outcome.gap,
        "first_incumbent_seconds": outcome.first_incumbent_s,
        "placement": p.to_dict() if p else None,
        "exact": outcome.exact.to_dict() if outcome.exact else None,
        "distance_from_exact": distance_from_exact(outcome),
        "homogeneous": outcome.homogeneous.to_dict() if outcome.homogeneous else None,
        "saving_vs_homogeneous": saving(outcome),
        "headroom": scenario.settings.headroom,
        "batches": [{"batch_size": b.batch, "stage_types": b.arcs, "variables": b.variables,
                     "constraints": b.constraints, "solves": b.solves, "quantized": b.quantized,
                     "cost_per_million_tokens": b.placement.cost_per_million_tokens if b.placement else None,
                     "tokens_per_s": b.placement.total_tokens_per_s if b.placement else None,
                     "dollar_per_hour": b.placement.total_dollar_per_hour if b.placement else None,
                     "exact_cost_per_million_tokens": b.exact_cost_per_million_tokens, "note": b.note}
                    for b in outcome.batches],
        "warnings": scenario.warnings,
    })


def summary_frame(outcome: Outcome) -> pd.DataFrame:
    """One row per batch size, the chosen one marked (like the older solver's solution_summary.csv)."""
    chosen = outcome.placement.batch_size if outcome.placement else None
    rows = []
    for b in outcome.batches:
        p = b.placement
        rows.append({"batch_size": b.batch, "method": outcome.method, "backend": outcome.backend,
                     "tokens_per_s": p.total_tokens_per_s if p else None,
                     "dollar_per_hour": p.total_dollar_per_hour if p else None,
                     "replicas": p.replicas if p else None,
                     "cost_per_million_tokens": p.cost_per_million_tokens if p else None,
                     "pipeline_stages": p.pipeline_stages if p else None, "total_gpus": p.total_gpus if p else None,
                     "gpu_types": "|".join(p.gpu_types) if p else None,
                     "tp_degrees": "|".join(str(s.tp) for s in p.stages) if p else None,
                     "exact_cost_per_million_tokens": b.exact_cost_per_million_tokens,
                     "is_best": b.batch == chosen, "status": "SUCCESS" if p else b.note.upper() or "INFEASIBLE"})
    return pd.DataFrame(rows)


def write_outputs(directory: Path, outcome: Outcome, scenario: Scenario) -> list[Path]:
    directory = Path(directory)
    solution, summary = directory / "solution.json", directory / "summary.csv"
    write_json_atomic(solution, outcome_dict(outcome, scenario))
    write_csv_atomic(summary, summary_frame(outcome))
    return [solution, summary]


def fmt_money(value: float, unit: str) -> str:
    return f"${value:,.4f}{unit}" if value < 10 else f"${value:,.2f}{unit}"


def placement_table(p: Placement, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("stage", "GPU type", "TP", "layers", "GPUs", "$/h", "tok/s", "GB/GPU"):
        table.add_column(column, justify="right" if column not in ("GPU type", "layers") else "left")
    for i, s in enumerate(p.stages):
        table.add_row(str(i), s.gpu_type, str(s.tp), f"{s.first_layer}-{s.end_layer - 1} ({s.layers})", str(s.gpus),
                      f"{s.dollar_per_hour:.2f}", f"{s.tokens_per_s:,.0f}", f"{s.memory_gb_per_gpu:.1f}")
    return table


def render(outcome: Outcome, scenario: Scenario, console: Console) -> None:
    p = outcome.placement
    m, w = scenario.model, scenario.workload
    console.print(f"[bold]{m.name}[/] ({m.num_layers} layers, {m.precision}), {w.input_tokens} input + "
                  f"{w.output_tokens} output tokens, batch sizes {', '.join(map(str, w.batch_sizes))}")
    if p is None:
        console.print("[red]No feasible placement.[/]")
        return
    each = f", one of {p.replicas} identical replicas" if p.replicas > 1 else ""
    console.print(placement_table(p, f"Chosen placement ({outcome.method}, batch size {p.batch_size}{each})"))
    gap = "n/a (time limit)" if not math.isfinite(outcome.gap) else f"{outcome.gap:.2%}"
    first = f"{outcome.first_incumbent_s:.2f} s" if outcome.first_incumbent_s is not None else "n/a"
    copies = f" ({p.replicas} replicas x {fmt_money(p.dollar_per_hour, '/h')})" if p.replicas > 1 else ""
    rate = f" ({p.replicas} replicas x {p.tokens_per_s:,.0f})" if p.replicas > 1 else ""
    lines = [
        ("Total GPUs", f"{p.total_gpus} in {p.pipeline_stages} pipeline stage(s)"
                       + (f" x {p.replicas} identical replicas" if p.replicas > 1 else "")),
        ("Cost", f"{fmt_money(p.total_dollar_per_hour, '/h')}{copies}"),
        ("Throughput", f"{p.total_tokens_per_s:,.0f} tok/s{rate} (generated tokens, bound: {p.bound})"),
        ("Cost per token", f"{fmt_money(p.cost_per_million_tokens, ' per 1M tokens')}"),
        ("Latency", f"TTFT {p.ttft_ms:,.0f} ms, TPOT {p.tpot_ms:,.1f} ms"),
        ("Batch size", f"{p.batch_size} per stage" + (f" x {p.pipeline_stages} micro-batches = "
                                                      f"{p.requests_in_flight} requests in flight"
                                                      if p.pipeline_stages > 1 else " (requests in flight)")),
        ("Method / backend", f"{outcome.method} / {outcome.backend}"),
        ("Solve time", f"{outcome.seconds:.2f} s ({outcome.solves} MILP solves; first incumbent after {first})"),
        ("Optimality gap", gap),
    ]
    if outcome.exact is not None:
        d = distance_from_exact(outcome)
        lines.append(("Exact optimum", f"{fmt_money(outcome.exact.cost_per_million_tokens, ' per 1M tokens')}"
                      f" ({'this plan' if abs(d) < 1e-9 else f'this plan is {d:+.2%}'})"))
    if outcome.homogeneous is not None:
        h = outcome.homogeneous
        lines.append(("Best single-type plan", f"{h.total_gpus}x {'/'.join(h.gpu_types)}: "
                      f"{fmt_money(h.cost_per_million_tokens, ' per 1M tokens')}; saving {saving(outcome):.1%}"))
    if scenario.settings.headroom:
        lines.append(("Headroom", f"stage throughputs derated by {scenario.settings.headroom:.0%}"))
    if outcome.time_limited:
        lines.append(("Note", "time limit reached: best plan found so far is shown"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        console.print(f"  {key:<{width}}  {value}")
