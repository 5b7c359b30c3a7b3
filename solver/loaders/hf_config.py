"""A model described the way the ecosystem writes it: a Hugging Face `config.json` (a file, or a folder holding
one; read offline). Dense, mixture-of-experts (Mixtral, Qwen-MoE, DeepSeek, Kimi-K2, gpt-oss, Llama 4), latent
attention (MLA), sliding-window and chunked-attention models map onto ModelArch; `fields_used` says which keys the
model was built from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from solver.domain.errors import ConfigError
from solver.domain.model import ModelArch

DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float8_e4m3fn": "fp8"}
QUANT = {"fp8": "fp8", "mxfp4": "int4", "awq": "int4", "gptq": "int4", "compressed-tensors": "int8"}
# ModelArch field -> config.json keys, first present wins (model families name the same thing differently)
KEYS: dict[str, tuple[str, ...]] = {
    "num_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "d_model": ("hidden_size", "n_embd", "d_model"),
    "d_ff": ("intermediate_size_mlp", "intermediate_size", "ffn_dim", "moe_intermediate_size"),
    "vocab_size": ("vocab_size",),
    "num_heads": ("num_attention_heads", "n_head"),
    "num_kv_heads": ("num_key_value_heads", "num_kv_heads"),
    "head_dim": ("head_dim",),
    "tied_embeddings": ("tie_word_embeddings",),
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts"),
    "experts_per_token": ("num_experts_per_tok", "experts_per_token", "moe_top_k"),
    "moe_d_ff": ("moe_intermediate_size",),
    "shared_experts": ("n_shared_experts", "num_shared_experts"),
    "dense_layers": ("first_k_dense_replace",),
    "kv_lora_rank": ("kv_lora_rank",),
    "q_lora_rank": ("q_lora_rank",),
    "qk_rope_head_dim": ("qk_rope_head_dim",),
    "qk_nope_head_dim": ("qk_nope_head_dim",),
    "v_head_dim": ("v_head_dim",),
    "sliding_window": ("sliding_window", "attention_chunk_size"),
}
# Every k-th layer is a MoE layer, the others dense (Llama 4 Maverick: 2; Qwen-MoE's decoder_sparse_step)
MOE_STEP_KEYS = ("interleave_moe_layer_step", "decoder_sparse_step")


def config_file(path: Path) -> Path | None:
    """The config.json a --model value points to (a file, or a folder holding one without a config.csv)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        return path
    if path.is_dir() and (path / "config.json").is_file() and not (path / "config.csv").is_file():
        return path / "config.json"
    return None


def model_json(base: Path, value: str) -> Path:
    """A config.json named in a scenario (relative to its folder) or a bundled one (`configs/models/NAME.json`)."""
    from solver.loaders.resources import bundled_dir

    for candidate in (base / value, bundled_dir("configs") / "models" / f"{value}.json",
                      bundled_dir("configs") / "models" / value):
        found = config_file(candidate)
        if found:
            return found
    raise ConfigError(base / value, "no such config.json (nor a bundled model of that name).",
                      f"give a path to a config.json or one of {', '.join(bundled_models())}.", field="hf_config")


def bundled_models() -> list[str]:
    from solver.loaders.resources import bundled_dir

    return sorted(p.stem for p in (bundled_dir("configs") / "models").glob("*.json"))


def read_hf_config(path: Path) -> tuple[ModelArch, list[str], int | None]:
    """(model, the config keys it was built from, max_position_embeddings)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(path, f"cannot read this config.json ({exc}).",
                          "pass a Hugging Face config.json (or the folder holding it).") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "this JSON is not a model config object.", "pass a Hugging Face config.json.")
    data = {**data.get("text_config", {}), **data}  # multimodal configs keep the language model apart
    values: dict[str, Any] = {}
    used = []
    for field, keys in KEYS.items():
        key = next((k for k in keys if data.get(k) not in (None, "")), None)
        if key is not None:
            values[field] = data[key]
            used.append(key)
    values["precision"], precision_key = _precision(data)
    used += [precision_key] if precision_key else []
    if values.get("kv_lora_rank"):  # MLA: attention width per head is its no-rope plus rope part
        values["head_dim"] = values.get("qk_nope_head_dim", 0) + values.get("qk_rope_head_dim", 0)
        values["num_kv_heads"] = values["num_heads"] if "num_heads" in values else None
    used += _moe_layout(data, values)
    if values.get("sliding_window"):
        values["sliding_layers_share"], share_key = _sliding_share(data)
        used += [share_key] if share_key else []
    if "num_kv_heads" in values and values["num_kv_heads"] is None:
        values.pop("num_kv_heads")
    name = str(data.get("_name_or_path") or Path(path).parent.name or Path(path).stem)
    try:
        model = ModelArch(name=name.split("/")[-1], hf_name=name if "/" in name else None, **values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        keys = KEYS.get(field, (field,))
        raise ConfigError(path, f"{err['msg']} for '{keys[0] if keys else field}'.",
                          f"give config.json a valid '{keys[0] if keys else field}'.",
                          field=keys[0] if keys else None) from None
    return model, used, data.get("max_position_embeddings")


def _precision(data: dict[str, Any]) -> tuple[str, str | None]:
    quant = data.get("quantization_config") or {}
    method = str(quant.get("quant_method", "")).lower()
    if method in QUANT:
        return QUANT[method], "quantization_config"
    dtype = str(data.get("torch_dtype") or data.get("dtype") or "")
    return DTYPES.get(dtype, "bf16"), ("torch_dtype" if dtype in DTYPES else None)


def _moe_layout(data: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Which layers are MoE layers and how wide the experts are, where a family says it its own way; returns the
    keys read. Llama 4 calls its dense layers' MLP width `intermediate_size_mlp` and its experts' (and the shared
    expert every MoE layer has) `intermediate_size`; it and Qwen-MoE make every k-th layer a MoE layer."""
    if not values.get("num_experts"):
        return []
    used = []
    if "intermediate_size_mlp" in data and data.get("intermediate_size"):
        values["moe_d_ff"], values["shared_experts"] = data["intermediate_size"], 1
        used.append("intermediate_size")
    step_key = next((k for k in MOE_STEP_KEYS if isinstance(data.get(k), int) and data[k] > 1), None)
    layers = values.get("num_layers")
    if step_key and isinstance(layers, int):
        values["dense_layers"] = layers - layers // data[step_key]
        used.append(step_key)
    return used


def _sliding_share(data: dict[str, Any]) -> tuple[float, str | None]:
    """How many layers use the window: `layer_types` says per layer; Llama 4's chunked attention (a window of at
    most attention_chunk_size tokens) runs on the layers with rotary embeddings (`no_rope_layers` 1), the others
    attend globally; `use_sliding_window: false` none; else all."""
    types = data.get("layer_types")
    if isinstance(types, list) and types:
        return sum("sliding" in str(t) for t in types) / len(types), "layer_types"
    rope = data.get("no_rope_layers")
    if data.get("attention_chunk_size") and isinstance(rope, list) and rope:
        return sum(1 for flag in rope if flag) / len(rope), "no_rope_layers"
    if data.get("use_sliding_window") is False:
        return 0.0, "use_sliding_window"
    return 1.0, None
