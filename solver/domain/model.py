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

    @model_validator(mode="after")
    def _defaults(self) -> ModelArch:
        if self.num_kv_heads is None:
            self.num_kv_heads = self.num_heads
        if self.head_dim is None:
            self.head_dim = self.d_model // self.num_heads
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_attention_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                             f"({self.num_kv_heads})")
        return self

    @property
    def weight_bytes(self) -> float:
        return BYTES_PER_PRECISION[self.precision]

    @property
    def kv_bytes(self) -> float:
        return BYTES_PER_PRECISION[self.kv_cache_precision]
