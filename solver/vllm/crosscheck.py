"""The capacity simulator against a real vLLM server: the same Poisson arrival rate and request shape, and the
TTFT/TPOT percentiles each reports.

The simulator needs the server's step times, which the performance model cannot give for a CPU: they are
measured first with vLLM's own benchmark in closed loop (one request at a time: decode step and prefill per prompt
token; --max-num-seqs at once: the decode step at that concurrency). Then vLLM's benchmark sends requests at the
rate asked (Poisson arrivals), and the simulator replays the same rate with those step times. What differs is what
the simulator models (queueing, continuous batching, chunked prefill, the concurrency cap).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from solver.capacity.simulate import ReplicaGroup, simulate
from solver.domain.capacity import Latencies, Slo
from solver.perf.service import ServiceTimes
from solver.vllm.benchmark import serving_benchmark, vllm_version
from solver.vllm.launch import LaunchPlan, NodeGroup, max_model_len
from solver.vllm.server import SERVED_NAME, vllm_server

SIMULATED_REQUESTS = 20000  # the simulator's percentiles, at steady state


@dataclass
class CrossCheck:
    """Measured (vLLM) and simulated TTFT/TPOT percentiles at one arrival rate, in ms, and the step times used."""

    vllm_version: str | None
    rate_rps: float
    input_tokens: int
    output_tokens: int
    max_num_seqs: int
    requests: int
    server_command: str
    step_times: dict[str, float]
    measured: dict[str, float]
    simulated: dict[str, float]

    def relative_difference(self) -> dict[str, float]:
        """(simulated - measured) / measured for every figure both report."""
        return {k: (self.simulated[k] - v) / v for k, v in self.measured.items() if k in self.simulated and v > 0}

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"relative_difference": self.relative_difference()}, indent=2)


def _figures(data: dict) -> dict[str, float]:
    """TTFT/TPOT percentiles, means and request throughput from vLLM's benchmark result."""
    keys = [f"{stat}_{metric}_ms" for metric in ("ttft", "tpot") for stat in ("mean", "p50", "p90", "p99")]
    return {k: float(data[k]) for k in keys if k in data} | {"request_throughput": float(data["request_throughput"])}


def _simulated(lat: Latencies, achieved: float) -> dict[str, float]:
    figures = {"mean_ttft_ms": lat.mean_ttft_ms, "mean_tpot_ms": lat.mean_tpot_ms, "request_throughput": achieved}
    for q in (50, 90, 99):
        figures[f"p{q}_ttft_ms"], figures[f"p{q}_tpot_ms"] = lat.ttft_ms[q], lat.tpot_ms[q]
    return figures


def cross_check(model_dir: str, num_layers: int, input_tokens: int, output_tokens: int, max_num_seqs: int,
                rate_rps: float, requests: int, out_dir: Path, python: str, port: int, extra_args: list[str],
                progress: Callable[[str], None], timeout_s: float = 600.0, seed: int = 0) -> CrossCheck:
    """Serve `model_dir` with vLLM, measure its step times, send `requests` Poisson arrivals at `rate_rps`, and
    simulate the same; vLLM's prefill chunk is --max-num-batched-tokens (the simulator is told the same)."""
    chunk = max(2048, input_tokens)
    plan = LaunchPlan(model=model_dir, tp=1, pp=1, layer_partition=[num_layers], max_num_seqs=max_num_seqs,
                      max_model_len=max_model_len(input_tokens, output_tokens), gpu_memory_utilization=0.9,
                      nodes=[NodeGroup("cpu", 1, [0])])
    out_dir.mkdir(parents=True, exist_ok=True)

    def bench(name: str, prompts: int, extra: list[str]) -> dict:
        progress(f"vLLM benchmark: {name} ({prompts} requests)")
        return serving_benchmark(python, base_url, SERVED_NAME, model_dir, input_tokens, output_tokens, prompts,
                                 out_dir, [*extra, "--seed", str(seed)], name=name)

    with vllm_server(plan, model_dir, python, port, [*extra_args, "--max-num-batched-tokens", str(chunk)],
                     out_dir / "server.log", timeout_s, progress) as base_url:
        bench("warm-up", 4, ["--max-concurrency", "1"])
        alone = bench("alone", 8, ["--max-concurrency", "1"])
        full = bench("full", 4 * max_num_seqs, ["--max-concurrency", str(max_num_seqs)])
        measured = bench("poisson", requests, ["--request-rate", f"{rate_rps:g}"])
    prefill_per_token = float(alone["median_ttft_ms"]) / 1e3 / input_tokens
    service = ServiceTimes.linear(float(alone["median_tpot_ms"]) / 1e3, float(full["median_tpot_ms"]) / 1e3,
                                  max_num_seqs, prefill_per_token, max_num_seqs)
    sim = simulate([ReplicaGroup(1, [service], max_num_seqs, 10**9, [1.0])], [1.0],
                   [np.array([[input_tokens, output_tokens]])], rate_rps, Slo(), SIMULATED_REQUESTS, seed, chunk)
    command = (out_dir / "server.log").read_text().splitlines()[0].removeprefix("$ ")
    return CrossCheck(vllm_version(python), rate_rps, input_tokens, output_tokens, max_num_seqs, requests, command,
                      {"decode_step_1_ms": float(service.decode_s[0]) * 1e3,
                       f"decode_step_{max_num_seqs}_ms": float(service.decode_s[1]) * 1e3,
                       "prefill_ms_per_token": prefill_per_token * 1e3},
                      _figures(measured), _simulated(sim.all_requests, sim.achieved_rps))
