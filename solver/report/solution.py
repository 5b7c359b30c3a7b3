"""Turn a search outcome into the Solution contract, with everything the prediction used."""

from __future__ import annotations

import math

from solver import __version__
from solver.domain.scenario import Scenario
from solver.domain.solution import PROVEN_GAP, BatchSummary, Solution
from solver.perf.base import PerformanceModel
from solver.search.outcome import BatchResult, Outcome


def to_solution(outcome: Outcome, scenario: Scenario, perf: PerformanceModel) -> Solution:
    """The Solution of `outcome`: the placements with the model, workload, settings, pools (catalog factors in
    effect) and performance model they were predicted with."""
    p = outcome.placement
    if outcome.time_limited:
        status = "time_limit"
    elif p is None:
        status = "infeasible"
    else:
        status = "optimal" if outcome.gap <= PROVEN_GAP else "feasible"
    batches = [_batch_summary(b) for b in outcome.batches]
    return Solution(
        tool_version=__version__, config_dir=str(scenario.source) if scenario.source else None,
        model=scenario.model, workload=scenario.workload, settings=scenario.settings, pools=scenario.pools,
        perf_model=perf.name, perf_model_version=perf.version, calibration=scenario.calibration,
        method=outcome.method, backend=outcome.backend,
        status=status, solve_seconds=outcome.seconds, solves=outcome.solves,
        optimality_gap=outcome.gap if math.isfinite(outcome.gap) else None,
        first_incumbent_seconds=outcome.first_incumbent_s, placement=p, exact=outcome.exact,
        homogeneous=outcome.homogeneous, batches=batches, warnings=scenario.warnings)


def _batch_summary(b: BatchResult) -> BatchSummary:
    """One batch size's line: the MILP's size and work, and the best plan found at that batch size."""
    summary = BatchSummary(batch_size=b.batch, stage_types=b.arcs, variables=b.variables, constraints=b.constraints,
                           solves=b.solves, quantized=b.quantized,
                           exact_cost_per_million_tokens=b.exact_cost_per_million_tokens, note=b.note,
                           kv_limited_of=b.kv_limited_of)
    p = b.placement
    if p is None:
        return summary
    return summary.model_copy(update={
        "cost_per_million_tokens": p.cost_per_million_tokens, "tokens_per_s": p.total_tokens_per_s,
        "dollar_per_hour": p.total_dollar_per_hour, "replicas": p.replicas, "pipeline_stages": p.pipeline_stages,
        "total_gpus": p.total_gpus, "gpu_types": p.gpu_types, "tp_degrees": [s.tp for s in p.stages],
        "layouts": [s.layout for s in p.stages]})
