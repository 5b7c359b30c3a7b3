"""A capacity question as a user asks it (demand in requests/s, tokens/s or tokens/day, possibly a range; a request
mix; SLOs; price changes) turned into plans, one per demand, sharing one candidate search."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from solver.api import load_scenario
from solver.capacity.choose import SIMULATED_REQUESTS, plan_and_check, plan_capacity
from solver.capacity.rated import prepare
from solver.domain.capacity import CapacityPlan, RequestMix, Slo
from solver.domain.errors import InfeasibleError, UserError
from solver.domain.scenario import Scenario
from solver.loaders.workload_mix import fixed_mix, load_mix, resolve_workload

MAX_RANGE_POINTS = 200
SECONDS_PER_DAY = 86400.0


def parse_range(text: str, option: str) -> list[float]:
    """'40' -> [40]; '10:200:10' -> [10, 20, ..., 200] (both ends included)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UserError(f"{option} '{text}' is not a number or a range FROM:TO:STEP. Fix: e.g. {option} 40 or "
                        f"{option} 10:200:10.") from None
    if len(values) not in (1, 3) or not all(math.isfinite(v) and v > 0 for v in values):
        raise UserError(f"{option} '{text}' needs one positive number or FROM:TO:STEP with positive numbers. Fix: "
                        f"e.g. {option} 10:200:10.")
    if len(values) == 1:
        return values
    start, stop, step = values
    count = math.floor((stop - start) / step + 1e-9) + 1
    if stop < start or count > MAX_RANGE_POINTS:
        raise UserError(f"{option} '{text}' must go up from FROM to TO in at most {MAX_RANGE_POINTS} steps. Fix: "
                        f"e.g. {option} 10:200:10.")
    return [round(start + i * step, 9) for i in range(count)]


def scale_prices(scenario: Scenario, scales: tuple[str, ...]) -> Scenario:
    """--price-scale H100=0.8: that GPU type's per-GPU and instance prices times 0.8."""
    factors: dict[str, float] = {}
    for item in scales:
        name, _, value = item.partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = math.nan
        if not name or not (math.isfinite(factor) and factor > 0):
            raise UserError(f"--price-scale '{item}' is not GPU=FACTOR with a positive factor. Fix: e.g. "
                            f"--price-scale H100=0.8.")
        matches = [p for p in scenario.pools if p.gpu_type.lower() == name.strip().lower()]
        if not matches:
            raise UserError(f"--price-scale names {name}, which no pool of the scenario has. Fix: use one of "
                            f"{', '.join(sorted({p.gpu_type for p in scenario.pools}))}.")
        factors[matches[0].gpu_type] = factor
    pools = []
    for pool in scenario.pools:
        f = factors.get(pool.gpu_type, 1.0)
        instance = pool.instance.model_copy(update={"dollar_per_hour": pool.instance.dollar_per_hour * f}) \
            if pool.instance else None
        pools.append(pool.model_copy(update={"dollar_per_hour": pool.dollar_per_hour * f, "instance": instance}))
    return replace(scenario, pools=pools)


@dataclass
class CapacityRequest:
    """The options of `tokenop-solve capacity`, as given."""

    config_dir: str
    demand_rps: str | None = None
    demand_tokens_per_second: str | None = None
    tokens_per_day: str | None = None
    workload: str | None = None
    buckets: int = 3
    input_tokens: int | None = None
    output_tokens: int | None = None
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    slo_percentile: str = "99"
    months: float = 1.0
    price_scale: tuple[str, ...] = ()
    cloud_provider: str | None = None
    generate_network: tuple[float, float] | None = None
    backend: str = "highs"
    perf_model: str = "roofline"
    time_limit: float | None = None
    workers: int | None = None
    no_simulate: bool = False
    sim_requests: int = SIMULATED_REQUESTS
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    def mix(self, scenario: Scenario) -> RequestMix:
        if self.workload is not None:
            if self.input_tokens or self.output_tokens:
                raise UserError("--workload and --input-tokens/--output-tokens both describe the requests. Fix: "
                                "pass one of them.")
            return load_mix(resolve_workload(self.workload), self.buckets)
        w = scenario.workload
        return fixed_mix(self.input_tokens or w.input_tokens, self.output_tokens or w.output_tokens)

    def demands(self, scenario: Scenario, mix: RequestMix) -> list[float]:
        """Requests/s to plan for: from whichever demand option was given, else config.csv's throughput_demand."""
        given = [(name, text) for name, text in (("--demand-rps", self.demand_rps),
                                                 ("--demand-tokens-per-second", self.demand_tokens_per_second),
                                                 ("--tokens-per-day", self.tokens_per_day)) if text is not None]
        if len(given) > 1:
            raise UserError(f"{' and '.join(n for n, _ in given)} both set the demand. Fix: pass one of them.")
        per_request = sum(b.share * b.output_tokens for b in mix.buckets)  # generated tokens per request
        if not given:
            if scenario.workload.throughput_demand <= 0:
                raise UserError("no demand given. Fix: pass --demand-rps N (or --demand-tokens-per-second, "
                                "--tokens-per-day), or set throughput_demand_tokens_per_s in config.csv.")
            return [scenario.workload.throughput_demand / per_request]
        name, text = given[0]
        values = parse_range(text, name)
        scale = {"--demand-rps": 1.0, "--demand-tokens-per-second": 1 / per_request,
                 "--tokens-per-day": 1 / (per_request * SECONDS_PER_DAY)}[name]
        return [v * scale for v in values]

    def slo(self, scenario: Scenario) -> Slo:
        w = scenario.workload
        return Slo(ttft_ms=self.ttft_slo_ms or w.ttft_slo_ms, tpot_ms=self.tpot_slo_ms or w.tpot_slo_ms,
                   percentile=int(self.slo_percentile))  # type: ignore[arg-type]

    def to_json(self, plans: list[CapacityPlan]) -> str:
        data = [json.loads(p.model_dump_json()) for p in plans]
        return json.dumps(data[0] if len(data) == 1 else data, indent=2)


def run_capacity(request: CapacityRequest, progress: Callable[[str], None] | None = None) -> list[CapacityPlan]:
    """One plan per demand asked; the candidate search runs once. Every plan is simulated unless no_simulate."""
    scenario = load_scenario(request.config_dir, provider=request.cloud_provider,
                             generate_network=request.generate_network)
    scenario = scale_prices(scenario, request.price_scale)
    mix = request.mix(scenario)
    demands = request.demands(scenario, mix)
    slo = request.slo(scenario)
    time_limit = request.time_limit or scenario.settings.time_limit_seconds
    candidates = prepare(scenario, mix.buckets, slo, request.perf_model, request.backend, time_limit,
                         workers=request.workers, progress=progress)
    plans: list[CapacityPlan] = []
    for i, demand in enumerate(demands, start=1):
        if progress:
            progress(f"fleet for {demand:g} requests/s ({i} of {len(demands)})")
        try:
            if request.no_simulate:
                plan = plan_capacity(candidates, demand, request.months, request.backend, time_limit)
            else:
                plan = plan_and_check(candidates, demand, request.months, request.backend, time_limit, mix,
                                      request.sim_requests, request.seed)
        except InfeasibleError as exc:
            if not plans:
                raise
            # demand only grows along a range: what the pools cannot serve here they cannot serve further on
            plans[-1].warnings.append(f"the range stops at {plans[-1].demand_rps:g} requests/s: at {demand:g} "
                                      f"requests/s {exc}")
            break
        plan.warnings = scenario.warnings + plan.warnings
        plans.append(plan)
    return plans

