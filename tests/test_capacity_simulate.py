"""The request-level simulator against queueing theory, and the queueing model against the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from solver.capacity.rates import Stream, load_points, max_rate
from solver.capacity.simulate import ReplicaGroup, simulate
from solver.domain.capacity import Slo
from solver.perf.service import ServiceTimes


def one_replica(service: ServiceTimes, max_num_seqs: int = 256, kv_tokens: int = 10**9, count: int = 1
                ) -> list[ReplicaGroup]:
    return [ReplicaGroup(count, [service], max_num_seqs, kv_tokens, [1.0])]


NO_SLO = Slo()


def run(groups, shape, rate, requests=20000, seed=1, chunk=8192, slo=NO_SLO):
    return simulate(groups, [1.0], [np.array([shape])], rate, slo, requests, seed, chunk)


def test_prompts_alone_queue_as_m_d_1():
    """Output 1 token and a step budget of one prompt: each request is one deterministic service of S = I p
    seconds, first come first served, so the mean TTFT is S + lam S^2 / (2 (1 - rho)) (Pollaczek-Khinchine)."""
    prompt, per_token = 1000, 2e-4
    service = ServiceTimes.linear(0.01, 0.01, 2, per_token, 256)
    s = prompt * per_token  # 0.2 s
    for rho in (0.3, 0.7):
        rate = rho / s
        sim = run(one_replica(service), (prompt, 1), rate, chunk=prompt)
        expected = s + rate * s**2 / (2 * (1 - rho))
        assert sim.all_requests.mean_ttft_ms / 1e3 == pytest.approx(expected, rel=0.05), rho


def test_an_isolated_request_decodes_at_the_single_request_step():
    service = ServiceTimes.linear(0.02, 0.05, 64, 1e-5, 64)
    sim = run(one_replica(service), (100, 50), rate=0.05, requests=400)
    assert sim.all_requests.tpot_ms[50] == pytest.approx(20.0, rel=0.02)
    assert sim.all_requests.ttft_ms[50] == pytest.approx(100 * 1e-5 * 1e3, rel=0.05)


def test_max_num_seqs_caps_throughput_and_overload_misses_the_slo():
    """One request at a time taking ~1 s: offered 2 requests/s, about 1 is served and TTFT grows."""
    service = ServiceTimes.linear(0.01, 0.01, 2, 1e-6, 1)
    sim = run(one_replica(service, max_num_seqs=1), (10, 100), rate=2.0, requests=1000,
              slo=Slo(ttft_ms=5000))
    assert sim.achieved_rps == pytest.approx(1.0, rel=0.05)
    assert not sim.slo_met


def test_kv_slots_are_taken_as_tokens_arrive_and_an_overflow_preempts():
    """vLLM allocates KV blocks as tokens arrive: with room for 11,000 tokens, requests of 100 + 1,000 tokens run
    about 11,000 / (100 + 500) = 18 at once in steady state, not the 10 that reserving every output up front would
    allow; when the cache overflows the latest-started are preempted and recomputed, and every request still ends.
    Steps take 10 ms whatever the batch, so a request takes 10 s and the rate served is concurrency / 10 s."""
    service = ServiceTimes.linear(0.01, 0.01, 64, 1e-6, 256)
    sim = run(one_replica(service, kv_tokens=11_000), (100, 1000), rate=3.0, requests=3000)
    assert 1.4 < sim.achieved_rps < 11_000 / 600 / 10 * 1.05
    assert sim.all_requests.tpot_ms[50] >= 10.0 and sim.all_requests.requests > 0


def test_requests_spread_over_copies():
    """Two copies take twice the load of one at the same latency."""
    service = ServiceTimes.linear(0.02, 0.04, 64, 1e-5, 64)
    one = run(one_replica(service), (200, 64), rate=2.0, requests=4000)
    two = run(one_replica(service, count=2), (200, 64), rate=4.0, requests=8000)
    assert two.achieved_rps == pytest.approx(2 * one.achieved_rps, rel=0.05)
    assert two.all_requests.tpot_ms[50] == pytest.approx(one.all_requests.tpot_ms[50], rel=0.1)


def test_the_same_seed_gives_the_same_answer():
    service = ServiceTimes.linear(0.02, 0.04, 64, 1e-5, 64)
    a, b = (run(one_replica(service), (300, 80), rate=3.0, requests=2000, seed=5) for _ in range(2))
    assert a == b


@pytest.mark.parametrize("load", [0.5, 0.9])
def test_the_queueing_model_agrees_with_the_simulator_on_one_request_shape(load):
    """At the rate the model calls SLO-limited (and below it), its p99 TTFT and TPOT are within 30% of the
    simulation's: the model is what the fleet MILP plans with, the simulator what the plan is checked by."""
    service = ServiceTimes.linear(0.015, 0.045, 128, 4e-5, 128)
    slo = Slo(ttft_ms=800, tpot_ms=60, percentile=99)
    shape = (2000, 200)
    rate = load * max_rate(service, *shape, slo)
    assert rate > 0
    model = load_points([Stream(service, *shape, rate)], 99)[0]
    sim = run(one_replica(service), shape, rate, requests=12000, slo=slo)
    assert sim.all_requests.ttft_ms[99] == pytest.approx(model.ttft_s * 1e3, rel=0.3)
    assert sim.all_requests.tpot_ms[99] == pytest.approx(model.tpot_s * 1e3, rel=0.3)
    assert sim.achieved_rps == pytest.approx(rate, rel=0.05)
