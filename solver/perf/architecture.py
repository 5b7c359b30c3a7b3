"""Parameter, weight and KV-cache sizes of a decoder-only transformer, from its architecture alone."""

from __future__ import annotations

import math

from solver.domain.model import ModelArch

GB = 1e9


def params_per_layer(m: ModelArch) -> float:
    """Attention q/k/v/o (GQA shrinks k and v) plus the MLP (gate/up/down when gated, up/down otherwise)."""
    q_and_o = 2 * m.d_model * m.num_heads * m.head_dim
    k_and_v = 2 * m.d_model * m.num_kv_heads * m.head_dim
    mlp = (3 if m.gated_mlp else 2) * m.d_model * m.d_ff
    return q_and_o + k_and_v + mlp + 2 * m.d_model  # + the two RMSNorm weight vectors


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
    """K and V of one token in one layer: 2 x kv_heads x head_dim x bytes."""
    return 2 * m.num_kv_heads * m.head_dim * m.kv_bytes


def kv_heads_per_gpu(m: ModelArch, tp: int) -> int:
    """KV heads each GPU of a TP group holds; vLLM replicates KV heads when tp exceeds their number."""
    return math.ceil(m.num_kv_heads / tp)
