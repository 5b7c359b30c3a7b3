"""Median timing of a callable on the device at hand, shared by the lent-GPU measurement scripts
(gpu_kernels.py, gpu_model_step.py): CUDA events around each call on a GPU (device work is asynchronous), a host
clock on the CPU; warm-up calls first so compilation and handle creation stay out of the numbers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], reps: int, device: str, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
        else:
            began = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - began)
    return statistics.median(samples)
