"""What vLLM's engine does by default that predictions depend on: how many requests it runs at once, and what its
start-up memory profile sets aside before the KV cache gets the rest.

vLLM sizes its KV pool once at start-up: gpu_memory_utilization x the memory CUDA shows, minus the weights, the
peak of a profiling run and non-torch memory (NCCL buffers). The profiling run is a forward pass over
--max-num-batched-tokens dummy tokens and a sampler pass over --max-num-seqs dummy requests, whose fp32 logits and
the sampler's working copies (softmax, sorting for top-p/top-k, log-probabilities) make the peak on models with
large vocabularies: llm-d-benchmark's vLLM start-up logs of five models on an H100 (max-num-seqs 1024;
config_explorer/empirical-vllm-memory-results.md) show a peak of 9.6-9.9 times max-num-seqs x vocabulary x 4 bytes
(Llama-3.1-8B 4.76 GiB, Llama-3.3-70B TP2 4.84, Qwen3-0.6B 5.56, Qwen3-32B 5.64, gpt-oss-20b 7.38 GiB).
"""

from __future__ import annotations

from solver.domain.hardware import GpuSpec

SAMPLER_PROFILE_COPIES = 9.7  # the sampler's peak in fp32 logits of max-num-seqs requests (see the module doc)
LARGE_GPU_GIB = 70  # vLLM's threshold for its larger defaults


def default_max_num_seqs(spec: GpuSpec) -> int:
    """vLLM's --max-num-seqs when none is given (vllm/engine/arg_utils.py, get_batch_defaults, since v0.9): 1024 on
    GPUs showing at least 70 GiB other than the A100 (H100, H200, MI300X), 256 elsewhere."""
    shown_gib = spec.memory_gb * spec.visible_memory_share()
    return 1024 if shown_gib >= LARGE_GPU_GIB and not spec.gpu_type.startswith("A100") else 256


def sampler_profile_gb(max_num_seqs: int, vocab_size: int) -> float:
    """GB the sampler's profiling pass peaks at on the last pipeline stage (every TP rank holds the full logits)."""
    return SAMPLER_PROFILE_COPIES * max_num_seqs * vocab_size * 4 / 1e9
