"""Parameter, weight and KV-cache sizes of a decoder-only transformer, from its architecture alone: dense or
mixture-of-experts MLPs, grouped-query or latent (MLA) attention, full or sliding-window KV caches."""

from __future__ import annotations

import math

from solver.domain.model import ModelArch

GB = 1e9


def attention_params(m: ModelArch) -> float:
    """q/k/v/o projections: grouped-query attention shrinks k and v; MLA projects q and kv through low-rank latents
    (q_lora_rank, kv_lora_rank) and splits heads into rope and no-rope parts."""
    if m.uses_mla:
        qk_dim = m.qk_nope_head_dim + m.qk_rope_head_dim
        q = (m.d_model * m.q_lora_rank + m.q_lora_rank * m.num_heads * qk_dim if m.q_lora_rank
             else m.d_model * m.num_heads * qk_dim)
        kv = m.d_model * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * m.num_heads * (
            m.qk_nope_head_dim + m.v_head_dim)
        return q + kv + m.num_heads * m.v_head_dim * m.d_model
    return 2 * m.d_model * m.num_heads * m.head_dim + 2 * m.d_model * m.num_kv_heads * m.head_dim  # type: ignore


def _mlp(m: ModelArch, d_ff: int) -> float:
    return (3 if m.gated_mlp else 2) * m.d_model * d_ff


def moe_layer_share(m: ModelArch) -> float:
    """The share of layers that are MoE layers (the rest are dense)."""
    return (m.num_layers - m.dense_layers) / m.num_layers if m.is_moe else 0.0


def mlp_params(m: ModelArch, active: bool) -> float:
    """Average MLP parameters per layer: every expert (memory) or the experts one token uses (compute)."""
    if not m.is_moe:
        return _mlp(m, m.d_ff)
    experts = (m.experts_per_token if active else m.num_experts) + m.shared_experts
    moe = experts * _mlp(m, m.moe_d_ff or m.d_ff) + m.d_model * m.num_experts  # + the router
    share = moe_layer_share(m)
    return share * moe + (1 - share) * _mlp(m, m.d_ff)


def params_per_layer(m: ModelArch) -> float:
    """Parameters of one (average) decoder layer, all experts included: what memory holds."""
    return attention_params(m) + mlp_params(m, active=False) + 2 * m.d_model  # + the two RMSNorm weight vectors


def active_params_per_layer(m: ModelArch) -> float:
    """Parameters one token computes with in one (average) layer: what the FLOPs count."""
    return attention_params(m) + mlp_params(m, active=True) + 2 * m.d_model


def routed_active_params_per_layer(m: ModelArch) -> float:
    """The part of `active_params_per_layer` one token computes in routed experts (0 for a dense model)."""
    if not m.is_moe:
        return 0.0
    return moe_layer_share(m) * m.experts_per_token * _mlp(m, m.moe_d_ff or m.d_ff)


def routed_expert_share(m: ModelArch) -> float:
    """Share of an (average) layer's weights that are routed experts: what expert parallelism spreads over GPUs
    and what a forward pass reads only in part. The attention, router, shared experts and dense layers are the rest."""
    if not m.is_moe:
        return 0.0
    return moe_layer_share(m) * m.num_experts * _mlp(m, m.moe_d_ff or m.d_ff) / params_per_layer(m)


def experts_hit_share(m: ModelArch, tokens: float) -> float:
    """Share of the routed experts a forward pass over `tokens` tokens uses: 1 - (1 - k/E)^tokens in expectation
    (uniform routing); vLLM's fused MoE kernels load only those."""
    if not m.is_moe:
        return 1.0
    return 1 - (1 - m.experts_per_token / m.num_experts) ** max(tokens, 1)


def gpu_weight_share(m: ModelArch, tp: int, dp: int = 1, tokens: float | None = None) -> float:
    """Share of a layer's weights one GPU of a stage holds (`tokens` None) or reads in one forward pass over
    `tokens` tokens of the whole stage. TP shards every weight over `tp` GPUs; expert parallelism (dp > 1) keeps
    the non-expert weights of each data-parallel rank TP-sharded and gives every GPU ceil(E / (tp x dp)) whole
    routed experts, of which it reads the share the stage's tokens hit. A dense model's ranks are plain copies."""
    routed = routed_expert_share(m)
    hit = 1.0 if tokens is None else experts_hit_share(m, tokens)
    if dp == 1 or not m.is_moe:
        return (1 - routed + routed * hit) / tp
    return (1 - routed) / tp + routed * hit * math.ceil(m.num_experts / (tp * dp)) / m.num_experts


def embedding_params(m: ModelArch) -> float:
    return m.vocab_size * m.d_model


def lm_head_params(m: ModelArch) -> float:
    """The output projection; with tied embeddings it shares the embedding weights (no extra memory)."""
    return m.vocab_size * m.d_model


def total_params(m: ModelArch) -> float:
    head = 0 if m.tied_embeddings else lm_head_params(m)
    return m.num_layers * params_per_layer(m) + embedding_params(m) + head


def layer_weight_gb(m: ModelArch) -> float:
    """Weights of one decoder layer in GB; `layer_weight_memory_gb` in config.csv overrides the formula."""
    if m.layer_weight_memory_gb is not None:
        return m.layer_weight_memory_gb
    return params_per_layer(m) * m.weight_bytes / GB


def weights_gb(m: ModelArch) -> float:
    head = 0 if m.tied_embeddings else lm_head_params(m)
    return m.num_layers * layer_weight_gb(m) + (embedding_params(m) + head) * m.weight_bytes / GB


def kv_bytes_per_token_layer(m: ModelArch) -> float:
    """The KV cache of one token in one layer: K and V of every KV head, or MLA's one latent."""
    if m.uses_mla:
        return (m.kv_lora_rank + m.qk_rope_head_dim) * m.kv_bytes
    return 2 * m.num_kv_heads * m.head_dim * m.kv_bytes  # type: ignore[operator]


def kv_bytes_per_token_layer_gpu(m: ModelArch, tp: int) -> float:
    """What one GPU of a TP group holds of it: its share of the KV heads (replicated when tp exceeds their number);
    MLA's latent is held whole by every GPU."""
    if m.uses_mla:
        return kv_bytes_per_token_layer(m)
    return 2 * kv_heads_per_gpu(m, tp) * m.head_dim * m.kv_bytes  # type: ignore[operator]


def kv_heads_per_gpu(m: ModelArch, tp: int) -> int:
    """KV heads each GPU of a TP group holds; vLLM replicates KV heads when tp exceeds their number."""
    return math.ceil(m.num_kv_heads / tp)  # type: ignore[operator]


def cached_tokens(m: ModelArch, tokens: float) -> float:
    """Tokens an (average) layer keeps in its KV cache for a sequence of `tokens`: sliding-window layers keep only
    the last sliding_window."""
    if not m.sliding_window:
        return tokens
    share = m.sliding_layers_share
    return (1 - share) * tokens + share * min(tokens, m.sliding_window)
