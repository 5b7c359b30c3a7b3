"""Expert parallelism (vLLM --data-parallel-size N --enable-expert-parallel): data-parallel attention with the
routed experts spread over the stage's GPUs, predicted, placed by the planner (against the brute-force oracle and the
checker), launched and offered on the command line."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from solver.cli import main
from solver.domain.model import ModelArch
from solver.domain.placement import Placement, Stage
from solver.domain.workload import Settings, Workload
from solver.loaders.hf_config import read_hf_config
from solver.loaders.resources import bundled_dir
from solver.perf import architecture as arch
from solver.perf.deployment import Deployment
from solver.perf.roofline import ACTIVATION_BYTES, allreduce_s, layer_comm_s
from solver.report.sweep import placements
from solver.search.solve import solve
from solver.sweeps.history import shape
from solver.sweeps.point import stored_placement
from solver.verify.checker import check_placement
from solver.vllm.launch import launch_plan
from tests.conftest import assert_clean, make_scenario
from tests.oracle import best_ratio

MODELS = bundled_dir("configs") / "models"
WORK = Workload(input_tokens=2048, output_tokens=256, batch_sizes=[1])


def served(model: ModelArch, spec, batch: int, tp: int = 1, dp: int = 1):
    return Deployment.uniform(model, WORK, Settings(), spec, tp, 1, batch, dp=dp).evaluate_served


def test_a_dense_model_on_data_parallel_engines_is_that_many_independent_copies(catalog, perf):
    """No experts to share: DP engines of a dense model are replicas, each with its share of the requests."""
    llama = read_hf_config(MODELS / "llama-3.1-8b.json")[0]
    spec = catalog.spec("H100")
    one = Deployment.uniform(llama, WORK, Settings(), spec, 1, 1, 16).evaluate(perf)
    four = Deployment.uniform(llama, WORK, Settings(), spec, 1, 1, 64, dp=4).evaluate(perf)
    assert math.isclose(four.tokens_per_s, 4 * one.tokens_per_s, rel_tol=1e-12)
    assert math.isclose(four.tpot_ms, one.tpot_ms, rel_tol=1e-12)
    assert four.memory_gb_per_gpu == pytest.approx(one.memory_gb_per_gpu, rel=1e-12)
    assert four.kv_capacity == 4 * one.kv_capacity


def test_expert_parallel_gpus_hold_whole_experts_and_the_rest_replicated():
    mixtral = read_hf_config(MODELS / "mixtral-8x7b.json")[0]
    routed = arch.routed_expert_share(mixtral)
    assert 0.9 < routed < 1  # nearly all of a Mixtral layer is its eight experts
    assert arch.gpu_weight_share(mixtral, 8) == pytest.approx(1 / 8)
    assert arch.gpu_weight_share(mixtral, 1, 8) == pytest.approx(1 - routed + routed / 8)  # one expert each
    assert arch.gpu_weight_share(mixtral, 1, 3) == pytest.approx(1 - routed + routed * 3 / 8)  # ceil(8 / 3)
    # Reads: a one-token step hits 2 of 8 experts: on average a quarter of each GPU's experts.
    assert arch.gpu_weight_share(mixtral, 1, 8, tokens=1) == pytest.approx(1 - routed + routed / 8 * 2 / 8)


def test_moe_layers_exchange_tokens_instead_of_all_reducing(catalog):
    """TP all-reduces twice per layer; expert parallel moves each MoE layer's tokens to their experts and back
    (all-gather + reduce-scatter over all GPUs, as much as one all-reduce of all tokens) and nothing else."""
    spec, qwen = catalog.spec("H100"), read_hf_config(MODELS / "qwen3-30b-a3b.json")[0]
    tokens_bytes = 64 * qwen.d_model * ACTIVATION_BYTES
    assert layer_comm_s(qwen, 64, 8, 1, spec) == pytest.approx(2 * allreduce_s(tokens_bytes, 8, spec))
    assert layer_comm_s(qwen, 8, 1, 8, spec) == pytest.approx(allreduce_s(tokens_bytes, 8, spec))  # 8 per rank
    assert layer_comm_s(qwen, 64, 1, 1, spec) == 0.0


def test_data_parallel_attention_multiplies_an_mla_models_kv_room(catalog, perf):
    """DeepSeek's latent KV cache is held whole by every GPU of a TP group; data-parallel attention gives each
    GPU its own requests, so 8 GPUs hold several times as many (at the price of replicated attention weights)."""
    deepseek = read_hf_config(MODELS / "deepseek-v3.json")[0]
    spec = catalog.spec("H200")
    tp8, _ = served(deepseek, spec, 256, tp=8)(perf)
    dp8, _ = served(deepseek, spec, 256, dp=8)(perf)
    assert arch.gpu_weight_share(deepseek, 1, 8) > arch.gpu_weight_share(deepseek, 8)  # replicated attention
    assert dp8.kv_capacity > 4 * tp8.kv_capacity
    assert served(deepseek, spec, 1, dp=8)(perf)[0].kv_capacity == dp8.kv_capacity  # every engine's room, summed
    assert dp8.memory_gb_per_gpu[0] < tp8.memory_gb_per_gpu[0]  # with 256 requests' KV cache: 32 per GPU, not 256


def ep_scenario(catalog, pools, experts: int, layer_gb: float, batch: int, expert_parallel: bool = True):
    scenario = make_scenario(catalog, pools, layers=4, layer_gb=layer_gb, batch=batch,
                             settings={"max_pipeline_stages": 3, "tp_degrees": [1, 2, 4],
                                       "expert_parallel": expert_parallel})
    scenario.model = ModelArch(**(scenario.model.model_dump() | {"num_experts": experts, "experts_per_token": 2,
                                                                  "moe_d_ff": 704}))
    return scenario


L4 = ("L4", 4, 24.0, 0.7)
T4 = ("T4", 2, 16.0, 0.35)


@pytest.mark.parametrize("pools, experts, layer_gb, batch, optimum", [
    ([L4], 64, 6.0, 256, "DP2 EP2"), ([L4, T4], 64, 6.0, 64, "DP2 EP2"), ([L4, T4], 16, 6.0, 64, "TP1"),
    ([L4], 8, 6.0, 256, "DP2 EP2"), ([("A100", 4, 40.0, 1.3)], 64, 6.0, 256, "TP1")])
def test_the_planner_places_moe_models_expert_parallel_where_that_is_cheapest(catalog, perf, pools, experts,
                                                                              layer_gb, batch, optimum):
    """The exact plan equals the brute-force optimum over TP x PP pipelines and expert-parallel stages, passes
    the checker, and is expert parallel exactly where the oracle's optimum is."""
    scenario = ep_scenario(catalog, pools, experts, layer_gb, batch)
    oracle = best_ratio(scenario, batch, perf)
    placement = solve(scenario, perf, method="exact", compare=False).placement
    assert placement is not None and oracle is not None
    assert check_placement(scenario, placement, perf) == []
    assert math.isclose(placement.dollar_per_hour / placement.tokens_per_s, oracle[0], rel_tol=1e-6)
    assert placement.stages[0].layout == optimum
    assert (oracle[1][0][1][1][1] > 1) == (optimum != "TP1")


def test_expert_parallel_off_keeps_to_tensor_and_pipeline_parallel(catalog, perf):
    scenario = ep_scenario(catalog, [L4], 64, 6.0, 256, expert_parallel=False)
    placement = solve(scenario, perf, method="exact", compare=False).placement
    assert placement is not None and all(s.dp == 1 for s in placement.stages)
    assert math.isclose(placement.dollar_per_hour / placement.tokens_per_s, best_ratio(scenario, 256, perf)[0],
                        rel_tol=1e-6)


def test_the_checker_refuses_expert_parallel_stages_vllm_would_not_run(catalog, perf):
    scenario = ep_scenario(catalog, [L4], 64, 6.0, 256)
    placement = solve(scenario, perf, method="exact", compare=False).placement
    halves = [Stage(pool="L4", gpu_type="L4", tp=1, dp=2, first_layer=0, end_layer=2),
              Stage(pool="L4", gpu_type="L4", tp=1, dp=2, first_layer=2, end_layer=4)]
    chained = placement.model_copy(update={"stages": halves})
    assert any("not one stage" in p for p in check_placement(scenario, chained, perf))
    dense = ep_scenario(catalog, [L4], 64, 6.0, 256)
    dense.model = dense.model.model_copy(update={"num_experts": 0, "experts_per_token": 0})
    assert any("no experts" in p for p in check_placement(dense, placement, perf))


def test_an_expert_parallel_plan_launches_data_parallel_engines():
    stage = Stage(pool="H200", gpu_type="H200", tp=1, dp=8, first_layer=0, end_layer=61)
    placement = Placement(stages=[stage], batch_size=1024, tokens_per_s=1.0, dollar_per_hour=28.0, ttft_ms=1.0,
                          tpot_ms=1.0, bound="compute")
    plan = launch_plan(placement, "deepseek-ai/DeepSeek-V3", 2048, 256, 0.9, {"H200": 8})
    args = plan.serve_args()
    assert plan.deployable and stage.gpus == 8 and stage.layout == "DP8 EP8"
    assert args[args.index("--data-parallel-size") + 1] == "8" and "--enable-expert-parallel" in args
    assert args[args.index("--max-num-seqs") + 1] == "128"  # per engine: 1024 requests over 8
    assert [(n.gpu_type, n.gpus) for n in plan.nodes] == [("H200", 8)]


def test_predict_takes_data_parallel_engines_and_says_when_they_cannot_be_chained(tmp_path):
    runner = CliRunner()
    args = ["predict", "--model", "qwen3-30b-a3b", "--gpu", "H100", "--batch-size", "64", "--json"]
    tp = json.loads(runner.invoke(main, [*args, "--tp", "4"]).stdout)[0]
    ep = json.loads(runner.invoke(main, [*args, "--dp", "4"]).stdout)[0]
    assert tp["fits"] and ep["fits"] and ep["tokens_per_second"] != tp["tokens_per_second"]
    assert_clean(runner.invoke(main, [*args, "--dp", "2", "--pp", "2"]), 2, ["--dp 2 with --pp 2", "Fix"])
    crowded = json.loads(runner.invoke(main, ["predict", "--model", "deepseek-v3", "--gpu", "H200", "--dp", "8",
                                              "--batch-size", "4096", "--input-tokens", "2000", "--json"]).stdout)[0]
    assert crowded["kv_limited"] and crowded["max_num_seqs"] * 8 > crowded["effective_batch"] > 1024
    points = tmp_path / "points.csv"
    points.write_text("model,gpu,tp,pp,batch_size,input_tokens,output_tokens,dp\n"
                      "qwen3-30b-a3b,H100,1,1,64,1024,256,4\nqwen3-30b-a3b,H100,4,1,64,1024,256,\n")
    result = runner.invoke(main, ["predict", "--points", str(points), "--output", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",True," in row for row in rows[1:])


def test_the_solve_command_can_leave_expert_parallel_out(tmp_path):
    (tmp_path / "config.csv").write_text("parameter,value\nhf_config,deepseek-v3\ninput_tokens,2048\n"
                                         "output_tokens,256\nmin_batch_size,1024\nmax_batch_size,1024\n")
    (tmp_path / "gpu_pool.csv").write_text("gpu_type,count,dollar_per_hour\nH200,8,3.5\n")
    runner = CliRunner()
    assert runner.invoke(main, ["--config-dir", str(tmp_path), "--output", str(tmp_path / "ep")]).exit_code == 0
    with_ep = json.loads((tmp_path / "ep" / "solution.json").read_text())
    without = json.loads(runner.invoke(main, ["--config-dir", str(tmp_path), "--json", "--no-expert-parallel"]).stdout)
    assert [s["dp"] for s in with_ep["placement"]["stages"]] == [8]
    assert "DP8 EP8" in (tmp_path / "ep" / "summary.csv").read_text()
    assert all(s["dp"] == 1 for s in without["placement"]["stages"])
    assert with_ep["placement"]["cost_per_million_tokens"] < without["placement"]["cost_per_million_tokens"]


def test_a_sweep_stores_an_expert_parallel_placement_and_reads_it_back(tmp_path):
    """The nightly sweep's placement column, its diff and its report chart, for an expert-parallel plan and for a
    night stored before expert parallelism existed."""
    stored = stored_placement([Stage(pool="H200", gpu_type="H200", tp=1, dp=8, first_layer=0, end_layer=61)])
    assert json.loads(stored) == [["H200", 1, 0, 61, 8]]
    assert shape(stored) == "H200 DP8 EP8 L0-60"
    older = '[["A100", 2, 0, 40], ["L40S", 1, 40, 80]]'
    assert shape(older) == "A100 TP2 L0-39 | L40S TP1 L40-79"
    latest = pd.DataFrame({"scenario": ["ds", "llama"], "cost_per_million_tokens": [1.1, 2.3],
                           "placement": [stored, older]})
    drawn = placements(latest, tmp_path)
    assert drawn["placements"]["ds"] == [["H200", 1, 0, 61, 8]] and (tmp_path / "placements.png").stat().st_size
