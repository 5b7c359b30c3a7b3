"""Models as the ecosystem describes them: Hugging Face config.json files (dense, MoE, MLA, sliding window) read
into the same ModelArch, with published parameter counts; MoE compute and weight reads; batch prediction with
vLLM's start/KV-limit semantics; and the planner placing an MoE model exactly (against the brute-force oracle)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from solver.cli import main
from solver.domain.model import ModelArch
from solver.loaders.hf_config import read_hf_config
from solver.loaders.resources import bundled_dir
from solver.perf import architecture as arch
from solver.search.solve import solve
from solver.verify.checker import check_placement
from tests.conftest import make_scenario
from tests.oracle import best_ratio

MODELS = bundled_dir("configs") / "models"


@pytest.mark.parametrize("name, total, active", [
    ("llama-3.1-8b", 8.0, 8.0), ("llama-3.1-70b", 70.6, 70.6), ("llama-3.1-405b", 405.9, 405.9),
    ("qwen2.5-7b", 7.6, 7.6), ("qwen3-235b-a22b", 235.1, 22.2), ("mixtral-8x7b", 46.7, 12.9),
    ("deepseek-v3", 671.0, 37.6), ("gpt-oss-120b", 116.8, 5.7), ("llama-2-7b", 6.74, 6.74),
    ("llama-2-70b", 68.98, 68.98), ("mistral-7b", 7.25, 7.25), ("qwen2.5-72b", 72.7, 72.7), ("qwen3-8b", 8.19, 8.19),
    ("qwen3-32b", 32.8, 32.8), ("qwen3-30b-a3b", 30.5, 3.35), ("llama-3.2-1b", 1.24, 1.5),
    # tied embeddings: the LM head is read every step, so it counts towards the active parameters
    ("qwen2.5-0.5b", 0.49, 0.63), ("qwen2.5-1.5b", 1.54, 1.78), ("qwen2.5-3b", 3.09, 3.40),
    ("deepseek-r1", 671.0, 37.6), ("kimi-k2", 1026.4, 32.9), ("gpt-oss-20b", 20.9, 4.2), ("mixtral-8x22b", 140.6, 39.2),
    # Llama 4: 17B active; 400B (Maverick) total, 109B (Scout) with its ~1B vision encoder, not counted here
    ("llama-4-scout", 107.8, 17.2), ("llama-4-maverick", 400.7, 17.2),
    # GLM-4.5-Air: 106B total, 12B active without the 1.2B of embeddings and LM head (its MTP layer is not served)
    ("glm-4.5-air", 106.9, 13.4),
])
def test_bundled_configs_give_the_published_parameter_counts(name, total, active):
    """Totals and active parameters (embeddings included) as the model cards publish them."""
    model, used, _ = read_hf_config(MODELS / f"{name}.json")
    assert "hidden_size" in used and "num_hidden_layers" in used
    assert arch.total_params(model) / 1e9 == pytest.approx(total, abs=0.15)
    active_params = model.num_layers * arch.active_params_per_layer(model) + arch.embedding_params(model) + \
        arch.lm_head_params(model)
    assert active_params / 1e9 == pytest.approx(active, abs=0.15)


def test_latent_and_sliding_window_kv_caches():
    deepseek, _, _ = read_hf_config(MODELS / "deepseek-v3.json")
    assert deepseek.uses_mla and arch.kv_bytes_per_token_layer(deepseek) == (512 + 64) * 2
    assert arch.kv_bytes_per_token_layer_gpu(deepseek, 8) == arch.kv_bytes_per_token_layer(deepseek)  # replicated
    gpt, _, _ = read_hf_config(MODELS / "gpt-oss-120b.json")
    assert gpt.sliding_layers_share == 0.5 and gpt.precision == "int4"
    assert arch.cached_tokens(gpt, 100) == 100 and arch.cached_tokens(gpt, 8192) == pytest.approx((8192 + 128) / 2)
    qwen, _, _ = read_hf_config(MODELS / "qwen2.5-7b.json")
    assert qwen.sliding_layers_share == 0.0  # use_sliding_window: false


def test_llama4_interleaves_moe_layers_with_a_shared_expert_and_chunked_attention():
    """Maverick: every second layer MoE (128 experts of 8192 plus a shared one), the others dense MLPs of 16384;
    three layers in four attend within chunks of 8192 tokens, every fourth globally. Scout: MoE everywhere."""
    maverick, used, _ = read_hf_config(MODELS / "llama-4-maverick.json")
    assert {"interleave_moe_layer_step", "intermediate_size_mlp", "no_rope_layers"} <= set(used)
    assert (maverick.dense_layers, maverick.shared_experts, maverick.moe_d_ff, maverick.d_ff) == (24, 1, 8192, 16384)
    assert (maverick.sliding_window, maverick.sliding_layers_share) == (8192, 0.75)
    assert arch.cached_tokens(maverick, 100_000) == pytest.approx(100_000 / 4 + 0.75 * 8192)
    scout, _, _ = read_hf_config(MODELS / "llama-4-scout.json")
    assert (scout.dense_layers, scout.num_experts, scout.experts_per_token) == (0, 16, 1)


def test_moe_reads_the_experts_its_tokens_hit():
    mixtral, _, _ = read_hf_config(MODELS / "mixtral-8x7b.json")
    shares = [arch.gpu_weight_share(mixtral, 1, tokens=tokens) for tokens in (1, 2, 8, 64)]
    assert shares[0] < shares[1] < shares[2] <= shares[3] <= 1.0 and shares[3] == pytest.approx(1.0, abs=1e-6)
    llama, _, _ = read_hf_config(MODELS / "llama-3.1-8b.json")
    assert arch.gpu_weight_share(llama, 1, tokens=1) == 1.0


def test_a_config_json_file_or_folder_is_a_model(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text((MODELS / "mixtral-8x7b.json").read_text())
    for ref in (str(folder), str(folder / "config.json"), "mixtral-8x7b"):
        result = CliRunner().invoke(main, ["predict", "--model", ref, "--gpu", "H100", "--tp", "2",
                                           "--batch-size", "1,16", "--json"])
        assert result.exit_code == 0, result.output
        assert [row["fits"] for row in json.loads(result.stdout)] == [True, True]
    (folder / "config.json").write_text('{"hidden_size": 4096}')
    result = CliRunner().invoke(main, ["predict", "--model", str(folder), "--gpu", "H100"])
    assert result.exit_code == 2 and "num_hidden_layers" in result.stderr


def test_fits_means_vllm_starts_and_the_kv_cache_limits_concurrency():
    result = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-70b", "--gpu", "L4", "--batch-size", "1",
                                       "--json"])
    assert json.loads(result.stdout)[0]["fits"] is False  # 141 GB of weights on one 24 GB card
    result = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-8b", "--gpu", "L4", "--batch-size", "1,256",
                                       "--input-tokens", "8192", "--output-tokens", "512", "--json"])
    one, many = json.loads(result.stdout)
    assert one["fits"] and not one["kv_limited"] and one["effective_batch"] == 1
    assert many["fits"] and many["kv_limited"] and 1 <= many["effective_batch"] < 256


def test_a_server_runs_at_most_max_num_seqs_and_its_start_up_profile_costs_kv_cache():
    """vLLM's default --max-num-seqs (256 on an A100, 1024 on an H100) caps the requests it runs at once: the rest
    queue, which is not a KV limit. Its sampler profile for 1024 requests leaves Qwen3-32B on one H100 too little
    KV cache for a 33K-token request, and vLLM refuses to start (llm-d-benchmark's logs); launched for the one
    request asked it runs, so a run that happened is not predicted "does not fit"."""
    result = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-8b", "--gpu", "A100", "--batch-size",
                                       "500", "--input-tokens", "128", "--output-tokens", "128", "--json"])
    [row] = json.loads(result.stdout)
    assert row["max_num_seqs"] == 256 and row["effective_batch"] == 256 and not row["kv_limited"]
    long = ["predict", "--model", "qwen3-32b", "--gpu", "H100", "--batch-size", "1", "--input-tokens", "32768",
            "--output-tokens", "256", "--json"]
    [default] = json.loads(CliRunner().invoke(main, long).stdout)
    [launched] = json.loads(CliRunner().invoke(main, [*long, "--max-num-seqs", "1024"]).stdout)
    assert default["fits"] and default["max_num_seqs"] == 1 and default["tokens_per_second"] > 0
    assert not launched["fits"] and launched["max_num_seqs"] == 1024
    printed = CliRunner().invoke(main, long[:-1]).stdout
    assert "default --max-num-seqs 1024 this would not start" in " ".join(printed.split())


def test_predict_gives_the_kv_cache_and_maximum_concurrency_vllm_logs():
    """Llama-3.1-8B on an H100 at vLLM's defaults logs "Available KV cache memory: 51.38 GiB" (llm-d-benchmark), so
    at 16,000 tokens per request (128 KiB each) "Maximum concurrency" is 26.3x; a batch above it runs 26 at once."""
    result = CliRunner().invoke(main, ["predict", "--model", "llama-3.1-8b", "--gpu", "H100", "--batch-size", "1,64",
                                       "--input-tokens", "15000", "--output-tokens", "1000", "--json"])
    one, many = json.loads(result.stdout)
    assert one["kv_cache_gib_per_gpu"] == pytest.approx(51.38, rel=0.02)
    assert one["max_concurrency"] == many["max_concurrency"] == many["effective_batch"] == 26
    assert many["kv_limited"] and not one["kv_limited"]


def test_points_file_predicts_every_row_and_names_what_vllm_cannot_run(tmp_path):
    (tmp_path / "points.csv").write_text("model,gpu,tp,pp,batch_size,input_tokens,output_tokens,precision\n"
                                         "llama-3.1-8b,H100,1,1,8,2048,256,\n"
                                         "qwen3-235b-a22b,H200,8,1,32,1024,128,fp8\n"
                                         "qwen2.5-7b,H100,8,1,8,512,64,\n")
    result = CliRunner().invoke(main, ["predict", "--points", str(tmp_path / "points.csv"), "--output",
                                       str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    import pandas as pd

    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert {"tokens_per_second", "ttft_ms", "tpot_ms", "memory_gb_per_gpu", "fits", "effective_batch",
            "kv_limited", "bound"} <= set(out.columns)
    assert float(out.loc[0, "tokens_per_second"]) > 0 and float(out.loc[1, "tokens_per_second"]) > 0
    assert str(out.loc[2, "fits"]) == "False" and "does not divide" in out.loc[2, "error"]


def test_a_scenario_can_take_its_model_from_a_config_json(tmp_path):
    (tmp_path / "config.csv").write_text("parameter,value\nhf_config,mixtral-8x7b\ninput_tokens,1024\n"
                                         "output_tokens,256\nmin_batch_size,16\nmax_batch_size,16\n")
    (tmp_path / "gpu_pool.csv").write_text("gpu_type,count,dollar_per_hour\nH100,8,2.99\nA100,8,1.29\n")
    result = CliRunner().invoke(main, ["--config-dir", str(tmp_path), "--method", "exact", "--json"])
    assert result.exit_code == 0, result.output
    solution = json.loads(result.stdout)
    assert solution["model"]["num_experts"] == 8 and solution["placement"]["tokens_per_s"] > 0
    assert "model from mixtral-8x7b" in " ".join(result.stderr.split())


@pytest.mark.parametrize("experts, active, layer_gb", [(8, 2, 3.0), (16, 4, 2.0), (4, 1, 5.0)])
def test_the_planner_places_moe_models_exactly(catalog, perf, experts, active, layer_gb):
    """A small MoE model over two GPU types: the exact plan equals the brute-force optimum and passes the checker."""
    scenario = make_scenario(catalog, [("L4", 2, 16.0, 0.7), ("T4", 2, 16.0, 0.35)], layers=4, layer_gb=layer_gb,
                             batch=4, settings={"max_pipeline_stages": 3})
    moe = ModelArch(**(scenario.model.model_dump() | {"num_experts": experts, "experts_per_token": active,
                                                      "moe_d_ff": 704, "layer_weight_memory_gb": None}))
    scenario.model = moe.model_copy(update={"layer_weight_memory_gb": layer_gb})
    oracle = best_ratio(scenario, 4, perf)
    placement = solve(scenario, perf, method="exact", compare=False).placement
    assert (oracle is None) == (placement is None)
    if placement is not None:
        assert check_placement(scenario, placement, perf) == []
        assert math.isclose(placement.dollar_per_hour / placement.tokens_per_s, oracle[0], rel_tol=1e-6)
