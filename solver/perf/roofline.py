"""Roofline performance model (seed 001): every kernel takes max(FLOPs / compute, bytes / bandwidth).

Prefill of B prompts of I tokens is compute-bound (2 x params x tokens plus the causal attention term); a decode
step reads the weights once plus the KV cache of the batch and is memory-bound until the batch is large. The
attention kernels (flash / paged attention) run after the GEMMs as a roofline of their own: their FLOPs at the GEMMs'
rate, their KV-cache reads at `attention_efficiency` of the GEMMs' bandwidth (sharing the GEMMs' factors predicted
16k-context H100 runs 30-45% too fast; slowing the prefill's attention FLOPs as well predicted long prompts too
slow). Tensor parallelism divides weights, FLOPs and KV heads by the TP degree and adds two all-reduces
per layer; expert parallelism (dp > 1, mixture-of-experts models) runs attention data-parallel and spreads the
routed experts over the stage's GPUs, exchanging tokens instead of all-reducing the MoE layers. The achieved
fractions of peak (efficiencies) and fixed overheads per layer, per engine step and per sequence in a step (the
engine's CPU work grows with the batch) come from the GPU catalog, where calibration overwrites them; a MoE layer
adds a fixed time of its own (MOE_LAYER_OVERHEAD_US: its routing kernels), and its routed experts' grouped GEMMs
compute below the dense rate, the more so the narrower each GPU's slice of an expert (MOE_GEMM_HALF_WIDTH).
"""

from __future__ import annotations

import math

import numpy as np

from solver.domain.hardware import GpuSpec
from solver.domain.model import ModelArch
from solver.domain.workload import Settings, Workload
from solver.perf import architecture as arch
from solver.perf import engine, register
from solver.perf.base import StageProfile

ALLREDUCE_LATENCY_S = 8e-6  # per ring hop: NCCL's small-message latency between PCIe GPUs
# One all-reduce between NVLink/xGMI-connected GPUs, whatever their number: vLLM's custom all-reduce (one-shot or
# two-shot through peer memory) barely slows with the TP degree (8.7 / 9.2 / 11.8 us at TP 2 / 4 / 8 for 32 KB on
# H100s; sglang-project/sglang PR #2904). 15 us, with the launch and synchronisation around the kernel, was chosen
# on the fit split of the published runs (10 / 15 / 20 / 25 us: 5.7 / 5.2 / 5.4 / 5.5% median error); the ring's
# 2(t-1) hops had predicted TP 2 7-14% too fast and TP 4 10-13% too slow on A100s and H100s.
CUSTOM_ALLREDUCE_LATENCY_S = 15e-6
# A MoE layer's fixed time beyond a dense layer's, per forward pass: vLLM's fused-MoE path adds the router GEMM,
# top-k softmax, block alignment of the routed tokens, a second grouped GEMM launch and the weighted sum, kernels
# that take microseconds each whatever the batch. Two independent batch-1 sources miss about that much: Qwen3-30B-A3B
# (48 MoE layers) on an A100-80GB, tenstorrent/tt-inference-server issue #340 (vLLM server, TPOT 9.6 ms where the
# roofline gave 7.1: 51 us per layer), and on our H200 with vLLM 0.26 (results/calibration/vllm_h200_runs.README.md:
# ~35 us). 40 us: A100 +6%, H200 +5%, the Argonne Mixtral-8x7B runs (A100-40GB, TP 4) within 2% median.
MOE_LAYER_OVERHEAD_US = 40.0
# The routed experts' grouped GEMMs (vLLM's fused-MoE kernels) run below the dense GEMMs' rate, the more so the
# narrower each GPU's slice of an expert: at w columns of its intermediate width per GPU they reach
# w / (w + 512) of it. Chosen on GPUStack's vLLM v0.11 runs of Qwen3-235B-A22B at TP 8 on A100s (w = 192: prefill
# predicted +62% to +87% too fast at the dense rate, 2% median with it; gpustack_vllm_v011.README.md in
# results/calibration) and consistent with the rest: Qwen3-30B-A3B on our H200 (w = 768) 7% -> 5% median,
# Mixtral-8x7B on the Argonne A100s (w = 3,584 at TP 4) 2% -> 3%, kernel benchmarks of fused MoE at Qwen3-30B-A3B's
# shape on an H100 at 22-53% of peak (ByteDance-Seed/VeOmni PR #460, linkedin/Liger-Kernel PR #1294; the dense
# GEMMs' fit: 66%).
MOE_GEMM_HALF_WIDTH = 512.0
GIB = 2**30 / 1e9  # GPUs sold as "80 GB" hold 80 GiB; every other figure here is in 10^9 bytes
RUNTIME_RESERVE_GB = 0.5  # vLLM's non-torch memory (0.13 GiB on one H100, 0.55 with TP 2: NCCL) and allocator slack
ACTIVATION_BYTES = 2


def allreduce_s(num_bytes: float, tp: int, spec: GpuSpec) -> float:
    """All-reduce over `tp` GPUs of a node: 2(t-1)/t of the data crosses each link, plus a latency that is one
    custom all-reduce on NVLink/xGMI and 2(t-1) ring hops on PCIe, where vLLM turns its custom all-reduce off for
    more than two GPUs (vllm/distributed/device_communicators/custom_all_reduce.py) and NCCL rings."""
    if tp <= 1:
        return 0.0
    bandwidth = spec.interconnect_gbps * 1e9 * spec.comm_efficiency
    fully_connected = spec.interconnect.startswith(("NVLink", "xGMI"))
    latency = CUSTOM_ALLREDUCE_LATENCY_S if fully_connected else 2 * (tp - 1) * ALLREDUCE_LATENCY_S
    return 2 * (tp - 1) / tp * num_bytes / bandwidth + latency


def layer_comm_s(m: ModelArch, rank_tokens: int, tp: int, dp: int, spec: GpuSpec) -> float:
    """Communication of one (average) layer when each data-parallel rank has `rank_tokens` tokens. TP all-reduces a
    rank's activations twice (after attention and after the MLP). With expert parallelism (dp > 1) a MoE layer
    instead sends every token to the GPUs of its experts and back: vLLM's default all-to-all backend
    (allgather_reducescatter) all-gathers every rank's tokens (padded to the busiest rank's) over the tp x dp GPUs
    and reduce-scatters the results, which moves as much as one all-reduce of all of them."""
    rank_bytes = rank_tokens * m.d_model * ACTIVATION_BYTES
    moe = arch.moe_layer_share(m) if dp > 1 else 0.0
    return allreduce_s(rank_bytes, tp, spec) * (2 - moe) + moe * allreduce_s(dp * rank_bytes, tp * dp, spec)


def roofline_parts(flops: float, num_bytes: float, spec: GpuSpec, precision: str, bandwidth_share: float = 1.0
                   ) -> np.ndarray:
    """[compute, memory] seconds of one kernel: only the larger of the two counts. `bandwidth_share` scales the
    GEMMs' achieved bandwidth down for kernels that stream memory less well (paged KV-cache reads)."""
    compute = flops / (spec.peak_tflops(precision) * 1e12 * spec.compute_efficiency)
    memory = num_bytes / (spec.hbm_bandwidth_gbps * 1e9 * spec.memory_efficiency * bandwidth_share)
    return np.array([compute, 0.0]) if compute >= memory else np.array([0.0, memory])


def grouped_gemm_share(m: ModelArch, tp: int, dp: int) -> float:
    """The share of the dense GEMMs' rate a MoE model's routed experts compute at (MOE_GEMM_HALF_WIDTH). TP
    slices every expert's intermediate width over the `tp` GPUs; expert parallelism (dp > 1) keeps experts whole."""
    width = (m.moe_d_ff or m.d_ff) / (tp if dp == 1 else 1)
    return width / (width + MOE_GEMM_HALF_WIDTH)


def attention_parts(flops: float, num_bytes: float, spec: GpuSpec) -> np.ndarray:
    """Attention runs as its own kernel (flash/paged attention, bf16 whatever the weight format) after the GEMMs.
    Its FLOPs (the prefill's causal attention) run as fast as the GEMMs: FlashAttention-2 reaches 50-73% of an
    A100's peak, "close to the efficiency of GEMM operations" (Dao 2023), and vLLM runs FlashAttention-3 on Hopper,
    75% of an H100's (Shah et al. 2024). Reading the KV cache (decode's paged attention: small blocks, a few heads
    per query) streams memory at `attention_efficiency` of the GEMMs' achieved bandwidth."""
    return roofline_parts(flops, num_bytes, spec, "bf16", spec.attention_efficiency)


@register("roofline")
class RooflineModel:
    name = "roofline"
    version = "10"  # bump whenever a prediction changes (4: memory in GiB, MoE, MLA, sliding windows; 5: measured
    # per-layer time in the catalog, memory as CUDA shows it; 6: a per-sequence cost in every engine step; 7: the
    # attention's FLOPs at the GEMMs' rate, only its KV-cache reads slower; 8: one all-reduce latency on NVLink
    # whatever the TP degree, expert parallelism; 9: a fixed time per MoE layer; 10: experts' grouped GEMMs slower
    # the narrower their slice per GPU)

    def stage_profile(self, model: ModelArch, workload: Workload, spec: GpuSpec, memory_gb: float, tp: int,
                      batch: int, settings: Settings, dp: int = 1) -> StageProfile:
        m, w, b, t = model, workload, batch, tp
        inp, out = w.input_tokens, w.output_tokens
        rank_b = math.ceil(b / dp)  # requests the busiest data-parallel rank runs (all of them when dp = 1)
        layer_gb = arch.layer_weight_gb(m) * 1e9  # bytes of one layer, all GPUs together
        routed = arch.routed_active_params_per_layer(m)
        # per token (MoE: the experts it is routed to, counted at the rate their grouped GEMMs run)
        layer_flops = 2 * (arch.active_params_per_layer(m) - routed + routed / grouped_gemm_share(m, t, dp)) / t
        kv_token_gpu = arch.kv_bytes_per_token_layer_gpu(m, t)  # per token per layer per GPU
        attn_width = m.num_heads * m.head_dim / t
        overhead = (spec.layer_overhead_us + arch.moe_layer_share(m) * MOE_LAYER_OVERHEAD_US) * 1e-6

        # Prefill: B prompts of I tokens, each rank's in chunks of prefill_chunk_tokens.
        chunks = math.ceil(rank_b * inp / w.prefill_chunk_tokens)
        chunk_tokens = min(rank_b * inp, w.prefill_chunk_tokens)
        prefill = (roofline_parts(rank_b * inp * layer_flops, chunks * layer_gb * arch.gpu_weight_share(
                       m, t, dp, dp * chunk_tokens), spec, m.precision)
                   + attention_parts(rank_b * 2 * inp * arch.cached_tokens(m, inp) * attn_width,
                                     rank_b * arch.cached_tokens(m, inp) * kv_token_gpu, spec))
        prefill_comm = layer_comm_s(m, rank_b * inp, t, dp, spec) + chunks * overhead

        # Decode: one step for B sequences at the mean context length of the generation.
        ctx = arch.cached_tokens(m, inp + (out - 1) / 2)
        decode = (roofline_parts(rank_b * layer_flops, layer_gb * arch.gpu_weight_share(m, t, dp, b), spec,
                                 m.precision)
                  + attention_parts(rank_b * 4 * ctx * attn_width, rank_b * ctx * kv_token_gpu, spec))
        decode_comm = layer_comm_s(m, rank_b, t, dp, spec)

        layer_parts = np.array([*(prefill + out * decode), prefill_comm - chunks * overhead + out * decode_comm,
                                chunks * overhead + out * overhead])

        # LM head on the last stage: logits for the last prompt token, then one row per decode step.
        head_bytes = arch.lm_head_params(m) * m.weight_bytes / t
        head = roofline_parts(rank_b * 2 * arch.lm_head_params(m) / t, head_bytes, spec, m.precision)
        head_parts = np.array([*(head * (1 + out)), 0.0, 0.0])

        # vLLM's start-up profile: a forward pass over one prefill chunk on every stage, then (last stage) the
        # sampler over --max-num-seqs requests; the KV pool gets what their peak leaves (solver/perf/engine.py).
        forward_gb = w.prefill_chunk_tokens * (4 * m.d_model + 3 * m.d_ff / t) * ACTIVATION_BYTES / 1e9
        sampler_gb = engine.sampler_profile_gb(settings.max_num_seqs or rank_b, m.vocab_size)
        return StageProfile(
            batch=b, output_tokens=out,
            prefill_layer_s=float(prefill.sum() + prefill_comm),
            decode_layer_s=float(decode.sum() + decode_comm + overhead),
            prefill_head_s=float(head.sum()), decode_head_s=float(head.sum()),
            step_s=spec.step_overhead_ms * 1e-3 + rank_b * spec.seq_overhead_us * 1e-6,
            layer_parts=layer_parts, head_parts=head_parts,
            weight_gb_per_layer=layer_gb * arch.gpu_weight_share(m, t, dp) / 1e9,
            kv_gb_per_layer=rank_b * arch.cached_tokens(m, inp + out) * kv_token_gpu / 1e9,
            embed_gb=arch.embedding_params(m) * m.weight_bytes / t / 1e9,
            # LM head weights (vLLM loads them even when tied) + the sampler's peak beyond the forward pass's
            head_gb=head_bytes / 1e9 + max(0.0, sampler_gb - forward_gb),
            fixed_gb=forward_gb + RUNTIME_RESERVE_GB,
            usable_gb=memory_gb * spec.visible_memory_share() * GIB * settings.gpu_memory_utilization,
            ranks=dp,
        )
