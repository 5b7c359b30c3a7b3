"""The Solution contract: solution.json carries everything the prediction used, so `validate` (and `plan`) predict
exactly what the planner printed, also with a non-default chunk size and link latency; its schema is published."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest

from solver.domain.workload import Settings, Workload
from solver.loaders.solution import read_solution
from solver.perf import get_model
from solver.perf.deployment import Deployment

CLI = [sys.executable, "-m", "solver"]
# A model that needs two single-GPU stages linked over a slow network, with a small prefill chunk and a large
# link latency: every non-default setting changes the prediction.
CONFIG = """parameter,value
model_name,contract
num_decoder_layers,8
d_model,2048
d_hidden,5632
vocab_size,32000
num_attention_heads,16
num_kv_heads,4
layer_weight_memory_gb,3
input_tokens,1024
output_tokens,128
min_batch_size,8
max_batch_size,8
tp_degrees,1
prefill_chunk_tokens,256
link_latency_us,500
inter_node_bandwidth_gbps,5
"""


def run(*args, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract")
    (folder / "config.csv").write_text(CONFIG)
    (folder / "gpu_pool.csv").write_text("gpu_type,count,memory_gb,dollar_per_hour\nL4,4,24,0.8\n")
    done = run("--config-dir", str(folder), "--output", str(folder / "out"), "--json")
    assert done.returncode == 0, done.stderr
    return folder / "out" / "solution.json", json.loads(done.stdout)


def test_solution_carries_what_the_prediction_used(solved):
    path, printed = solved
    solution = read_solution(path)
    assert solution.placement is not None and solution.placement.pipeline_stages >= 2
    assert solution.workload.prefill_chunk_tokens == 256 and solution.settings.link_latency_us == 500
    assert solution.perf_model == "roofline" and solution.perf_model_version and solution.tool_version
    assert solution.calibration == "default"  # the profile the pools' factors come from
    assert {p.gpu_type for p in solution.pools} == {"L4"} and solution.pools[0].spec.compute_efficiency > 0
    assert printed["placement"] == json.loads(path.read_text())["placement"]


def test_validate_predicts_what_the_planner_printed(solved):
    path, printed = solved
    done = run("validate", "--solution", str(path), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    predicted = json.loads(done.stdout)["predicted"]
    plan = printed["placement"]
    for key in ("tokens_per_s", "ttft_ms", "tpot_ms"):
        assert math.isclose(predicted[key], plan[key], rel_tol=1e-9), key
    # ... which is not what defaults would predict: the test would catch a reader that drops the settings
    solution = read_solution(path)
    naive = replace(Deployment.of_solution(solution, solution.placement), settings=Settings(),
                    workload=Workload(input_tokens=1024, output_tokens=128, batch_sizes=[8]))
    assert not math.isclose(naive.evaluate(get_model()).ttft_ms, plan["ttft_ms"], rel_tol=0.01)


def test_schema_is_printed_and_names_the_contract():
    done = run("schema", "solution")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert {"placement", "model", "workload", "settings", "pools", "perf_model", "tool_version"} <= \
        set(schema["properties"])


@pytest.mark.parametrize("content, words", [
    ("42", "not a solution object"),
    ('{"schema_version": 1}', "schema_version is 1"),
])
def test_a_bad_solution_file_is_named(tmp_path, content, words):
    (tmp_path / "solution.json").write_text(content)
    done = run("plan", "--solution", str(tmp_path / "solution.json"), "--output", str(tmp_path / "out"))
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_a_solution_with_a_malformed_placement_names_the_field(solved, tmp_path):
    path, _ = solved
    data = json.loads(path.read_text())
    data["placement"]["stages"][0]["tp"] = "two"
    (tmp_path / "solution.json").write_text(json.dumps(data))
    done = run("validate", "--solution", str(tmp_path / "solution.json"), "--dry-run")
    assert done.returncode == 2 and "placement.stages.0.tp" in done.stderr and "Traceback" not in done.stderr
