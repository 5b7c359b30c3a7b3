"""Step times of one replica serving a stream of requests, for the queueing model and the simulator.

vLLM runs an engine step over every running request: one token each for those decoding, plus up to
--max-num-batched-tokens of prompt tokens (chunked prefill). So a replica is described by how long a step takes
with n requests decoding (`decode_s`) and what each prompt token adds (`prefill_s_per_token`), with the KV cache
capping how many requests run at once. A P-stage pipeline keeps P micro-batches in flight: a request gets a token
once per cycle of max(latency through the stages, micro-batches in flight x the slowest stage's step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.perf.estimate import link_batch_time_s, max_concurrency


@dataclass(frozen=True)
class ServiceTimes:
    """One replica at one request shape. `sizes` are running-request counts where `decode_s` was evaluated
    (interpolated between); `prefill_s_per_token` counts against the step (the slowest stage's share) and
    `prefill_latency_s_per_token` is what one prompt waits end to end; `max_seqs` is the KV-limited concurrency."""

    sizes: np.ndarray
    decode_s: np.ndarray
    prefill_s_per_token: float
    prefill_latency_s_per_token: float
    max_seqs: int

    def decode_step_s(self, running: float) -> float:
        """Seconds between two tokens of a request while `running` requests decode."""
        return float(np.interp(max(running, 1.0), self.sizes, self.decode_s))

    def step_s(self, decoding: int, prefill_tokens: int) -> float:
        """One engine step: a token for each decoding request plus a chunk of prompt tokens."""
        decode = self.decode_step_s(decoding) if decoding else 0.0
        return decode + prefill_tokens * self.prefill_s_per_token

    @classmethod
    def linear(cls, decode_1_s: float, decode_n_s: float, n: int, prefill_s_per_token: float, max_seqs: int
               ) -> ServiceTimes:
        """Step times measured on a server: decode step at 1 and at n running, prefill time per prompt token."""
        return cls(np.array([1.0, float(max(n, 2))]), np.array([decode_1_s, decode_n_s]), prefill_s_per_token,
                   prefill_s_per_token, max_seqs)


def service_times(deployment: Deployment, perf: PerformanceModel, max_seqs: int) -> ServiceTimes:
    """The step times of `deployment` at its workload's request shape, for up to `max_seqs` running requests
    (capped by what the KV cache holds; max_seqs 0 in the result: not even one request fits)."""
    pp = len(deployment.stages)
    layers = [s.layers for s in deployment.stages]
    last = pp - 1
    full = deployment.profiles(perf, max_seqs)
    fit = max_concurrency(layers, full, max_seqs) if max_seqs else 0
    latency_s = deployment.settings.link_latency_us * 1e-6
    sizes = sorted({1, *[2**k for k in range(1, int(math.log2(max(fit, 1))) + 1)], max(fit, 1)})
    decode = []
    for n in sizes:
        micro = math.ceil(n / pp)
        profiles = deployment.profiles(perf, micro)
        links = [link_batch_time_s(deployment.workload, deployment.model, micro, bw, latency_s)[2]
                 for bw in deployment.link_bandwidth_gbps]
        steps = [p.decode_step_s(k, i == last) for i, (k, p) in enumerate(zip(layers, profiles))] + links
        decode.append(max(sum(steps), min(n, pp) * max(steps)))
    single = deployment.profiles(perf, 1)
    prompt = deployment.workload.input_tokens
    prefill = [p.prefill_s(k, i == last) for i, (k, p) in enumerate(zip(layers, single))]
    links = [link_batch_time_s(deployment.workload, deployment.model, 1, bw, latency_s)[1]
             for bw in deployment.link_bandwidth_gbps]
    return ServiceTimes(np.array(sizes, dtype=float), np.array(decode), max(prefill + links) / prompt,
                        (sum(prefill) + sum(links)) / prompt, fit)
