"""The model being served: a decoder-only transformer's architecture and number formats."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Precision = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"]
BYTES_PER_PRECISION: dict[str, float] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
PRECISION_OF_BYTES = {4.0: "fp32", 2.0: "bf16", 1.0: "fp8", 0.5: "int4"}


class ModelArch(BaseModel):
    """Decoder-only transformer architecture (Llama family shapes)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "model"
    hf_name: str | None = None
    # Bounds well above any published model, checked before anything is sized by them.
    num_layers: int = Field(gt=0, le=1024)
    d_model: int = Field(gt=0, le=1_000_000)
    d_ff: int = Field(gt=0, le=10_000_000)
    vocab_size: int = Field(gt=0, le=100_000_000)
    num_heads: int = Field(gt=0, le=16_384)
    num_kv_heads: int | None = Field(default=None, gt=0, le=16_384, description="default: num_heads (no GQA)")
    head_dim: int | None = Field(default=None, gt=0, le=65_536, description="default: d_model / num_heads")
    precision: Precision = "bf16"
    kv_cache_precision: Precision = "bf16"
    gated_mlp: bool = True
    tied_embeddings: bool = False
    layer_weight_memory_gb: float | None = Field(default=None, gt=0, le=100_000, allow_inf_nan=False)
    # Mixture of experts (0 experts: dense). Memory holds every expert; a token computes with experts_per_token
    # routed experts plus the shared ones. The first dense_layers layers are dense (DeepSeek's first_k_dense_replace);
    # per-layer figures average over all layers, as the planner needs every layer alike.
    num_experts: int = Field(default=0, ge=0, le=4096)
    experts_per_token: int = Field(default=0, ge=0, le=4096)
    moe_d_ff: int | None = Field(default=None, gt=0, le=10_000_000, description="default: d_ff")
    shared_experts: int = Field(default=0, ge=0, le=64)
    dense_layers: int = Field(default=0, ge=0)
    # Multi-head latent attention (DeepSeek): the KV cache holds one latent of kv_lora_rank + qk_rope_head_dim values
    # per token and layer, the same on every GPU of a TP group.
    kv_lora_rank: int = Field(default=0, ge=0)
    q_lora_rank: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    qk_nope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)
    # Sliding-window attention: this share of the layers keeps (and reads) only the last sliding_window tokens.
    sliding_window: int = Field(default=0, ge=0)
    sliding_layers_share: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _defaults(self) -> ModelArch:
        if self.num_kv_heads is None:
            self.num_kv_heads = self.num_heads
        if self.head_dim is None:
            self.head_dim = self.d_model // self.num_heads
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_attention_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                             f"({self.num_kv_heads})")
        if self.num_experts and not 0 < self.experts_per_token <= self.num_experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) must be 1 to num_experts "
                             f"({self.num_experts})")
        if self.dense_layers > self.num_layers:
            raise ValueError(f"dense_layers ({self.dense_layers}) exceeds num_layers ({self.num_layers})")
        return self

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def uses_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def weight_bytes(self) -> float:
        return BYTES_PER_PRECISION[self.precision]

    @property
    def kv_bytes(self) -> float:
        return BYTES_PER_PRECISION[self.kv_cache_precision]
