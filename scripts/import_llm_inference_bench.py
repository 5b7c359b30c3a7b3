"""Turn the vLLM rows of LLM-Inference-Bench (argonne-lcf/LLM-Inference-Bench, Plots/All_results.csv) into a
runs CSV that `tokenop-solve calibrate` and scripts/bench_accuracy.py read.

Their `Throughput` is (input + output tokens) x batch / latency of one `benchmark_latency.py` call (a static
batch: --input-len = --output-len = "Input Output Length", --batch-size, float16, vLLM's defaults of the time:
gpu_memory_utilization 0.9, max_num_seqs 256), so generated tok/s = Throughput x output / (input + output).
Their A100 runs are on ALCF Polaris (4x A100-SXM4-40GB per node); the H100 runs on the JLSE H100 nodes (taken as
SXM, 80 GB). Checkpoint names map to the bundled architecture they share (Meta-Llama-3-8B = llama-3.1-8b's shape,
Qwen2-7B/72B = qwen2.5-7b/72b's, Mistral-7B-v0.1 = mistral-7b's up to its 32,000-token vocabulary and a 4,096-token
sliding window that no run here reaches).

    python scripts/import_llm_inference_bench.py results/calibration/llm_inference_bench/all_results_vllm_rows.csv \
        results/calibration/llm_inference_bench_vllm.csv
"""

from __future__ import annotations

import argparse

import pandas as pd

HARDWARE = {"Nvidia A100 GPU": ("A100-40GB", 4), "Nvidia H100 GPU": ("H100", 4)}
MODELS = {"meta-llama/Llama-2-7b-hf": "llama-2-7b", "meta-llama/Llama-2-70b-hf": "llama-2-70b",
          "meta-llama/Meta-Llama-3-8B": "llama-3.1-8b", "meta-llama/Meta-Llama-3-70B": "llama-3.1-70b",
          "mistralai/Mistral-7B-v0.1": "mistral-7b", "mistralai/Mixtral-8x7B-v0.1": "mixtral-8x7b",
          "Qwen/Qwen2-7B": "qwen2.5-7b", "Qwen/Qwen2-72B": "qwen2.5-72b"}


def convert(raw: pd.DataFrame) -> pd.DataFrame:
    rows = raw[(raw["Framework"] == "vLLM") & raw["Hardware"].isin(list(HARDWARE))]
    length = rows["Input Output Length"].astype(int)
    gpu = rows["Hardware"].map(lambda h: HARDWARE[h][0])
    return pd.DataFrame({
        "model": rows["Model"].map(MODELS), "hf_model": rows["Model"], "gpu_type": gpu,
        "num_gpus": rows["Num of Hardware"].astype(int), "instance_type": "1x node",
        "tp": rows["Num of Hardware"].astype(int), "pp": 1, "batch_size": rows["Batch Size"].astype(int),
        "input_tokens": length, "output_tokens": length,
        "measured_output_tokens_per_s": (rows["Throughput"] * length / (2 * length)).round(3),
        "latency_s": rows["Latency"].round(4), "gpu_memory_utilization": 0.9, "max_num_seqs": 256})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw")
    parser.add_argument("output")
    args = parser.parse_args()
    out = convert(pd.read_csv(args.raw))
    if out["model"].isna().any():
        raise SystemExit(f"unmapped checkpoints: {sorted(set(out.loc[out['model'].isna(), 'hf_model']))}")
    out.to_csv(args.output, index=False)
    print(f"{len(out)} runs -> {args.output}")


if __name__ == "__main__":
    main()
