"""`tokenop-solve capacity` as a user runs it: the fleet, the savings, the simulation, the demand curve and its PNG,
and every bad input as one message with exit 2 (infeasible: exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from solver.cli import main
from solver.loaders.workload_mix import load_mix
from tests.conftest import assert_clean, fork_layout

CLI = [sys.executable, "-m", "solver"]
TINY = ["capacity", "--config-dir", "demo-tiny", "--ttft-slo-ms", "2000", "--tpot-slo-ms", "100"]


def run(*args, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_capacity_prints_the_fleet_savings_and_simulation(tmp_path):
    result = run(*TINY, "--workload", "chat-mix", "--demand-rps", "5", "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    for words in ("Fleet for 5 requests/s", "/month", "vs best single GPU type", "vs identical pipelines",
                  "simulation:", "per 1M tokens", "exactness: optimal within the candidates"):
        assert words in result.stdout, words
    assert "Rates predicted with calibration default" in " ".join(result.stdout.split())
    plan = json.loads((tmp_path / "out" / "capacity.json").read_text())
    assert plan["calibration"] == "default"
    fleet = plan["fleet"]
    assert fleet["dollar_per_month"] == pytest.approx(fleet["dollar_per_hour"] * 730)
    assert plan["fractional_bound"] <= fleet["dollar_per_hour"] + 1e-9
    assert plan["simulation"]["offered_rps"] == 5 and plan["simulation"]["all_requests"]["requests"] > 1000
    assert len(plan["buckets"]) == 3 and sum(b["share"] for b in plan["buckets"]) == pytest.approx(1)
    # every request bucket is routed in full, within the copies' SLO-limited rates
    routed = np.sum([line["routed_rps"] for line in fleet["lines"]], axis=0)
    assert routed == pytest.approx([5 * b["share"] for b in plan["buckets"]])
    for line in fleet["lines"]:
        assert 0 < line["utilisation"] <= 1 + 1e-6
    assert "demand_rps" in (tmp_path / "out" / "fleet.csv").read_text()


def test_a_demand_range_prints_a_curve_and_writes_the_png(tmp_path):
    result = run(*TINY, "--input-tokens", "512", "--output-tokens", "128", "--demand-rps", "5:40:5", "--json",
                 "--no-simulate", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)
    costs = [p["fleet"]["dollar_per_hour"] for p in plans]
    assert [p["demand_rps"] for p in plans] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert costs == sorted(costs) and costs[-1] > costs[0]  # more demand never costs less
    assert (tmp_path / "capacity_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    here = tmp_path / "cwd"
    here.mkdir()
    text = run("capacity", "--config-dir", str(Path.cwd() / "configs" / "demo-tiny"), "--input-tokens", "512",
               "--output-tokens", "128", "--demand-rps", "5:15:5", "--no-simulate", cwd=here)
    assert text.returncode == 0, text.stderr
    assert "Cost against demand" in text.stdout and "Fleet for 15 requests/s" in text.stdout
    assert (here / "capacity_curve.png").is_file()  # without --output the curve lands where the command ran


def test_cheaper_gpus_never_make_the_fleet_dearer():
    args = [*TINY, "--input-tokens", "512", "--output-tokens", "128", "--demand-rps", "20", "--json",
            "--no-simulate"]
    base = json.loads(run(*args).stdout)["fleet"]["dollar_per_hour"]
    cheaper = json.loads(run(*args, "--price-scale", "T4=0.5", "--price-scale", "L4=0.8").stdout)
    assert cheaper["fleet"]["dollar_per_hour"] < base


def test_tokens_per_day_and_tokens_per_second_are_the_same_demand():
    common = [*TINY, "--input-tokens", "512", "--output-tokens", "128", "--json", "--no-simulate"]
    per_second = json.loads(run(*common, "--demand-tokens-per-second", "1280").stdout)
    per_day = json.loads(run(*common, "--tokens-per-day", str(1280 * 86400)).stdout)
    assert per_second["demand_rps"] == pytest.approx(10) and per_day["demand_rps"] == pytest.approx(10)


@pytest.mark.parametrize("args, code, words", [
    (["--demand-rps", "x"], 2, ["--demand-rps 'x'", "FROM:TO:STEP"]),
    (["--demand-rps", "10:5:1"], 2, ["must go up"]),
    (["--demand-rps", "-3"], 2, ["positive"]),
    (["--demand-rps", "1", "--tokens-per-day", "5"], 2, ["both set the demand"]),
    ([], 2, ["no demand given"]),
    (["--demand-rps", "1", "--price-scale", "H100=0.8"], 2, ["no pool of the scenario has", "L4"]),
    (["--demand-rps", "1", "--price-scale", "T4"], 2, ["GPU=FACTOR"]),
    (["--demand-rps", "1", "--workload", "nope"], 2, ["neither a file nor a bundled workload", "chat-mix"]),
    (["--demand-rps", "1", "--workload", "chat-mix", "--input-tokens", "5"], 2, ["pass one of them"]),
    (["--demand-rps", "1", "--tpot-slo-ms", "0.01"], 3, ["no pipeline of the scenario's GPUs serves", "relax"]),
    (["--demand-rps", "1", "--ttft-slo-ms", "1"], 3, ["no candidate pipeline meets p99 TTFT <= 1 ms", "Fix:"]),
    (["--demand-rps", "100000"], 3, ["GPU supply binds", "gpu_pool.csv"]),
    (["--demand-rps", "1", "--time-limit", "0.001"], 4, ["time limit", "not a proof", "--time-limit"]),
])
def test_bad_capacity_input_is_one_message(args, code, words):
    assert_clean(CliRunner().invoke(main, ["capacity", "--config-dir", "demo-tiny", "--no-simulate", *args]), code,
                 words)


@pytest.mark.parametrize("text, words", [
    ("input_tokens\n5\n", ["lacks output_tokens"]),
    ("input_tokens,output_tokens,colour\n5,5,red\n", ["unknown column(s) colour"]),
    ("input_tokens,output_tokens\n5,abc\n", ["row 2", "'output_tokens'", "not a number"]),
    ("input_tokens,output_tokens,weight\n5,5,0\n", ["row 2", "'weight'"]),
    ("input_tokens,output_tokens\n", ["no rows"]),
])
def test_bad_workload_files_name_file_row_and_field(tmp_path, text, words):
    path = tmp_path / "mix.csv"
    path.write_text(text)
    result = CliRunner().invoke(main, [*TINY, "--demand-rps", "1", "--workload", str(path), "--no-simulate"])
    assert_clean(result, 2, ["mix.csv", *words])


def test_a_trace_is_grouped_into_buckets_of_about_equal_weight(tmp_path):
    rng = np.random.default_rng(3)
    prompts = rng.integers(50, 9000, 3000)
    outputs = rng.integers(10, 600, 3000)
    path = tmp_path / "trace.csv"
    path.write_text("input_tokens,output_tokens\n" + "".join(f"{p},{o}\n" for p, o in zip(prompts, outputs)))
    mix = load_mix(path, max_buckets=3)
    assert [b.share for b in mix.buckets] == pytest.approx([1 / 3] * 3, abs=0.01)
    assert [b.input_tokens for b in mix.buckets] == sorted(b.input_tokens for b in mix.buckets)
    assert sum(len(rows) for rows in mix.rows) == 3000
    for bucket, rows in zip(mix.buckets, mix.rows):
        assert bucket.input_tokens == pytest.approx(rows[:, 0].mean(), abs=1)
        assert bucket.longest_prompt == rows[:, 0].max()


def test_the_python_api_plans_what_the_command_line_plans():
    import solver.capacity  # noqa: F401 - the subpackage must not shadow the API function
    from solver import plan_capacity

    [plan] = plan_capacity("demo-tiny", 5, "chat-mix", ttft_slo_ms=2000, tpot_slo_ms=100, no_simulate=True)
    cli = json.loads(run(*TINY, "--workload", "chat-mix", "--demand-rps", "5", "--no-simulate", "--json").stdout)
    assert plan.fleet.dollar_per_hour == pytest.approx(cli["fleet"]["dollar_per_hour"])
    assert plan.fleet.composition() == " + ".join(f"{line['count']} x {line['replica']['name']}"
                                                  for line in cli["fleet"]["lines"])


def test_instance_pools_are_rented_by_whole_instances(tmp_path):
    """The older solver's fork layout: a shared pool of cloud instances one level up; copies rent whole instances
    and the pool's instance count is the supply."""
    folder = fork_layout(tmp_path, "instance_name,count\ng5.12xlarge,3\np4de.24xlarge,1\n")
    result = run("capacity", "--config-dir", str(folder), "--input-tokens", "1024", "--output-tokens",
                 "256", "--demand-rps", "3", "--ttft-slo-ms", "3000", "--no-simulate", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    prices = {"g5.12xlarge": 5.67, "p4de.24xlarge": 27.44}
    rented: dict[str, int] = {}
    for line in plan["fleet"]["lines"]:
        assert line["replica"]["instances"], line["replica"]
        for name, count in line["replica"]["instances"].items():
            rented[name] = rented.get(name, 0) + line["count"] * count
    assert plan["fleet"]["dollar_per_hour"] == pytest.approx(sum(n * prices[k] for k, n in rented.items()))
    assert rented.get("g5.12xlarge", 0) <= 3 and rented.get("p4de.24xlarge", 0) <= 1


def test_demand_and_slos_come_from_config_csv_when_not_given(tmp_path):
    import shutil

    folder = tmp_path / "scenario"
    shutil.copytree(Path.cwd() / "configs" / "demo-tiny", folder)
    with open(folder / "config.csv", "a") as handle:
        handle.write("throughput_demand_tokens_per_s,640\nttft_slo_ms,2000\ntpot_slo_ms,100\n")
    result = run("capacity", "--config-dir", str(folder), "--input-tokens", "512", "--output-tokens", "128",
                 "--no-simulate", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["demand_rps"] == pytest.approx(5.0)  # 640 generated tok/s at 128 tokens per request
    assert plan["slo"] == {"ttft_ms": 2000.0, "tpot_ms": 100.0, "percentile": 99}
