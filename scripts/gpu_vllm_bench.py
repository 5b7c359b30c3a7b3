"""Measure vLLM itself on the GPU at hand: offline batches of B requests of P prompt tokens and G generated tokens
through `vllm.LLM` with random (dummy) weights, one row per batch in the published-runs CSV format that
`tokenop-solve calibrate` and `scripts/bench_accuracy.py` read.

Why: the planner's factors were fitted to other people's vLLM runs, which disagree with each other (issue 13);
runs of our own, with the command and version written beside each row, settle what vLLM does on a card.

How a batch runs: all B requests are submitted at once (random token ids, distinct per request, so the prefix
cache never hits), each generates exactly G tokens (ignore_eos), and tokens/s is B x G over the wall time from
submission to the last token, as the published sweeps measure it. The engine is configured as `vllm serve` is by
default on the card (`--max-num-batched-tokens` 8192, vLLM's default `--max-num-seqs` and
`--gpu-memory-utilization` 0.9) so the rows stand for served deployments. No tokenizer is needed (token ids in,
token ids out): the lent machines have no network to fetch one.

    python3 scripts/gpu_vllm_bench.py --config configs/models/llama-3.1-8b.json \
        --grid 128x128:1,16,256 --grid 2048x256:1,8 --output runs.csv [--quantization fp8] [--deadline UNIX_TIME]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["model", "hf_model", "gpu_type", "device_name", "num_gpus", "tp", "pp", "batch_size", "input_tokens",
           "output_tokens", "measured_output_tokens_per_s", "latency_s", "gpu_memory_utilization", "max_num_seqs",
           "max_num_batched_tokens", "precision", "vllm_version", "torch_version", "command"]
MAX_NUM_BATCHED_TOKENS = 8192  # `vllm serve`'s default on cards with >= 70 GiB (the offline LLM class uses 16384)
FP8 = {"quant_method": "fp8", "activation_scheme": "dynamic"}  # as FP8-Dynamic checkpoints declare it


def parse_grid(spec: str) -> tuple[int, int, list[int]]:
    """'PROMPTxGENERATED:B1,B2,...' -> (prompt tokens, generated tokens, batch sizes)."""
    lengths, _, batches = spec.partition(":")
    prompt, _, generated = lengths.partition("x")
    return int(prompt), int(generated), [int(b) for b in batches.split(",")]


def model_folder(config: Path, quantization: str | None) -> tuple[Path, str]:
    """A folder vLLM loads with --load-format dummy: the config.json, declaring fp8 weights when asked."""
    spec = json.loads(config.read_text())
    if quantization == "fp8":
        spec["quantization_config"] = FP8
    folder = Path(tempfile.mkdtemp(prefix="tokenop-bench-"))
    (folder / "config.json").write_text(json.dumps(spec, indent=1))
    return folder, spec.get("_name_or_path", config.stem)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="a Hugging Face config.json")
    parser.add_argument("--grid", action="append", required=True, help="PROMPTxGENERATED:B1,B2,... (repeatable)")
    parser.add_argument("--output", type=Path, required=True, help="CSV the rows are appended to")
    parser.add_argument("--quantization", choices=["fp8"], help="declare fp8 weights (vLLM's Fp8 linear kernels)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--deadline", type=float, default=float("inf"),
                        help="unix time after which no further batch starts (rows so far are kept)")
    parser.add_argument("--warm-each", action="store_true",
                        help="run every batch once unrecorded first: kernels JIT-compiled per shape (Triton's fused "
                             "MoE picks a configuration per token count) then stay out of the rows")
    parser.add_argument("--max-model-len", type=int, help="vLLM's --max-model-len [default: the model's]")
    args = parser.parse_args()

    import numpy as np
    import torch
    import vllm
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    folder, hf_name = model_folder(args.config, args.quantization)
    engine = dict(model=str(folder), load_format="dummy", skip_tokenizer_init=True, seed=0,
                  max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, gpu_memory_utilization=args.gpu_memory_utilization)
    if args.max_model_len:
        engine["max_model_len"] = args.max_model_len
    llm = LLM(**engine)
    config = llm.llm_engine.vllm_config
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    vocab = json.loads(args.config.read_text())["vocab_size"]
    name = args.config.parent.name if args.config.stem == "config" else args.config.stem
    rng = np.random.default_rng(0)
    shown = {**engine, "model": f"<a folder holding {args.config.name} as config.json>"}
    command = f"vllm.LLM({', '.join(f'{k}={v!r}' for k, v in shown.items())}); " + shlex.join(sys.argv)

    def run(prompt: int, generated: int, batch: int) -> float:
        prompts = [TokensPrompt(prompt_token_ids=rng.integers(100, vocab - 100, prompt).tolist())
                   for _ in range(batch)]
        params = SamplingParams(max_tokens=generated, ignore_eos=True, detokenize=False)
        start = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - start
        made = sum(len(o.outputs[0].token_ids) for o in outputs)
        if made != batch * generated:
            raise RuntimeError(f"generated {made} tokens, expected {batch * generated}")
        return seconds

    run(64, 16, 4)  # warm-up: first-call allocations and lazy kernels stay out of the rows
    new_file = not args.output.exists()
    with args.output.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        if new_file:
            writer.writeheader()
        for prompt, generated, batches in map(parse_grid, args.grid):
            for batch in batches:
                if time.time() > args.deadline:
                    print(f"deadline reached: skipping {prompt}x{generated} batch {batch}", flush=True)
                    continue
                if args.warm_each:
                    run(prompt, generated, batch)
                seconds = run(prompt, generated, batch)
                row = {"model": name, "hf_model": hf_name, "gpu_type": device.removeprefix("NVIDIA "),
                       "device_name": device, "num_gpus": 1, "tp": 1, "pp": 1, "batch_size": batch,
                       "input_tokens": prompt, "output_tokens": generated,
                       "measured_output_tokens_per_s": round(batch * generated / seconds, 3),
                       "latency_s": round(seconds, 4), "gpu_memory_utilization": args.gpu_memory_utilization,
                       "max_num_seqs": config.scheduler_config.max_num_seqs,
                       "max_num_batched_tokens": config.scheduler_config.max_num_batched_tokens,
                       "precision": args.quantization or "bf16", "vllm_version": vllm.__version__,
                       "torch_version": torch.__version__, "command": command}
                writer.writerow(row)
                handle.flush()
                print(f"{name} {prompt}x{generated} batch {batch}: {seconds:.2f} s, "
                      f"{row['measured_output_tokens_per_s']} tok/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
