"""`tokenop-solve capacity`: from a demand, a request mix and SLOs to the cheapest fleet to rent, its cost per
month, the savings against a single GPU type and identical pipelines, and a simulation that checks it; a demand
range prints a cost curve and writes its PNG."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import click
from rich.console import Console

from solver.cli.common import user_errors
from solver.cli.options import finite
from solver.domain.choices import BACKENDS, DEFAULT_PERF_MODEL


@click.command("capacity")
@click.option("--config-dir", required=True, help="Scenario folder or preset: the model, the GPUs that may be rented "
                                                  "(pool counts are limits) and their prices.")
@click.option("--demand-rps", default=None, help="Requests per second, or a range FROM:TO:STEP (e.g. 10:200:10).")
@click.option("--demand-tokens-per-second", default=None, help="Generated tokens per second (or FROM:TO:STEP).")
@click.option("--tokens-per-day", default=None, help="Generated tokens per day (or FROM:TO:STEP).")
@click.option("--workload", default=None,
              help="Request mix: CSV of input_tokens,output_tokens[,weight] (trace or histogram) or a bundled name "
                   "(chat-mix).")
@click.option("--buckets", type=click.IntRange(1, 12), default=3, show_default=True,
              help="Request-size buckets the mix is grouped into.")
@click.option("--input-tokens", type=click.IntRange(1, 10_000_000), default=None,
              help="Fixed prompt length (without --workload; default: the scenario's).")
@click.option("--output-tokens", type=click.IntRange(1, 10_000_000), default=None,
              help="Fixed output length (without --workload; default: the scenario's).")
@click.option("--ttft-slo-ms", type=click.FloatRange(min=0, min_open=True), default=None, callback=finite,
              help="Time to first token target (default: ttft_slo_ms of config.csv, else none).")
@click.option("--tpot-slo-ms", type=click.FloatRange(min=0, min_open=True), default=None, callback=finite,
              help="Time per output token target (default: tpot_slo_ms of config.csv, else none).")
@click.option("--slo-percentile", type=click.Choice(["50", "90", "99"]), default="99", show_default=True)
@click.option("--months", type=click.FloatRange(min=0, min_open=True, max=1200), default=1.0, show_default=True,
              callback=finite, help="Months to rent for (the total cost).")
@click.option("--price-scale", multiple=True, metavar="GPU=FACTOR",
              help="Scale a GPU type's price, e.g. H100=0.8 (repeatable).")
@click.option("--cloud-provider", default=None, help="Price GPUs at this provider's catalog prices.")
@click.option("--generate-network", type=(click.FloatRange(min=0, min_open=True),
                                          click.FloatRange(min=0, min_open=True)), default=None,
              metavar="INTRA INTER", help="GB/s within one GPU type and between types, instead of a bandwidth file.")
@click.option("--backend", type=click.Choice(BACKENDS), default="highs", show_default=True)
@click.option("--perf-model", default=DEFAULT_PERF_MODEL, show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True, max=10**7), default=None, callback=finite,
              help="Seconds for the candidate search (default: time_limit_seconds of config.csv).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for the candidate search "
                                                                          "(default: the cores).")
@click.option("--no-simulate", is_flag=True, help="Skip the request-level simulation check.")
@click.option("--requests", "sim_requests", type=click.IntRange(200, 1_000_000), default=3000, show_default=True,
              help="Requests per simulation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulation.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write capacity.json, fleet.csv (and capacity_curve.png for a range) here, atomically.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@user_errors
def capacity(output: Path | None, as_json: bool, **options: object) -> None:
    """Plan the cheapest fleet for a demand and SLOs: replica types (pipelines from the placement MILP, mixed GPU
    types allowed), copies of each and which request sizes each serves, by an exact fleet MILP over the candidates;
    checked by a request-level simulation. Example: tokenop-solve capacity --config-dir medium --workload chat-mix
    --demand-rps 0.5 --ttft-slo-ms 3000 --tpot-slo-ms 150."""
    from solver.capacity.request import CapacityRequest, run_capacity
    from solver.milp.stop import stop_on_sigint
    from solver.report.capacity import curve_png, fleet_csv, render_curve, render_plan
    from solver.storage.atomic import write_text_atomic
    from solver.storage.resultset import ResultSet

    console = Console(stderr=as_json)
    request = CapacityRequest(**options)  # type: ignore[arg-type]
    with ResultSet(output) if output else nullcontext() as results:  # checked and locked before any work
        with console.status("planning capacity ...") as status, stop_on_sigint():
            plans = run_capacity(request, progress=status.update)
        if results is not None:
            results.add("capacity.json", request.to_json(plans))
            results.add("fleet.csv", fleet_csv(plans))
            if len(plans) > 1:
                results.add("capacity_curve.png", curve_png(plans))
    if as_json:
        click.echo(request.to_json(plans))
    elif len(plans) == 1:
        render_plan(plans[0], console)
    else:
        render_curve(plans, console)
        console.print(f"\n[bold]The fleet at the highest demand planned, {plans[-1].demand_rps:g} requests/s:[/]")
        render_plan(plans[-1], console)
    if output:
        console.print(f"wrote capacity.json, fleet.csv{', capacity_curve.png' if len(plans) > 1 else ''} to {output}")
    elif len(plans) > 1:
        write_text_atomic(Path("capacity_curve.png"), curve_png(plans))
        console.print("wrote capacity_curve.png (pass --output DIR to keep the plans with it)", highlight=False)
