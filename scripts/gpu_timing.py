"""What the lent-GPU measurement scripts (gpu_kernels.py, gpu_model_step.py) share: their command line and the
device they run on, and the median timing of a callable: CUDA events around each call on a GPU (device work is
asynchronous), a host clock on the CPU; warm-up calls first so compilation and handle creation stay out of the
numbers."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def script_options(doc: str, quick_help: str) -> tuple[argparse.Namespace, str, bool]:
    """The parsed --output / --quick options, the device ("cuda" when there is a GPU) and whether to run the quick
    sizes (asked for, or no GPU: the CPU only checks that the script runs)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return args, device, args.quick or device == "cpu"


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
