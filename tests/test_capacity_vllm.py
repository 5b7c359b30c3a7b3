"""The capacity simulator against a real vLLM server (CPU build, a small random-weight Llama): the same Poisson
arrival rate and request shape give about the same throughput, TTFT and TPOT. Needs `make install-vllm`; CI sets
TOKENOP_REQUIRE_VLLM=1 so it cannot skip there. scripts/crosscheck_simulator.py runs the longer version whose
figures the README reports."""

from __future__ import annotations

import sys

import pytest

from solver.vllm.crosscheck import cross_check
from tests.tiny_llama import SMALL_ARCH, free_port, require_vllm, write_tiny_llama

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_simulator_matches_vllm_at_the_same_arrival_rate(tmp_path, monkeypatch):
    """One retry: the simulator is fed step times measured a minute before the Poisson phase, and on this shared
    2-core machine the server's speed can shift in between (six runs: mean TPOT 27-31 ms in the Poisson phase; one
    more at 39 ms with the same step times, -35% against the simulation). A simulator that is wrong misses twice."""
    require_vllm()
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = write_tiny_llama(tmp_path / "model", SMALL_ARCH)
    misses: list[str] = []
    for attempt in range(2):
        result = cross_check(str(model), SMALL_ARCH["num_hidden_layers"], 256, 64, 8, 1.5, 100,
                             tmp_path / f"run{attempt}", sys.executable, free_port(), ["--load-format", "dummy"],
                             lambda _: None)
        assert "--max-num-seqs 8" in result.server_command
        misses = _misses(result)
        if not misses:
            return
    pytest.fail("; ".join(misses) + "\n" + result.to_json())


def _misses(result) -> list[str]:
    """What the simulation got wrong against the server, beyond what this machine's noise allows."""
    difference = result.relative_difference()
    limits = {"request_throughput": 0.15, "mean_tpot_ms": 0.35, "mean_ttft_ms": 0.5}
    misses = [f"{key} {difference[key]:+.0%} (limit {limit:.0%})" for key, limit in limits.items()
              if abs(difference[key]) >= limit]
    if result.measured["request_throughput"] <= 1.2:  # the server must keep up: a steady state to compare with
        misses.append(f"the server fell behind ({result.measured['request_throughput']:.2f} requests/s)")
    return misses
