"""The command line as a user runs it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "solver"]


def run(*args, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_solve_json_and_outputs(tmp_path):
    result = run("--config-dir", "configs/demo-tiny", "--method", "enumeration", "--json", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    p = data["placement"]
    assert p["total_gpus"] >= 1 and p["tokens_per_s"] > 0 and p["cost_per_million_tokens"] > 0
    assert data["method"] == "enumeration" and data["exact"] and data["homogeneous"]
    assert sum(s["layers"] for s in p["stages"]) == 8
    assert json.loads((tmp_path / "solution.json").read_text())["placement"] == p
    assert "is_best" in (tmp_path / "summary.csv").read_text()


def test_main_job_preset_path_is_resolved():
    result = run("--config-dir", "config/demo-small", "--method", "enumeration", "--batch-size", "32")
    assert result.returncode == 0, result.stderr
    assert "using the bundled preset" in result.stdout
    assert "per 1M tokens" in result.stdout and "tok/s" in result.stdout


@pytest.mark.parametrize("args, code, text", [
    (["--config-dir", "does/not/exist"], 2, "does not exist"),
    (["--config-dir", "configs/demo-tiny", "--batch-size", "x"], 2, "--batch-size"),
])
def test_bad_input_exits_cleanly(args, code, text):
    result = run(*args)
    assert result.returncode == code
    assert text in result.stderr and "Traceback" not in result.stderr


SMALL_MODEL = ("parameter,value\nnum_decoder_layers,4\nd_model,512\nd_hidden,1024\nvocab_size,1000\n"
               "num_attention_heads,8\ninput_tokens,64\noutput_tokens,16\n")


def solve_folder(tmp_path, extra_config: str, pool: str):
    """Write a 4-layer scenario with extra config rows and a pool file, then run the bare solve on it."""
    (tmp_path / "config.csv").write_text(SMALL_MODEL + extra_config)
    (tmp_path / "gpu_pool.csv").write_text(pool)
    return run("--config-dir", str(tmp_path))


def test_unknown_gpu_in_pool_exits_2(tmp_path):
    result = solve_folder(tmp_path, "", "gpu_type,count\nH999,2\n")
    assert result.returncode == 2 and "H999" in result.stderr and "row 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_infeasible_budget_names_the_constraint(tmp_path):
    result = solve_folder(tmp_path, "max_hourly_cost,0.1\n", "gpu_type,count,memory_gb,dollar_per_hour\nL4,2,24,0.7\n")
    assert result.returncode == 3
    assert "max_hourly_cost" in result.stderr and "Traceback" not in result.stderr


def test_impossible_memory_is_explained(tmp_path):
    result = solve_folder(tmp_path, "layer_weight_memory_gb,40\n", "gpu_type,count\nT4,2\n")
    assert result.returncode == 3
    assert "largest TP group available holds" in result.stderr


def test_predict_json_keys():
    result = run("predict", "--model", "llama-3.1-8b", "--gpu", "H100", "--tp", "1", "--pp", "1",
                 "--batch-size", "1,8,64", "--input-tokens", "2035", "--output-tokens", "300", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["batch_size"] for r in rows] == [1, 8, 64]
    assert set(rows[0]) >= {"batch_size", "tokens_per_second", "ttft_ms", "tpot_ms", "memory_gb_per_gpu", "fits",
                            "bound"}
    assert rows[0]["tokens_per_second"] < rows[2]["tokens_per_second"]


def test_demand_beyond_one_pipeline_reports_replicas_and_their_totals(tmp_path):
    pool = "gpu_type,count,memory_gb,dollar_per_hour\nL4,8,24,0.7\n"
    assert solve_folder(tmp_path, "", pool).returncode == 0
    single = json.loads(run("--config-dir", str(tmp_path), "--json").stdout)["placement"]["tokens_per_s"]
    done = solve_folder(tmp_path, f"throughput_demand_tokens_per_s,{2.5 * single}\n", pool)
    assert done.returncode == 0, done.stderr
    assert "identical replicas" in done.stdout
    plan = json.loads(run("--config-dir", str(tmp_path), "--json").stdout)["placement"]
    assert plan["replicas"] >= 3 and plan["total_tokens_per_s"] >= 2.5 * single * (1 - 1e-9)
    assert plan["total_gpus"] == plan["replicas"] * plan["gpus_per_replica"] <= 8
