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
    require_vllm()
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = write_tiny_llama(tmp_path / "model", SMALL_ARCH)
    result = cross_check(str(model), SMALL_ARCH["num_hidden_layers"], 256, 64, 8, 1.5, 100, tmp_path / "run",
                         sys.executable, free_port(), ["--load-format", "dummy"], lambda _: None)
    difference = result.relative_difference()
    assert result.measured["request_throughput"] > 1.2  # the server kept up: a steady state to compare with
    assert abs(difference["request_throughput"]) < 0.15, result.to_json()
    assert abs(difference["mean_tpot_ms"]) < 0.35, result.to_json()
    assert abs(difference["mean_ttft_ms"]) < 0.5, result.to_json()
    assert "--max-num-seqs 8" in result.server_command
