"""A tiny random-weight Llama (2 layers, hidden 256, 4 heads, 2 KV heads, head_dim 64) with a BPE tokenizer trained
on the spot, plus a scenario folder describing it: what the vLLM end-to-end test serves on CPU with
--load-format dummy (no weights are ever downloaded), and the vLLM-or-skip check the vLLM tests share."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import pytest

# A small random-weight Llama (~150M parameters) for timing comparisons: big enough that engine steps, not vLLM's
# HTTP front end, set the latencies on CPU, small enough to serve on two cores.
SMALL_ARCH = {"hidden_size": 1024, "intermediate_size": 2816, "num_attention_heads": 16, "num_key_value_heads": 4,
              "head_dim": 64, "num_hidden_layers": 8}
ARCH = {"hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 64, "num_hidden_layers": 2}


def write_tiny_llama(directory: Path, arch: dict | None = None) -> Path:
    """The model folder; `arch` overrides ARCH's dimensions (a larger model makes engine steps, not the HTTP
    front end, dominate the timings)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    words = ("the quick brown fox jumps over the lazy dog " * 50 + " ".join(f"w{i}" for i in range(2000))).split()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([" ".join(words[i:i + 20]) for i in range(0, len(words), 20)], trainer)
    tokenizer.save(str(directory / "tokenizer.json"))
    files = {
        "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
                                  "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": 4096},
        "config.json": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **ARCH, **(arch or {}),
                        "vocab_size": tokenizer.get_vocab_size(), "max_position_embeddings": 4096,
                        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "torch_dtype": "bfloat16", "bos_token_id": 1,
                        "eos_token_id": 2, "tie_word_embeddings": False},
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2},
    }
    for name, content in files.items():
        (directory / name).write_text(json.dumps(content, indent=2))
    return directory


def write_tiny_scenario(directory: Path, model_dir: Path, batch: int = 4, input_tokens: int = 64,
                        output_tokens: int = 16) -> Path:
    """config.csv + gpu_pool.csv for the tiny model on one L4 (the plan is TP 1 x PP 1)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {"model_name": "tiny-llama", "hf_model_name": str(model_dir), "num_decoder_layers": 2, "d_model": 256,
              "d_hidden": 512, "vocab_size": 1000, "num_attention_heads": 4, "num_kv_heads": 2, "precision": "bf16",
              "input_tokens": input_tokens, "output_tokens": output_tokens, "min_batch_size": batch,
              "max_batch_size": batch, "max_pipeline_stages": 1}
    (directory / "config.csv").write_text("parameter,value\n" + "".join(f"{k},{v}\n" for k, v in config.items()))
    (directory / "gpu_pool.csv").write_text("gpu_type,count,memory_gb,dollar_per_hour\nL4,1,24,0.8\n")
    return directory


def free_port() -> int:
    """A TCP port nothing listens on now, for a vLLM server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_vllm() -> None:
    """Skip a test where vLLM is not installed, except where CI demands it (TOKENOP_REQUIRE_VLLM): there it fails."""
    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("TOKENOP_REQUIRE_VLLM"):
            pytest.fail("TOKENOP_REQUIRE_VLLM is set but vLLM is not installed: run `make install-vllm`")
        pytest.skip("vLLM is not installed (make install-vllm)")
