"""How many requests per second one replica serves while its latencies stay within the SLOs at a percentile.

A replica receiving Poisson streams lam_b of request shapes b (prompt I_b, output O_b tokens):
- prompt tokens take u = sum_b lam_b I_b p_b of its time (p = step seconds per prompt token), so decoding advances
  at 1 - u of its speed: TPOT = decode_step(n) / (1 - u) with n requests running;
- a request of shape b stays T_b = I_b p_lat + O_b TPOT, so n is Poisson with mean sum_b lam_b T_b (M/G/inf:
  Little's law and Poisson arrivals); at percentile q the replica runs n_q, its q-quantile, which must fit
  --max-num-seqs and the KV cache (otherwise requests queue for a slot and TTFT grows without bound there);
- a prompt waits for the prompts ahead of it: an M/G/1 queue with utilisation u and service S = I p, whose wait is
  positive with probability u and then about exponential with mean E[S^2] / (2 E[S] (1 - u)) (Pollaczek-Khinchine
  divided by u); so wait_q = that mean x ln(u / (1 - q)) when u > 1 - q. Long prompts mixed with short ones raise
  E[S^2] / E[S]: the short requests' TTFT suffers, as in vLLM's first-come-first-served prefill;
- TTFT_q = I p_lat + 2 decode_step(n_q) + wait_q: the step under way when it arrives, then its own step;
- TPOT_q = decode_step(n_q) + (prompts arriving during its stay, at their q-quantile) x their prefill / O_b.
The largest lam of one shape meeting both SLOs is found by bisection (every term grows with lam); the fleet MILP
treats a replica's buckets as shares of its time (Mélange's assumption), and the simulator (capacity/simulate.py)
checks the mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import poisson

from solver.domain.capacity import Slo
from solver.perf.service import ServiceTimes

MAX_PREFILL_SHARE = 0.95  # beyond this the prefill queue's tail is too steep for the approximation


@dataclass(frozen=True)
class LoadPoint:
    """Predicted latencies (seconds, at the SLO percentile) of one request shape on a loaded replica."""

    ttft_s: float
    tpot_s: float
    fits: bool


@dataclass(frozen=True)
class Stream:
    """Requests of one shape arriving at a replica: its step times for that shape and the rate; the TTFT
    percentile is planned for prompts of `longest_prompt` tokens (default: input_tokens)."""

    service: ServiceTimes
    input_tokens: int
    output_tokens: int
    rate: float
    longest_prompt: int = 0


def load_points(streams: list[Stream], percentile: int) -> list[LoadPoint]:
    """Latencies of each stream on one replica receiving all of them, at `percentile`."""
    q = percentile / 100
    work = [s.rate * s.input_tokens * s.service.prefill_s_per_token for s in streams]
    u = sum(work)
    cap = min(s.service.max_seqs for s in streams)
    if u >= MAX_PREFILL_SHARE or cap < 1:
        return [LoadPoint(math.inf, math.inf, False) for _ in streams]
    total = sum(s.rate for s in streams)

    def step(running: float) -> float:  # decode step, the running requests split by stream as their rates
        return sum(s.rate * s.service.decode_step_s(running) for s in streams) / total

    running = 1.0
    for _ in range(50):  # fixed point of n = sum_b lam_b (I_b p_lat + O_b decode_step(n) / (1 - u))
        stay = sum(s.rate * (s.input_tokens * s.service.prefill_latency_s_per_token
                             + s.output_tokens * step(running) / (1 - u)) for s in streams)
        updated = max(stay, 1.0)
        if abs(updated - running) < 1e-6 * running:
            break
        running = updated
    at_q = max(float(poisson.ppf(q, running)), 1.0)
    decode = step(at_q)
    tpot = step(running) / (1 - u)
    wait = 0.0
    if u > 1 - q:
        # E[S^2] / E[S] = sum lam S^2 / sum lam S, and sum lam S = u
        second = sum(s.rate * (s.input_tokens * s.service.prefill_s_per_token) ** 2 for s in streams)
        wait = second / u / (2 * (1 - u)) * math.log(u / (1 - q))
    prompt_s = u / total  # prefill seconds of an average arriving prompt
    points = []
    for s in streams:
        # TPOT at q: the decode steps at n_q plus the prompts that arrive while the request decodes, at their
        # q-quantile (Poisson over its stay of O x mean TPOT), spread over its O tokens
        life = s.output_tokens * tpot
        arrivals = float(poisson.ppf(q, total * life))
        tpot_q = decode + arrivals * prompt_s / s.output_tokens
        # TTFT at q: the step under way, then its own step (a decode step plus its prompt), after the prompts
        # queued ahead of it
        prompt = max(s.longest_prompt, s.input_tokens)
        ttft_q = prompt * s.service.prefill_latency_s_per_token + 2 * decode + wait
        points.append(LoadPoint(ttft_q, max(tpot_q, tpot), at_q <= cap))
    return points


def meets(point: LoadPoint, slo: Slo) -> bool:
    return point.fits and point.ttft_s * 1e3 <= slo.ttft_ms and point.tpot_s * 1e3 <= slo.tpot_ms


def max_rate(st: ServiceTimes, input_tokens: int, output_tokens: int, slo: Slo, longest_prompt: int = 0) -> float:
    """Requests/s of one shape that one replica serves within `slo` (0: not even a trickle meets it)."""
    def ok(rate: float) -> bool:
        stream = Stream(st, input_tokens, output_tokens, rate, longest_prompt)
        return meets(load_points([stream], slo.percentile)[0], slo)

    tiny = 1e-9
    if st.max_seqs < 1 or not ok(tiny):
        return 0.0
    lo, hi = tiny, MAX_PREFILL_SHARE / (input_tokens * st.prefill_s_per_token)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        if hi - lo < 1e-4 * hi:
            break
    return lo
