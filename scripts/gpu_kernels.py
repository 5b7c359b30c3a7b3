"""Measure the kernels the roofline model prices, on the GPU at hand: HBM copy bandwidth, bf16 (and fp8) GEMMs of
real models' layer shapes at 1 to 8,192 tokens, causal flash-attention prefill at 128 to 32K tokens, and
decode attention over a KV cache at batch 1-256 and 512-16K tokens of context.

Why: the model takes each kernel as max(FLOPs / compute, bytes / bandwidth). Between the two regimes (decode at
batch 16-256, a GEMM of 16-256 tokens) real GEMMs run slower than that maximum, which is what makes large-batch
predictions too fast (issue 13, item 2). These measurements fix the shape of that transition and the attention
kernels' fraction of peak without vLLM's scheduler in the way (vLLM itself cannot travel to the lent machine:
its CUDA wheel is far over the transfer limit and the machine has no network).

Run on a CUDA machine: `python3 scripts/gpu_kernels.py --output results/calibration/gpu_kernels/h100.json`.
`--quick` runs tiny sizes on the CPU to check the script itself.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from gpu_timing import median_seconds, script_options
from torch.nn.attention import SDPBackend, sdpa_kernel

# (model, TP, projection) -> (K, N) of the weight; per GPU at that TP degree. Llama 3.1 8B: d 4096, 32 q / 8 kv
# heads of 128, d_ff 14336, vocab 128256. Llama 3.1 70B: d 8192, 64 q / 8 kv heads, d_ff 28672.
SHAPES = {
    ("llama-3.1-8b", 1): {"qkv": (4096, 6144), "o": (4096, 4096), "gate_up": (4096, 28672),
                          "down": (14336, 4096), "lm_head": (4096, 128256)},
    ("llama-3.1-8b", 2): {"qkv": (4096, 3072), "o": (2048, 4096), "gate_up": (4096, 14336),
                          "down": (7168, 4096)},
    ("llama-3.1-70b", 4): {"qkv": (8192, 2560), "o": (2048, 8192), "gate_up": (8192, 14336),
                           "down": (7168, 8192)},
}
TOKENS = [1, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
PREFILL_LENGTHS = [128, 512, 2048, 8192, 32768]
DECODE = [(b, ctx) for b in (1, 16, 64, 256) for ctx in (512, 2048, 8192, 16384) if b * ctx <= 2 ** 21]
ROTATE_BYTES = 400e6  # rotate through enough weight copies that none is served from L2 (50 MB on an H100)


def timer(device: str) -> Callable[[Callable[[], object], int], float]:
    """Median seconds of a callable over `reps` calls on `device`."""
    return lambda fn, reps: median_seconds(fn, reps, device)


def copy_bandwidth(measure, device: str, size: int) -> dict:
    """Device-to-device copy, bytes read plus bytes written: the achievable HBM bandwidth."""
    src = torch.randn(size // 2, device=device, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    seconds = measure(lambda: dst.copy_(src), 20)
    return {"bytes": 2 * size, "seconds": seconds, "gb_per_s": 2 * size / seconds / 1e9}


def gemms(measure, device: str, tokens: list[int], shapes: dict, fp8: bool) -> list[dict]:
    """Activations [M, K] x weights [K, N] for every shape and token count M; weights rotate past the L2 cache."""
    rows = []
    for (model, tp), projections in shapes.items():
        for name, (k, n) in projections.items():
            copies = max(1, int(ROTATE_BYTES // (k * n * 2)) + 1) if device == "cuda" else 1
            weights = [torch.randn(k, n, device=device, dtype=torch.bfloat16) / k ** 0.5 for _ in range(copies)]
            weights_fp8 = ([w.t().contiguous().t().to(torch.float8_e4m3fn) for w in weights] if fp8 else [])
            one = torch.ones((), device=device)
            for m in tokens:
                x = torch.randn(m, k, device=device, dtype=torch.bfloat16)
                turn = iter(range(10 ** 9))
                seconds = measure(lambda x=x, w=weights, t=turn, c=copies: x @ w[next(t) % c], 30)
                row = {"model": model, "tp": tp, "projection": name, "m": m, "k": k, "n": n, "dtype": "bf16",
                       "seconds": seconds, "flops": 2 * m * k * n, "weight_bytes": k * n * 2}
                rows.append(row)
                if fp8 and m >= 16:  # torch._scaled_mm needs M a multiple of 16
                    x8 = x.to(torch.float8_e4m3fn)
                    seconds = measure(lambda x=x8, w=weights_fp8, t=turn, c=copies, s=one: torch._scaled_mm(
                        x, w[next(t) % c], s, s, out_dtype=torch.bfloat16), 30)
                    rows.append({**row, "dtype": "fp8", "seconds": seconds, "weight_bytes": k * n})
    return rows


def attention(measure, device: str, q, k, v, causal: bool, reps: int) -> tuple[float, str]:
    """Seconds of one attention call and the kernel that ran it: flash attention with grouped-query heads as vLLM
    runs it; where torch's flash kernel refuses GQA, the memory-efficient kernel on K/V expanded to every head
    (reads more bytes: the row says so). Never the math kernel, whose score matrix would not fit at 32K."""
    backends = [(SDPBackend.FLASH_ATTENTION, "flash")] if device == "cuda" else [(SDPBackend.MATH, "math")]
    backends.append((SDPBackend.EFFICIENT_ATTENTION, "efficient-expanded"))
    for backend, name in backends:
        try:
            with sdpa_kernel(backend):
                if name == "efficient-expanded":
                    groups = q.shape[1] // k.shape[1]
                    k_all, v_all = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
                    return measure(lambda ka=k_all, va=v_all: F.scaled_dot_product_attention(
                        q, ka, va, is_causal=causal), reps), name
                return measure(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True),
                               reps), name
        except RuntimeError as error:
            print(f"{name} attention refused: {str(error).splitlines()[0]}")
    return float("nan"), "none"


def prefill_attention(measure, device: str, lengths: list[int]) -> list[dict]:
    """Causal attention over one prompt of L tokens, 32 query and 8 KV heads of 128 (Llama 3.1 8B)."""
    rows = []
    for length in lengths:
        q = torch.randn(1, 32, length, 128, device=device, dtype=torch.bfloat16)
        k = torch.randn(1, 8, length, 128, device=device, dtype=torch.bfloat16)
        seconds, kernel = attention(measure, device, q, k, torch.randn_like(k), True, 10)
        flops = 4 * 32 * 128 * length * (length + 1) / 2  # QK^T and PV over the causal half
        rows.append({"tokens": length, "seconds": seconds, "flops": flops, "tflops": flops / seconds / 1e12,
                     "kernel": kernel})
    return rows


def decode_attention(measure, device: str, cases: list[tuple[int, int]]) -> list[dict]:
    """One query token per sequence against a contiguous KV cache of `ctx` tokens, 8 KV heads of 128."""
    rows = []
    for batch, ctx in cases:
        q = torch.randn(batch, 32, 1, 128, device=device, dtype=torch.bfloat16)
        k = torch.randn(batch, 8, ctx, 128, device=device, dtype=torch.bfloat16)
        seconds, kernel = attention(measure, device, q, k, torch.randn_like(k), False, 20)
        kv_bytes = 2 * k.numel() * 2
        rows.append({"batch": batch, "context": ctx, "seconds": seconds, "kv_bytes": kv_bytes,
                     "gb_per_s": kv_bytes / seconds / 1e9, "kernel": kernel})
    return rows


def environment(device: str) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": device}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        env.update(gpu=props.name, multiprocessors=props.multi_processor_count, total_memory_bytes=total,
                   free_memory_bytes=free, cuda=torch.version.cuda)
    return env


def main() -> None:
    args, device, quick = script_options(__doc__, "tiny sizes (checks the script on a CPU)")
    measure = timer(device)
    tokens = TOKENS[:4] if quick else TOKENS
    shapes = ({("tiny", 1): {"qkv": (256, 384)}} if quick else SHAPES)
    fp8 = device == "cuda" and torch.cuda.get_device_capability() >= (8, 9)
    started = time.time()
    result = {"environment": environment(device), "command": "python3 scripts/gpu_kernels.py",
              "copy": copy_bandwidth(measure, device, 2 ** 20 if quick else 2 ** 31)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sections = {"gemm": lambda: gemms(measure, device, tokens, shapes, fp8),
                "prefill_attention": lambda: prefill_attention(measure, device, [64, 128] if quick
                                                               else PREFILL_LENGTHS),
                "decode_attention": lambda: decode_attention(measure, device, [(2, 64)] if quick else DECODE)}
    for name, run in sections.items():  # each saved as it finishes: a failure later keeps what was measured
        try:
            result[name] = run()
        except Exception as error:  # noqa: BLE001 - one section failing on an unknown machine must not lose the rest
            result[name] = []
            result[f"{name}_error"] = repr(error)
            print(f"{name} failed: {error!r}")
        result["seconds"] = time.time() - started
        args.output.write_text(json.dumps(result, indent=1))
    print(f"copy {result['copy']['gb_per_s']:.0f} GB/s")
    for row in result["gemm"]:
        if row["projection"] in ("gate_up", "qkv"):
            print(f"{row['model']} tp{row['tp']} {row['projection']:8} {row['dtype']} M={row['m']:5} "
                  f"{row['seconds'] * 1e6:9.1f} us {row['flops'] / row['seconds'] / 1e12:7.1f} TFLOP/s "
                  f"{row['weight_bytes'] / row['seconds'] / 1e9:7.0f} GB/s")
    for row in result["prefill_attention"]:
        print(f"prefill attention {row['tokens']:6} tokens {row['seconds'] * 1e3:8.3f} ms {row['tflops']:6.1f} TFLOP/s")
    for row in result["decode_attention"]:
        print(f"decode attention b={row['batch']:3} ctx={row['context']:6} {row['seconds'] * 1e6:8.1f} us "
              f"{row['gb_per_s']:6.0f} GB/s")
    print(f"done in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
