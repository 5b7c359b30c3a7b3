"""A request-level discrete-event simulation of a fleet, to check what the queueing model promised.

Requests arrive as a Poisson stream; each draws a bucket by its share (and, when the request mix came from a
trace, one of that bucket's recorded rows); the router sends it to a replica type with the fleet's routing
fractions and, within the type, to the copy with the fewest requests. Every copy runs vLLM's continuous batching:
an engine step admits waiting requests while --max-num-seqs and the KV cache allow (a request takes KV slots for its
prompt, then one per token it generates, as vLLM allocates blocks), gives one token to every decoding request and
prefills up to --max-num-batched-tokens of prompt tokens first come, first served; when the cache overflows, the
latest-started requests are preempted and recomputed later, as vLLM does; the step takes the performance model's
time for that mix (perf/service.py). A request's first token comes at the end of the step that finishes its prompt
(plus the pipeline's latency beyond the slowest stage). Percentiles are over requests arriving after a warm-up tenth.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from solver.domain.capacity import PERCENTILES, Latencies, SimulationCheck, Slo
from solver.perf.service import ServiceTimes

WARM_UP = 0.1  # share of the horizon whose arrivals are left out of the statistics


@dataclass(frozen=True)
class ReplicaGroup:
    """`count` copies of one replica type: step times per bucket (None: not routed), --max-num-seqs, KV tokens,
    and the fraction of each bucket's requests sent to the group."""

    count: int
    service: list[ServiceTimes | None]
    max_num_seqs: int
    kv_tokens: int
    share: list[float]


@dataclass
class _Request:
    arrival: float
    bucket: int
    prompt: int
    output: int
    prefill_left: int
    first_token: float = math.nan
    done: float = math.nan
    generated: int = 0  # tokens produced before the current decode run
    decode_from: int = 0  # the engine step the current decode run started after
    run: int = 0  # bumped by a preemption: heap entries of an earlier run are stale
    preemptions: int = 0


@dataclass
class _Copy:
    group: ReplicaGroup
    waiting: deque = field(default_factory=deque)
    prefilling: list = field(default_factory=list)
    finishing: list = field(default_factory=list)  # heap of (step number, order, run, request) of decoding requests
    running: dict = field(default_factory=dict)  # decoding requests by id, in the order they started
    decoding: list[int] = field(default_factory=list)  # per bucket
    kv_used: int = 0
    steps: int = 0
    busy: bool = False
    chunks: list[tuple[_Request, int]] = field(default_factory=list)  # prompt tokens of the step under way

    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.prefilling) + len(self.running)

    def step(self, now: float, chunk: int) -> float:
        """Start an engine step at `now`; returns its duration (0: nothing to do). Waiting requests are admitted
        while --max-num-seqs allows and the KV cache has room for their prompt (vLLM allocates blocks as tokens
        arrive, not for the whole output up front)."""
        g = self.group
        while (self.waiting and len(self.prefilling) + len(self.running) < g.max_num_seqs
               and self.kv_used + self.waiting[0].prefill_left <= g.kv_tokens):
            request = self.waiting.popleft()
            self.kv_used += request.prefill_left
            self.prefilling.append(request)
        running = len(self.running)
        seconds = 0.0
        if running:
            seconds = sum(n * g.service[b].decode_step_s(running) for b, n in enumerate(self.decoding) if n) / running
        budget = max(chunk - running, 0)
        self.chunks = []
        for request in self.prefilling:
            if budget <= 0:
                break
            take = min(request.prefill_left, budget)
            budget -= take
            seconds += take * g.service[request.bucket].prefill_s_per_token
            self.chunks.append((request, take))
        return seconds

    def finish_step(self, end: float, order: int) -> list[_Request]:
        """End the step started by `step`: a token (and its KV slot) for every decoding request, prompts advanced,
        and, where the KV cache overflowed, the latest-started requests preempted (vLLM frees their blocks and
        recomputes them later); returns the requests that completed."""
        self.steps += 1
        self.kv_used += len(self.running)
        completed = []
        while self.finishing and self.finishing[0][0] <= self.steps:
            _, _, run, request = heapq.heappop(self.finishing)
            if run == request.run:
                completed.append(self._release(request, end))
        for request, take in self.chunks:
            request.prefill_left -= take
            if request.prefill_left == 0:
                st = self.group.service[request.bucket]
                token_at = end + request.prompt * (st.prefill_latency_s_per_token - st.prefill_s_per_token)
                if math.isnan(request.first_token):
                    request.first_token = token_at
                self.prefilling.remove(request)
                request.generated += 1
                self.kv_used += 1
                if request.generated >= request.output:
                    completed.append(self._release(request, token_at))
                else:
                    request.decode_from = self.steps
                    heapq.heappush(self.finishing, (self.steps + request.output - request.generated, order,
                                                    request.run, request))
                    self.running[id(request)] = request
                    self.decoding[request.bucket] += 1
                order += 1
        while self.kv_used > self.group.kv_tokens and len(self.running) > 1:
            self._preempt(self.running[next(reversed(self.running))])
        return completed

    def _held(self, request: _Request) -> int:
        """KV tokens a decoding request holds now."""
        return request.prompt + request.generated + self.steps - request.decode_from

    def _preempt(self, request: _Request) -> None:
        self.kv_used -= self._held(request)
        request.generated += self.steps - request.decode_from
        request.prefill_left = request.prompt + request.generated
        request.run += 1
        request.preemptions += 1
        del self.running[id(request)]
        self.decoding[request.bucket] -= 1
        self.waiting.appendleft(request)

    def _release(self, request: _Request, when: float) -> _Request:
        request.done = when
        if id(request) in self.running:
            self.kv_used -= self._held(request)
            del self.running[id(request)]
            self.decoding[request.bucket] -= 1
        else:  # done at its prefill: the prompt and its one token
            self.kv_used -= request.prompt + request.generated
        return request


def simulate(groups: list[ReplicaGroup], shares: list[float], rows: list[np.ndarray], rate_rps: float, slo: Slo,
             requests: int = 3000, seed: int = 0, chunk: int = 8192, weights: list[np.ndarray] | None = None
             ) -> SimulationCheck:
    """Simulate `requests` Poisson arrivals at `rate_rps` over the fleet `groups`; `rows[b]` holds bucket b's
    (prompt, output) rows to draw from with probabilities `weights[b]` (default equal; one row: every request of
    the bucket has that shape)."""
    rng = np.random.default_rng(seed)
    horizon = requests / rate_rps
    arrivals = np.cumsum(rng.exponential(1 / rate_rps, requests))
    buckets = rng.choice(len(shares), size=requests, p=np.asarray(shares) / sum(shares))
    copies = [[_Copy(g, decoding=[0] * len(shares)) for _ in range(g.count)] for g in groups]
    route = np.array([g.share for g in groups], dtype=float)  # groups x buckets
    pending: list[tuple[float, int, int, int]] = []  # (step end, tie, group, copy)
    made: list[_Request] = []
    tie = 0
    i = 0
    while i < requests or pending:
        if i < requests and (not pending or arrivals[i] <= pending[0][0]):
            now, b = float(arrivals[i]), int(buckets[i])
            pick = rng.choice(len(rows[b]), p=weights[b]) if weights else rng.integers(len(rows[b]))
            prompt, output = rows[b][pick]
            request = _Request(now, b, int(prompt), int(output), int(prompt))
            made.append(request)
            g = int(rng.choice(len(groups), p=route[:, b] / route[:, b].sum()))
            target = min(range(len(copies[g])), key=lambda c: copies[g][c].load)
            copy = copies[g][target]
            copy.waiting.append(request)
            i += 1
            if copy.busy:
                continue
            g_c = (g, target)
        else:
            now, _, g, c = heapq.heappop(pending)
            copy = copies[g][c]
            copy.finish_step(now, tie)
            tie += len(copy.chunks)
            copy.busy = False
            g_c = (g, c)
        seconds = copy.step(now, chunk)
        if seconds > 0:
            copy.busy = True
            heapq.heappush(pending, (now + seconds, tie, *g_c))
            tie += 1
    return _summarise(made, groups, len(shares), rate_rps, horizon, slo, seed)


def _summarise(made: list[_Request], groups: list[ReplicaGroup], buckets: int, rate: float, horizon: float,
               slo: Slo, seed: int) -> SimulationCheck:
    measured = [r for r in made if r.arrival >= WARM_UP * horizon]
    window = (WARM_UP * horizon, horizon)
    finished = sum(1 for r in made if window[0] <= r.done <= window[1])

    def latencies(subset: list[_Request]) -> Latencies:
        ttft = np.array([(r.first_token - r.arrival) * 1e3 for r in subset])
        tpot = np.array([(r.done - r.first_token) * 1e3 / (r.output - 1) for r in subset if r.output > 1])
        pick = (lambda values, q: float(np.percentile(values, q)) if len(values) else math.nan)
        mean = (lambda values: float(np.mean(values)) if len(values) else math.nan)
        return Latencies(ttft_ms={q: pick(ttft, q) for q in PERCENTILES},
                         tpot_ms={q: pick(tpot, q) for q in PERCENTILES}, mean_ttft_ms=mean(ttft),
                         mean_tpot_ms=mean(tpot), requests=len(subset))

    overall = latencies(measured)
    q = slo.percentile
    achieved = finished / (window[1] - window[0])
    met = (overall.ttft_ms[q] <= slo.ttft_ms and (math.isnan(overall.tpot_ms[q]) or overall.tpot_ms[q] <= slo.tpot_ms)
           and achieved >= 0.95 * rate)
    return SimulationCheck(offered_rps=rate, achieved_rps=achieved, simulated_s=horizon, all_requests=overall,
                           by_bucket=[latencies([r for r in measured if r.bucket == b]) for b in range(buckets)],
                           slo_met=met, seed=seed)
