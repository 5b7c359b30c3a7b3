"""Predicted vs measured: what the planner predicted for a solution's placement (the same Deployment, the same
factors, the same performance model) beside what vLLM's benchmark measured, and the run as a calibration record."""

from __future__ import annotations

from dataclasses import dataclass

from solver.calibration.records import Measurement
from solver.domain.solution import Solution
from solver.perf import get_model
from solver.perf.deployment import Deployment
from solver.perf.estimate import PipelineEstimate
from solver.vllm.launch import LaunchPlan


@dataclass
class Comparison:
    predicted: dict[str, float]
    measured: dict[str, float]

    @property
    def relative_error(self) -> dict[str, float]:
        """predicted / measured - 1 for every figure both sides have."""
        return {k: self.predicted[k] / self.measured[k] - 1 for k in self.predicted
                if self.measured.get(k) and self.predicted[k] is not None}


def deployment_prediction(solution: Solution, requests: int | None = None) -> PipelineEstimate:
    """What the solution's performance model predicts for vLLM running its placement with `requests` in flight
    (its --max-num-seqs; default the plan's): the Deployment the planner evaluated, with no headroom."""
    assert solution.placement is not None
    deployment = Deployment.of_solution(solution, solution.placement, requests)
    return deployment.evaluate(get_model(solution.perf_model))


def compare(solution: Solution, bench: dict, requests: int) -> Comparison:
    p = deployment_prediction(solution, requests)
    predicted = {"tokens_per_s": p.tokens_per_s, "ttft_ms": p.ttft_ms, "tpot_ms": p.tpot_ms}
    measured = {"tokens_per_s": float(bench["output_throughput"]), "ttft_ms": float(bench["mean_ttft_ms"]),
                "tpot_ms": float(bench["mean_tpot_ms"])}
    return Comparison(predicted, measured)


def measurement_of(solution: Solution, bench: dict, plan: LaunchPlan, source: str) -> Measurement | None:
    """The run as a calibration record; None for mixed GPU types (one factor set cannot explain it)."""
    types = {s.gpu_type for s in solution.placement.stages}
    if len(types) != 1:
        return None
    (gpu,) = types
    completed = int(bench["completed"])
    return Measurement(source=source, model=solution.model, gpu_type=gpu, tp=plan.tp, pp=plan.pp, dp=plan.dp,
                       gpus_per_node=solution.gpus_per_node.get(gpu, plan.gpus),
                       batch_size=min(solution.placement.requests_in_flight, completed),
                       input_tokens=round(bench["total_input_tokens"] / completed),
                       output_tokens=round(bench["total_output_tokens"] / completed),
                       tokens_per_s=float(bench["output_throughput"]),
                       gpu_memory_utilization=plan.gpu_memory_utilization,
                       stage_layers=tuple(plan.layer_partition), max_num_seqs=plan.max_num_seqs)
