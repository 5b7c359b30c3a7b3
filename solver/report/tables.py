"""Rich tables of a solution for people: the chosen placement and the figures beside it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from solver.domain.placement import Placement, engines_of
from solver.domain.solution import Solution


def fmt_money(value: float, unit: str) -> str:
    return f"${value:,.4f}{unit}" if value < 10 else f"${value:,.2f}{unit}"


def placement_table(p: Placement, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("stage", "GPU type", "parallel", "layers", "GPUs", "$/h", "tok/s", "GB/GPU"):
        table.add_column(column, justify="right" if column not in ("GPU type", "layers") else "left")
    for i, s in enumerate(p.stages):
        table.add_row(str(i), s.gpu_type, s.layout, f"{s.first_layer}-{s.end_layer - 1} ({s.layers})", str(s.gpus),
                      f"{s.dollar_per_hour:.2f}", f"{s.tokens_per_s:,.0f}", f"{s.memory_gb_per_gpu:.1f}")
    return table


def render(solution: Solution, console: Console) -> None:
    """The chosen placement as a table, then totals, cost per token, latency, the solve and the baselines."""
    p = solution.placement
    m, w = solution.model, solution.workload
    console.print(f"[bold]{m.name}[/] ({m.num_layers} layers, {m.precision}), {w.input_tokens} input + "
                  f"{w.output_tokens} output tokens, batch sizes {', '.join(map(str, w.batch_sizes))}")
    if p is None:
        console.print("[red]No feasible placement.[/]")
        return
    each = f", one of {p.replicas} identical replicas" if p.replicas > 1 else ""
    console.print(placement_table(p, f"Chosen placement ({solution.method}, batch size {p.batch_size}{each})"))
    gap = "n/a (time limit)" if solution.optimality_gap is None else f"{solution.optimality_gap:.2%}"
    first = f"{solution.first_incumbent_seconds:.2f} s" if solution.first_incumbent_seconds is not None else "n/a"
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
                                                      if p.pipeline_stages > 1 else " (requests in flight)")
                       + (f", {p.batch_size / engines_of(p.stages):g} per data-parallel engine"
                          if engines_of(p.stages) > 1 else "")
                       + (f"; KV-limited: its KV cache cannot hold the {p.requested_batch_size} per stage asked, "
                          "so vLLM runs this many at once" if p.kv_limited else "")),
        ("Method / backend", f"{solution.method} / {solution.backend}"),
        ("Predicted with", f"{solution.perf_model} v{solution.perf_model_version}, calibration "
                           f"{solution.calibration or 'not recorded'}"),
        ("Solve time", f"{solution.solve_seconds:.2f} s ({solution.solves} MILP solves; first incumbent after "
                       f"{first})"),
        ("Optimality gap", gap),
    ]
    if solution.exact is not None:
        d = solution.distance_from_exact or 0.0
        lines.append(("Exact optimum", f"{fmt_money(solution.exact.cost_per_million_tokens, ' per 1M tokens')}"
                      f" ({'this plan' if abs(d) < 1e-9 else f'this plan is {d:+.2%}'})"))
    if solution.homogeneous is not None:
        h = solution.homogeneous
        lines.append(("Best single-type plan", f"{h.total_gpus}x {'/'.join(h.gpu_types)}: "
                      f"{fmt_money(h.cost_per_million_tokens, ' per 1M tokens')}"
                      + (f"; saving {solution.saving_vs_homogeneous:.1%}" if solution.saving_vs_homogeneous is not None
                         else "")))
    target = solution.settings.max_cost_per_million_token
    if solution.meets_cost_target is not None:
        verdict = "met" if solution.meets_cost_target else f"missed by {p.cost_per_million_tokens / target - 1:.0%}"
        lines.append(("Cost target", f"{fmt_money(target, ' per 1M tokens')} (max_cost_per_million_token): {verdict}"))
    if solution.instances_to_rent:
        lines.append(("Instances to rent", ", ".join(f"{n}x {name}" for name, n in solution.instances_to_rent.items())))
    if solution.settings.headroom:
        lines.append(("Headroom", f"stage throughputs derated by {solution.settings.headroom:.0%}"))
    if solution.status == "time_limit":
        lines.append(("Note", "time limit reached: best plan found so far is shown"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        console.print(f"  {key:<{width}}  {value}")
