"""Capacity plans for people and files: the fleet, its baselines and simulation as rich tables, a demand curve as a
table and a PNG of $/month against demand (fleet changes marked), and fleet.csv."""

from __future__ import annotations

import io
import math

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from solver.domain.capacity import HOURS_PER_MONTH, CapacityPlan, Fleet


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _amount(value: float) -> str:
    """1,234 for large figures, three significant digits for small ones (0.00123)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _gpus(fleet: Fleet) -> str:
    return ", ".join(f"{n} x {pool}" for pool, n in sorted(fleet.gpus_by_pool().items()))


def fleet_table(plan: CapacityPlan) -> Table:
    table = Table(title=f"Fleet for {plan.demand_rps:g} requests/s ({plan.slo.describe()})", title_justify="left")
    table.add_column("replica")
    table.add_column("pipeline: stages (GPU, TP, layers)", ratio=3)
    table.add_column("copies", justify="right")
    table.add_column("rents per copy", ratio=2)
    table.add_column("$/h", justify="right")
    table.add_column("load (free)", justify="right")
    table.add_column("req/s by bucket " + "/".join(f"B{k + 1}" for k in range(len(plan.buckets))), justify="right")
    for line in plan.fleet.lines:
        r = line.replica
        rents = ", ".join(f"{g} {p}" for p, g in r.gpus.items())
        if r.instances:
            rents += " (" + ", ".join(f"{n} {p} instance at {r.providers.get(p, '?')}"
                                      for p, n in r.instances.items()) + ")"
        table.add_row(r.name, r.layout(), str(line.count), rents, f"${line.dollar_per_hour:,.2f}",
                      f"{line.utilisation:.0%} ({line.headroom:.0%})",
                      " / ".join(f"{v:.2f}" if v > 1e-9 else "-" for v in line.routed_rps))
    return table


def latency_table(plan: CapacityPlan) -> Table:
    q = plan.slo.percentile
    table = Table(title=f"Latency at p{q} per bucket: queueing model and simulation", title_justify="left")
    for column in ("bucket", "prompt/output", "share", f"TTFT p{q} model", "simulated", f"TPOT p{q} model",
                   "simulated"):
        table.add_column(column, justify="left" if column == "bucket" else "right")
    sim = plan.simulation
    for k, bucket in enumerate(plan.buckets):
        routed = [line for line in plan.fleet.lines if line.routed_rps[k] > 1e-9]
        ttft = max((line.ttft_ms[k] for line in routed), default=math.nan)
        tpot = max((line.tpot_ms[k] for line in routed), default=math.nan)
        simulated = sim.by_bucket[k] if sim else None
        table.add_row(f"B{k + 1}: {bucket.name}", f"{bucket.input_tokens}/{bucket.output_tokens}",
                      f"{bucket.share:.0%}",
                      _ms(ttft), _ms(simulated.ttft_ms[q]) if simulated else "-", _ms(tpot),
                      _ms(simulated.tpot_ms[q]) if simulated else "-")
    return table


def render_plan(plan: CapacityPlan, console: Console) -> None:
    console.print(fleet_table(plan))
    console.print(latency_table(plan))
    fleet = plan.fleet
    console.print(f"[bold]total[/]: ${fleet.dollar_per_hour:,.2f}/h, ${fleet.dollar_per_month:,.0f}/month, "
                  f"${plan.total_cost:,.0f} for {plan.months:g} month(s); {_amount(plan.generated_tokens_per_s)} "
                  f"generated tok/s at ${plan.cost_per_million_tokens:.4f} per 1M tokens; GPUs: {_gpus(fleet)}"
                  + (f"; instances: {', '.join(f'{n} x {p}' for p, n in fleet.instances_by_pool().items())}"
                     if fleet.instances_by_pool() else ""), highlight=False)
    console.print(f"[bold]exactness[/]: {fleet.status} within the candidates (fleet MILP bound ${fleet.bound:,.2f}/h; "
                  f"with fractional copies no fleet of them costs less than ${plan.fractional_bound:,.2f}/h). "
                  f"Candidates: {escape(plan.candidate_note)}. Rates predicted with calibration {plan.calibration}.",
                  highlight=False, soft_wrap=True)
    for saving in plan.baselines:
        if saving.fleet is None:
            console.print(f"[bold]vs {saving.name}[/]: no such fleet meets the demand and SLOs", highlight=False)
            continue
        monthly = (saving.fleet.dollar_per_hour - fleet.dollar_per_hour) * HOURS_PER_MONTH
        console.print(f"[bold]vs {saving.name}[/]: {saving.fleet.composition()} at ${saving.fleet.dollar_per_hour:,.2f}"
                      f"/h -> saves {saving.saving_fraction:.1%} (${monthly:,.0f}/month)", highlight=False)
    sim = plan.simulation
    if sim is not None:
        q = plan.slo.percentile
        verdict = "[green]SLOs hold[/]" if sim.slo_met else "[red]SLOs missed[/]"
        console.print(f"[bold]simulation[/]: {verdict}: {_amount(sim.achieved_rps)} of {sim.offered_rps:g} requests/s "
                      f"served over {sim.simulated_s:,.0f} s simulated ({sim.all_requests.requests:,} requests after "
                      f"warm-up, seed {sim.seed}); p{q} TTFT {_ms(sim.all_requests.ttft_ms[q])}, p{q} TPOT "
                      f"{_ms(sim.all_requests.tpot_ms[q])}", highlight=False)
    for warning in plan.warnings:
        console.print(f"[yellow]note:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def curve_frame(plans: list[CapacityPlan]) -> pd.DataFrame:
    """One row per demand: $/h, $/month, the baselines' $/month, the composition and whether it changed."""
    rows = []
    for plan in plans:
        base = {s.name: s.fleet.dollar_per_month if s.fleet else math.nan for s in plan.baselines}
        rows.append({"demand_rps": plan.demand_rps, "dollar_per_hour": plan.fleet.dollar_per_hour,
                     "dollar_per_month": plan.fleet.dollar_per_month, **{f"{k} $/month": v for k, v in base.items()},
                     "fleet": plan.fleet.composition(),
                     "slo_met_in_simulation": plan.simulation.slo_met if plan.simulation else None})
    frame = pd.DataFrame(rows)
    kinds = frame["fleet"].map(lambda text: tuple(sorted(part.split(" x ")[1] for part in text.split(" + "))))
    frame["mix_changed"] = kinds.ne(kinds.shift()) & (frame.index > 0)
    return frame


def render_curve(plans: list[CapacityPlan], console: Console) -> None:
    frame = curve_frame(plans)
    table = Table(title="Cost against demand", title_justify="left")
    for column in ("requests/s", "$/h", "$/month", "vs single GPU type", "vs identical pipelines", "fleet", "SLOs"):
        table.add_column(column, justify="left" if column == "fleet" else "right")
    for plan, (_, row) in zip(plans, frame.iterrows()):
        savings = [f"{s.saving_fraction:.0%}" if s.fleet else "n/a" for s in plan.baselines]
        slo = "-" if row["slo_met_in_simulation"] is None else ("hold" if row["slo_met_in_simulation"] else "missed")
        table.add_row(f"{row['demand_rps']:g}", f"${row['dollar_per_hour']:,.2f}", f"${row['dollar_per_month']:,.0f}",
                      *savings, ("* " if row["mix_changed"] else "") + row["fleet"], slo)
    console.print(table)
    console.print("* the replica types in the fleet change at this demand", highlight=False)
    last = set(plans[-1].warnings)  # printed with the last plan's fleet
    for warning in dict.fromkeys(w for plan in plans for w in plan.warnings if w not in last):
        console.print(f"[yellow]note:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def curve_png(plans: list[CapacityPlan]) -> bytes:
    """$/month against demand for the plan and both baselines, the points where the fleet's replica types change
    marked and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = curve_frame(plans)
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.step(frame["demand_rps"], frame["dollar_per_month"], where="post", marker="o", label="cheapest fleet")
    for column, style in (("best single GPU type $/month", "--"), ("identical pipelines $/month", ":")):
        if column in frame:
            ax.step(frame["demand_rps"], frame[column], where="post", linestyle=style,
                    label=column.removesuffix(" $/month"))
    for _, row in frame[frame["mix_changed"]].iterrows():
        ax.axvline(row["demand_rps"], color="grey", linewidth=0.8, linestyle="--")
        ax.text(row["demand_rps"], 0.02, row["fleet"], transform=ax.get_xaxis_transform(), fontsize=7,
                rotation=90, va="bottom", ha="right")
    ax.set_xlabel("demand (requests/s)")
    ax.set_ylabel("$/month")
    ax.set_title("Fleet cost against demand (dashed lines: the fleet's replica types change)")
    ax.legend()
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def fleet_csv(plans: list[CapacityPlan]) -> str:
    """One row per demand and replica type: what to rent and what it costs."""
    rows = [{"demand_rps": plan.demand_rps, "replica": line.replica.name, "pipeline": line.replica.layout(),
             "copies": line.count, "gpus_per_copy": ";".join(f"{p}={g}" for p, g in line.replica.gpus.items()),
             "instances_per_copy": ";".join(f"{p}={n}" for p, n in line.replica.instances.items()),
             "max_num_seqs": line.replica.max_num_seqs, "dollar_per_hour": line.dollar_per_hour,
             "dollar_per_month": line.dollar_per_hour * HOURS_PER_MONTH, "utilisation": line.utilisation,
             **{f"rps_{b.name}": v for b, v in zip(plan.buckets, line.routed_rps)}}
            for plan in plans for line in plan.fleet.lines]
    return pd.DataFrame(rows).to_csv(index=False)
