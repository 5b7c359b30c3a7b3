"""The older solver's users: its scenario folders, its scripts' loop, its flags and the fork's layout work
unchanged here, with the same meaning or a notice naming what differs (docs/migration.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from solver.api import load_scenario
from solver.cli import main
from solver.domain.placement import Placement
from solver.perf import get_model
from solver.placement.candidates import FIRST, LAST, MIDDLE, build_arcs
from solver.verify.checker import check_placement
from tests.conftest import fork_layout, make_scenario

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT.parent / "shared" / "legacy" / "config"
FOLDERS = ("tiny", "small", "medium", "large", "hal")


def tokenop(*args: str):
    """The CLI in-process (the same entry point as `tokenop-solve`); stdout and stderr apart."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.skipif(not LEGACY.is_dir(), reason="../shared/legacy is not beside this checkout")
@pytest.mark.parametrize("name", FOLDERS)
def test_presets_are_the_older_folders_byte_for_byte(name):
    ours, theirs = ROOT / "configs" / name, LEGACY / name
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for file in theirs.iterdir():
        assert (ours / file.name).read_bytes() == file.read_bytes(), file


@pytest.mark.slow
@pytest.mark.parametrize("name", FOLDERS)
def test_run_solver_loop_of_the_older_scripts_gives_every_run_a_plan(name):
    """run-solver.sh: methods (weighted, enumeration) x network configs (the folder's file, generated 400/200),
    each `--config-dir config/<name> --method M [--generate-network 400 200] --cloud-provider AWS`."""
    networks = [["--generate-network", "400", "200"]] + ([] if name == "large" else [[]])
    perf = get_model()
    for method in ("weighted", "enumeration"):
        for network in networks:
            done = tokenop("--config-dir", f"config/{name}", "--method", method, *network, "--cloud-provider", "AWS",
                           "--json")
            assert done.exit_code == 0, (method, network, done.stderr)
            solution = json.loads(done.stdout)
            assert solution["placement"]["tokens_per_s"] > 0 and solution["method"] == method
            generated = (400.0, 200.0) if network else None
            scenario = load_scenario(name, solution["workload"]["batch_sizes"], provider="AWS",
                                     generate_network=generated)

            assert check_placement(scenario, Placement.model_validate(solution["placement"]), perf) == []
    if name == "large":  # its 28x28 matrix for 80 GPUs: a clear error naming the older flag, as there
        done = tokenop("--config-dir", "config/large", "--method", "weighted")
        assert done.exit_code == 2 and "--generate-network" in done.stderr


def solve_json(*args: str) -> tuple[dict, str]:
    done = tokenop(*args, "--json")
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_cost_weight_sets_the_weight_and_means_the_weighted_method():
    solution, _ = solve_json("--config-dir", "tiny", "--cost-weight", "0.2")
    assert solution["method"] == "weighted" and solution["settings"]["cost_throughput_weight"] == 0.2


def test_optimization_priority_keeps_its_older_weight():
    for name, weight in (("tiny", 0.1), ("medium", 0.9)):  # throughput_first, cost_first
        assert load_scenario(name).settings.cost_throughput_weight == weight


def test_generate_network_sets_bandwidths_within_and_between_gpu_types():
    scenario = load_scenario("medium", generate_network=(400.0, 200.0))
    types = [p.gpu_type for p in scenario.pools]
    for i, a in enumerate(types):
        for j, b in enumerate(types):
            assert scenario.bandwidth_gbps[i, j] == (400.0 if a == b else 200.0)


def test_cloud_provider_prices_the_pools_and_names_what_it_lacks():
    solution, notes = solve_json("--config-dir", "medium", "--cloud-provider", "GCP", "--method", "exact")
    prices = {p["gpu_type"]: p["dollar_per_hour"] for p in solution["pools"]}
    assert prices["A100"] == 4.14 and prices["V100"] == 2.55  # gcp rows of gpu_pools/prices.csv
    assert "no gcp price for A10, L40" in " ".join(notes.split())


def test_tp_config_fixes_the_tp_of_a_gpu_type():
    solution, _ = solve_json("--config-dir", "medium", "--tp-config", '{"a100": 4}', "--method", "exact")
    assert solution["settings"]["fixed_tp"] == {"A100": 4}
    assert all(s["tp"] == 4 for s in solution["placement"]["stages"] if s["gpu_type"] == "A100")
    done = tokenop("--config-dir", "medium", "--tp-config", "A100=4")
    assert done.exit_code == 2 and "--tp-config" in done.stderr


def test_older_switches_threads_and_search_all_tp_are_accepted_with_a_notice():
    plain, _ = solve_json("--config-dir", "small", "--method", "enumeration")
    flagged, notes = solve_json("--config-dir", "small", "--method", "enumeration", "--search-all-tp", "--threads",
                                "1", "--max-threads", "32", "--disable-symmetry-breaking", "--enable-tight-bigm",
                                "--disable-upper-bound", "--enable-flow-conservation")
    assert flagged["placement"] == plain["placement"] and flagged["settings"]["threads"] == 1
    for flag in ("--disable-symmetry-breaking", "--enable-tight-bigm", "--disable-upper-bound",
                 "--enable-flow-conservation", "--search-all-tp"):
        assert f"{flag} " in notes


def test_the_configs_optimality_gap_is_named_and_only_the_command_line_loosens_it():
    exact, notes = solve_json("--config-dir", "medium", "--method", "exact")
    assert exact["settings"]["optimality_gap"] == 1e-4 and "optimality_gap 0.05" in notes
    assert exact["status"] == "optimal" and exact["optimality_gap"] <= 1e-4
    loose, _ = solve_json("--config-dir", "medium", "--method", "exact", "--optimality-gap", "0.05")
    assert loose["settings"]["optimality_gap"] == 0.05
    assert (loose["status"] == "optimal") == (loose["optimality_gap"] <= 1e-4)


def test_layer_weight_memory_that_disagrees_with_the_dimensions_is_named():
    _, notes = solve_json("--config-dir", "medium", "--method", "exact")
    assert "layer_weight_memory_gb 3.5 GB is 2.16x" in " ".join(notes.split())


def test_cost_target_is_reported_and_enforced_only_when_asked():
    solution, _ = solve_json("--config-dir", "hal", "--method", "exact", "--batch-size", "1", "--cloud-provider", "AWS")
    assert solution["placement"]["cost_per_million_tokens"] > 100 and solution["meets_cost_target"] is False
    done = tokenop("--config-dir", "hal", "--method", "exact", "--batch-size", "1", "--cloud-provider", "AWS",
                   "--enforce-cost-target")
    assert done.exit_code == 3 and "max_cost_per_million_token" in done.stderr


def test_a_batch_no_kv_cache_can_hold_is_run_kv_limited_and_said_so():
    """hal's batch 64 fits no placement's KV cache: vLLM would still run them at a lower concurrency, and so
    does the plan (the largest power of two that fits), flagged kv_limited with the batch asked."""
    solution, notes = solve_json("--config-dir", "hal", "--method", "enumeration")
    placement = solution["placement"]
    assert placement["batch_size"] < 64 and placement["requested_batch_size"] == 64 and placement["kv_limited"]
    assert solution["workload"]["batch_sizes"] == [64]
    assert "KV-limited: batch size 64 was asked" in " ".join(notes.split())


def test_no_method_says_what_the_older_default_was():
    _, notes = solve_json("--config-dir", "tiny")
    assert "older solver's default was --method weighted" in " ".join(notes.split())


def test_min_memory_utilization_is_a_minimum_segment_size_not_a_memory_floor(catalog, perf):
    """Stages too small to use half their GPU's memory are dropped, except the last stage, which takes the
    remainder; the older folders tiny and small (u = 0.5) therefore solve."""
    scenario = make_scenario(catalog, [("L4", 4, 24.0, 0.7)], layers=8, layer_gb=2.0,
                             settings={"min_memory_utilization": 0.5, "max_pipeline_stages": 4})
    arcs = build_arcs(scenario, 4, perf)
    body = arcs.size[np.isin(arcs.role, [FIRST, MIDDLE]) & (arcs.tp == 1)]
    assert body.min() >= math.ceil((0.5 * 24 - 1) / 2.0) and 1 in arcs.size[(arcs.role == LAST) & (arcs.tp == 1)]
    for name in ("tiny", "small"):
        assert tokenop("--config-dir", name, "--method", "enumeration").exit_code == 0


def test_the_forks_layout_with_a_shared_instance_pool_reports_instances_to_rent(tmp_path):
    folder = fork_layout(tmp_path, "instance_name,count\ng5.12xlarge,20\np4de.24xlarge,2\n",
                         "max_position_embeddings,131072\nreal_world_efficiency,0.30\nmicro_batch_size,8\n")
    models = folder.parent
    solution, notes = solve_json("--config-dir", str(models / "llama-8b"), "--method", "exact")
    flat = " ".join(notes.split())
    assert "has no gpu_pool.csv: using the shared" in flat
    assert "real_world_efficiency 0.3 has no effect" in flat and "micro_batch_size 8 has no effect" in flat
    rent = solution["instances_to_rent"]
    assert rent and set(rent) <= {"g5.12xlarge", "p4de.24xlarge"}
    prices = {"g5.12xlarge": 5.67, "p4de.24xlarge": 27.44}
    assert math.isclose(solution["placement"]["dollar_per_hour"], sum(n * prices[k] for k, n in rent.items()))
    scenario = load_scenario(models / "llama-8b")

    assert check_placement(scenario, Placement.model_validate(solution["placement"]), get_model()) == []
    done = tokenop("--config-dir", str(models / "llama-8b"), "--batch-size", "32")
    assert done.exit_code == 0
    (models / "gpu_pool.csv").write_text("instance_name,count\nno-such.metal,2\n")
    done = tokenop("--config-dir", str(models / "llama-8b"))
    assert done.exit_code == 2 and "unknown instance 'no-such.metal'" in done.stderr


def test_max_position_embeddings_bounds_the_requests(tmp_path):
    (tmp_path / "config.csv").write_text("parameter,value\nnum_decoder_layers,4\nd_model,512\nd_hidden,1024\n"
                                         "vocab_size,1000\nnum_attention_heads,8\ninput_tokens,4000\n"
                                         "output_tokens,200\nmax_position_embeddings,4096\n")
    (tmp_path / "gpu_pool.csv").write_text("gpu_type,count\nL4,2\n")
    done = tokenop("--config-dir", str(tmp_path))
    assert done.exit_code == 2 and "max_position_embeddings" in done.stderr
