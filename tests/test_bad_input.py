"""A corpus of broken inputs and faults, as users make them: each gets its exit code (2: bad input, 3: infeasible)
and one message naming the file, row, field or flag and a fix, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from solver.cli import main
from tests.conftest import assert_clean

CONFIG = ("parameter,value\nmodel_name,corpus\nnum_decoder_layers,4\nd_model,1024\nd_hidden,2816\nvocab_size,8000\n"
          "num_attention_heads,16\nnum_kv_heads,4\ninput_tokens,256\noutput_tokens,64\nmin_batch_size,4\n"
          "max_batch_size,4\n")
POOL = "gpu_type,count,memory_gb,dollar_per_hour\nL4,2,24,0.70\nT4,2,16,0.35\n"
NOISE = bytes(range(128, 256)) * 4
DIR = object()  # this path is a folder


def row(key: str, value: str) -> str:
    return CONFIG + f"{key},{value}\n"


def replaced(key: str, value: str) -> str:
    return "".join(f"{key},{value}\n" if line.startswith(f"{key},") else line + "\n"
                   for line in CONFIG.splitlines())


# (id, {file: content, bytes, DIR or None (absent)}, extra arguments, exit code, words the message must hold)
SCENARIO_CASES = [
    ("empty config", {"config.csv": ""}, [], 2, ["config.csv is empty"]),
    ("config is a folder", {"config.csv": DIR}, [], 2, ["config.csv is a folder"]),
    ("config missing", {"config.csv": None}, [], 2, ["config.csv is missing"]),
    ("config random bytes", {"config.csv": NOISE}, [], 2, ["config.csv", "not UTF-8"]),
    ("config header", {"config.csv": "key,val\nnum_decoder_layers,4\n"}, [], 2, ["header", "parameter,value"]),
    ("batch as a word", {"config.csv": replaced("min_batch_size", "four")}, [], 2, ["row 11", "min_batch_size"]),
    ("bytes as a word", {"config.csv": row("bytes_per_element", "two")}, [], 2, ["bytes_per_element", "2 (bf16)"]),
    ("bytes three", {"config.csv": row("bytes_per_element", "3")}, [], 2, ["bytes_per_element"]),
    ("sequence as a word", {"config.csv": row("sequence_length", "long")}, [], 2, ["sequence_length"]),
    ("key twice", {"config.csv": row("d_model", "2048")}, [], 2, ["'d_model' is given twice", "rows 4 and"]),
    ("boolean perhaps", {"config.csv": row("enable_segment_quantization", "perhaps")}, [], 2, ["true or false"]),
    ("min above max", {"config.csv": replaced("min_batch_size", "64")}, [], 2, ["min_batch_size 64 is larger"]),
    ("segment size 0", {"config.csv": row("segment_sizes", "0|5")}, [], 2, ["segment_sizes"]),
    ("tp degree 0", {"config.csv": row("tp_degrees", "0|1")}, [], 2, ["tp_degrees"]),
    ("layers 1e12", {"config.csv": replaced("num_decoder_layers", "1e12")}, [], 2, ["num_decoder_layers"]),
    ("layers 0", {"config.csv": replaced("num_decoder_layers", "0")}, [], 2, ["num_decoder_layers"]),
    ("layers negative", {"config.csv": replaced("num_decoder_layers", "-3")}, [], 2, ["num_decoder_layers"]),
    ("d_model word", {"config.csv": replaced("d_model", "abc")}, [], 2, ["d_model"]),
    ("negative output", {"config.csv": replaced("output_tokens", "-5")}, [], 2, ["output_tokens", "greater than 0"]),
    ("no token rows", {"config.csv": CONFIG.replace("input_tokens,256\noutput_tokens,64\n", "")}, [], 2,
     ["add 'input_tokens' and 'output_tokens'"]),
    ("heads vs kv heads", {"config.csv": replaced("num_attention_heads", "30")}, [], 2,
     ["num_attention_heads (30) must be a multiple of num_kv_heads (4)"]),
    ("gap 2", {"config.csv": row("optimality_gap", "2")}, [], 2, ["optimality_gap"]),
    ("memory utilization 1.5", {"config.csv": row("gpu_memory_utilization", "1.5")}, [], 2,
     ["gpu_memory_utilization"]),
    ("time limit nan", {"config.csv": row("time_limit_seconds", "nan")}, [], 2, ["time_limit_seconds"]),
    ("budget negative", {"config.csv": row("max_hourly_cost", "-5")}, [], 2, ["max_hourly_cost"]),
    ("precision fp7", {"config.csv": row("precision", "fp7")}, [], 2, ["precision"]),
    ("extra field", {"config.csv": CONFIG + "a,b,c\n"}, [], 2, ["row 13", "3 fields"]),
    ("context too long", {"config.csv": row("max_position_embeddings", "128")}, [], 2,
     ["max_position_embeddings"]),
    ("chunk 0", {"config.csv": row("prefill_chunk_tokens", "0")}, [], 2, ["prefill_chunk_tokens"]),
    ("headroom 1", {"config.csv": row("headroom", "1")}, [], 2, ["headroom"]),
    ("stages 10^6", {"config.csv": row("max_pipeline_stages", "1000000")}, [], 2, ["max_pipeline_stages"]),
    ("empty pool", {"gpu_pool.csv": ""}, [], 2, ["gpu_pool.csv is empty"]),
    ("pool is a folder", {"gpu_pool.csv": DIR}, [], 2, ["gpu_pool.csv is a folder"]),
    ("pool random bytes", {"gpu_pool.csv": NOISE}, [], 2, ["gpu_pool.csv", "not UTF-8"]),
    ("pool missing", {"gpu_pool.csv": None}, [], 2, ["gpu_pool.csv is missing"]),
    ("unknown gpu", {"gpu_pool.csv": "gpu_type,count\nH999,2\n"}, [], 2, ["row 2", "unknown GPU type 'H999'"]),
    ("count negative", {"gpu_pool.csv": "gpu_type,count\nL4,-2\n"}, [], 2, ["row 2", "count"]),
    ("count fraction", {"gpu_pool.csv": "gpu_type,count\nL4,2.5\n"}, [], 2, ["count", "whole number"]),
    ("count word", {"gpu_pool.csv": "gpu_type,count\nL4,four\n"}, [], 2, ["'four' is not a number"]),
    ("count 10^9", {"gpu_pool.csv": "gpu_type,count\nL4,1000000000\n"}, [], 2, ["count", "1,000,000"]),
    ("memory nan", {"gpu_pool.csv": "gpu_type,count,memory_gb\nL4,2,nan\n"}, [], 2, ["memory_gb"]),
    ("memory inf", {"gpu_pool.csv": "gpu_type,count,memory_gb\nL4,2,inf\n"}, [], 2, ["memory_gb"]),
    ("memory 0", {"gpu_pool.csv": "gpu_type,count,memory_gb\nL4,2,0\n"}, [], 2, ["memory_gb", "positive"]),
    ("price nan", {"gpu_pool.csv": "gpu_type,count,memory_gb,dollar_per_hour\nL4,2,24,nan\n"}, [], 2,
     ["dollar_per_hour"]),
    ("price negative", {"gpu_pool.csv": "gpu_type,count,memory_gb,dollar_per_hour\nL4,2,24,-1\n"}, [], 2,
     ["dollar_per_hour"]),
    ("price inf", {"gpu_pool.csv": POOL + "A10,2,24,inf\n"}, [], 2, ["row 4", "dollar_per_hour"]),
    ("pool extra field", {"gpu_pool.csv": "gpu_type,count,memory_gb,dollar_per_hour\nL4,2,24,0.70,spot\n"}, [], 2,
     ["row 2", "5 fields"]),
    ("pool header", {"gpu_pool.csv": "gpu,n\nL4,2\n"}, [], 2, ["columns", "count"]),
    ("no gpus", {"gpu_pool.csv": "gpu_type,count\nL4,0\n"}, [], 2, ["every pool has count 0"]),
    ("unknown instance", {"gpu_pool.csv": "instance_name,count\nx1.huge,2\n"}, [], 2, ["unknown instance"]),
    ("empty matrix", {"network_bandwidth.csv": ""}, [], 2, ["network_bandwidth.csv is empty"]),
    ("matrix is a folder", {"network_bandwidth.csv": DIR}, [], 2, ["network_bandwidth.csv is a folder"]),
    ("matrix word", {"network_bandwidth.csv": ",g0,g1,g2,g3\ng0,0,1,1,1\ng1,1,0,fast,1\ng2,1,1,0,1\ng3,1,1,1,0\n"},
     [], 2, ["'fast' is not a number"]),
    ("matrix shape", {"network_bandwidth.csv": ",g0,g1\ng0,0,1\ng1,1,0\n"}, [], 2, ["the matrix is 2x2"]),
    ("matrix negative", {"network_bandwidth.csv": ",g0,g1,g2,g3\ng0,0,1,1,1\ng1,1,0,-4,1\ng2,1,1,0,1\ng3,1,1,1,0\n"},
     [], 2, ["bandwidth between gpu_1 and gpu_2"]),
    ("matrix random bytes", {"network_bandwidth.csv": NOISE}, [], 2, ["not UTF-8"]),
    ("huge batch", {}, ["--batch-size", "99999999999999999999"], 2, ["--batch-size"]),
    ("batch zero", {}, ["--batch-size", "0,8"], 2, ["--batch-size"]),
    ("batch word", {}, ["--batch-size", "x"], 2, ["--batch-size 'x'"]),
    ("time limit nan flag", {}, ["--time-limit", "nan"], 2, ["--time-limit"]),
    ("time limit negative", {}, ["--time-limit", "-1"], 2, ["--time-limit"]),
    ("tp config", {}, ["--tp-config", "L4:2"], 2, ["--tp-config"]),
    ("tp config gpu", {}, ["--tp-config", '{"Z9": 2}'], 2, ["unknown GPU type 'Z9'"]),
    ("network zero", {}, ["--generate-network", "0", "5"], 2, ["--generate-network"]),
    ("cost weight 2", {}, ["--cost-weight", "2"], 2, ["--cost-weight"]),
    ("provider", {}, ["--cloud-provider", "ovh"], 2, ["--cloud-provider"]),
    ("budget too low", {"config.csv": row("max_hourly_cost", "0.1")}, [], 3, ["max_hourly_cost"]),
    ("demand too high", {"config.csv": row("throughput_demand_tokens_per_s", "1e9")}, [], 3,
     ["throughput_demand"]),
    ("enforced target", {"config.csv": row("max_cost_per_million_token", "0.000001")}, ["--enforce-cost-target"], 3,
     ["max_cost_per_million_token"]),
]


def write_scenario(folder: Path, changes: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"config.csv": CONFIG, "gpu_pool.csv": POOL} | changes
    for name, content in files.items():
        if content is None:
            continue
        if content is DIR:
            (folder / name).mkdir()
        elif isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)
    return folder


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("name, changes, args, code, words", SCENARIO_CASES, ids=[c[0] for c in SCENARIO_CASES])
def test_scenario_faults(tmp_path, name, changes, args, code, words):
    folder = write_scenario(tmp_path / "s", changes)
    assert_clean(run("--config-dir", str(folder), "--time-limit", "20", *args), code, words)


def test_a_file_where_the_output_folder_should_be_fails_before_solving(tmp_path):
    folder = write_scenario(tmp_path / "s", {})
    (tmp_path / "afile").write_text("x")
    result = run("--config-dir", str(folder), "--output", str(tmp_path / "afile" / "run"))
    assert_clean(result, 2, ["--output", "a part of the path is a file"])
    assert "Chosen placement" not in result.output  # nothing was solved


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_fails_before_solving(tmp_path):
    folder = write_scenario(tmp_path / "s", {})
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_clean(run("--config-dir", str(folder), "--output", str(locked / "run")), 2, ["not writable"])


PREDICT_CASES = [
    ("batch zero", ["--batch-size", "0,8"], ["--batch-size"]),
    ("batch negative", ["--batch-size=-8"], ["--batch-size"]),
    ("tp not dividing heads", ["--tp", "3"], ["--tp 3 does not divide", "32 attention heads"]),
    ("unknown gpu", ["--gpu", "H999"], ["unknown GPU type 'H999'"]),
    ("pp above layers", ["--pp", "999"], ["--pp 999"]),
]


@pytest.mark.parametrize("name, args, words", PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES])
def test_predict_faults(name, args, words):
    options = {"--model": "llama-3.1-8b", "--gpu": "H100"}
    for flag in list(options):
        if flag in args:
            options.pop(flag)
    base = [part for flag, value in options.items() for part in (flag, value)]
    assert_clean(run("predict", *base, *args), 2, words)


def test_predict_unknown_model():
    assert_clean(run("predict", "--model", "nope", "--gpu", "H100"), 2, ["nope", "is neither a scenario folder"])


@pytest.fixture(scope="module")
def solution_file(tmp_path_factory) -> Path:
    folder = write_scenario(tmp_path_factory.mktemp("solved") / "s", {})
    assert run("--config-dir", str(folder), "--output", str(folder / "out")).exit_code == 0
    return folder / "out" / "solution.json"


@pytest.mark.parametrize("content, words", [
    ("42", ["not a solution object"]),
    ('{"stages": []}', ["schema_version"]),
    ('{"stages": "abc"', ["cannot read the solution"]),
    ("", ["cannot read the solution"]),
])
def test_plan_reads_only_solutions(tmp_path, content, words):
    (tmp_path / "solution.json").write_text(content)
    assert_clean(run("plan", "--solution", str(tmp_path / "solution.json"), "--output", str(tmp_path / "o")), 2,
                 words)


def test_plan_with_a_malformed_stage_names_the_field(tmp_path, solution_file):
    data = json.loads(solution_file.read_text())
    data["placement"]["stages"] = "abc"
    (tmp_path / "solution.json").write_text(json.dumps(data))
    assert_clean(run("plan", "--solution", str(tmp_path / "solution.json"), "--output", str(tmp_path / "o")), 2,
                 ["placement.stages"])


def test_validate_with_a_python_that_does_not_exist(solution_file):
    assert_clean(run("validate", "--solution", str(solution_file), "--python", "no-such-python"), 2,
                 ["no-such-python"])


@pytest.mark.parametrize("name, content", [("runs.csv", NOISE), ("runs.json", NOISE), ("runs.json", b"[1, 2")])
def test_calibrate_on_unreadable_measurements(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    assert_clean(run("calibrate", str(tmp_path / name), "--dry-run"), 2, [name])


@pytest.mark.parametrize("cells, words", [("x,256,128,210,", ["row 2", "batch_size", "'x'"]),
                                          ("4,256,128,210,many", ["row 2", "max_num_seqs", "'many'"]),
                                          ("4,,128,210,", ["row 2", "input_tokens", "empty"])])
def test_calibrate_names_the_row_and_column_of_a_malformed_number(tmp_path, cells, words):
    (tmp_path / "runs.csv").write_text("model,gpu_type,tp,pp,batch_size,input_tokens,output_tokens,"
                                       f"measured_output_tokens_per_s,max_num_seqs\nmistral-7b,RTX4090,1,1,{cells}\n")
    assert_clean(run("calibrate", str(tmp_path / "runs.csv"), "--dry-run"), 2, ["runs.csv", *words])


def test_a_corrupt_catalog_is_named(tmp_path, monkeypatch, solution_file):
    catalog = tmp_path / "gpu_pools"
    catalog.mkdir()
    (catalog / "gpus.csv").write_bytes(NOISE)
    (catalog / "prices.csv").write_text("gpu_type,provider,dollar_per_hour\n")
    monkeypatch.setenv("TOKENOP_GPU_CATALOG", str(catalog))
    assert_clean(run("--config-dir", str(solution_file.parent.parent)), 2, ["gpus.csv", "not UTF-8"])
