"""Config loading: presets, the older solver's folders unchanged, and clear errors for bad input."""

from __future__ import annotations

import pytest

from solver.domain.errors import ConfigError
from solver.loaders.config_csv import powers_of_two_between
from solver.loaders.scenario import load_scenario, preset_names, resolve_config_dir

OLD_MEDIUM = """parameter,value
model_name,llama-8b
num_decoder_layers,32
d_model,8192
d_hidden,22016
vocab_size,32000
num_attention_heads,64
layer_weight_memory_gb,3.5
time_limit_seconds,300
optimality_gap,0.05
bytes_per_element,2
enable_segment_quantization,true
max_pipeline_stages,8
min_layers_per_stage,5
min_memory_utilization,0.5
network_bandwidth_percentile_threshold,0.1
optimization_priority,cost_first
max_hourly_cost,999.0
max_cost_per_million_token,100
max_total_cost,999999.0
max_total_runtime_hours,999999.0
throughput_normalization,10000.0
cost_normalization,1.0
total_tokens_to_process,1000000
real_world_efficiency,0.30
micro_batch_size,8
num_kv_heads,64
sequence_length,2048
min_batch_size,32
max_batch_size,256
"""


def write(tmp_path, config=OLD_MEDIUM, pool="gpu_type,count,memory_gb\nA100,5,48\nL20,10,48\nA10,10,24\n"):
    (tmp_path / "config.csv").write_text(config)
    (tmp_path / "gpu_pool.csv").write_text(pool)
    return tmp_path


# The older solver's `large` ships a 28x28 matrix for 80 GPUs; its scripts always ran it with generated bandwidths.
GENERATED = {"large": (400.0, 200.0)}


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name):
    scenario = load_scenario(resolve_config_dir(name)[0], generate_network=GENERATED.get(name))
    assert scenario.pools and scenario.model.num_layers > 0


def test_the_mismatched_matrix_of_large_names_the_older_flag():
    with pytest.raises(ConfigError, match="28x28 but gpu_pool.csv lists 80 GPUs.*--generate-network"):
        load_scenario(resolve_config_dir("large")[0])


def test_old_solver_config_reads_unchanged(tmp_path):
    s = load_scenario(write(tmp_path))
    assert s.model.num_layers == 32 and s.model.d_ff == 22016 and s.model.precision == "bf16"
    assert s.model.layer_weight_memory_gb == 3.5
    assert s.workload.input_tokens + s.workload.output_tokens == 2048
    assert s.workload.batch_sizes == [32, 64, 128, 256]
    assert s.settings.segment_quantization == "auto" and s.settings.min_memory_utilization == 0.5
    assert [p.gpu_type for p in s.pools] == ["A100", "L20", "A10"]
    assert s.pools[0].memory_gb == 48 and s.pools[0].dollar_per_hour > 0  # memory override, catalog price
    # Every older key is read; where its meaning differs here, one notice says so (and nothing is "unknown").
    notices = " ".join(s.warnings)
    for key in ("optimality_gap 0.05", "real_world_efficiency 0.3", "micro_batch_size 8", "layer_weight_memory_gb 3.5",
                "--cloud-provider AWS"):
        assert key in notices, key
    assert "unknown key" not in notices and len(s.warnings) == 5
    assert s.settings.cost_throughput_weight == 0.9  # optimization_priority cost_first, as the older solver mapped it
    assert s.settings.optimality_gap == 1e-4


def test_unknown_key_warns_but_loads(tmp_path):
    s = load_scenario(write(tmp_path, OLD_MEDIUM + "shiny_new_knob,3\n"))
    assert any("shiny_new_knob" in w and "row" in w for w in s.warnings)


def test_preset_resolution_of_old_paths():
    path, note = resolve_config_dir("config/medium")
    assert path.name == "medium" and note and "config/medium" in note


@pytest.mark.parametrize("pool, expected", [
    ("gpu_type,count\nB9000,4\n", ["gpu_pool.csv", "row 2", "gpu_type", "B9000", "H100"]),
    ("gpu_type,count\nA100,-2\n", ["row 2", "count", "non-negative whole number"]),
    ("gpu,count\nA100,2\n", ["columns", "gpu_type"]),
    ("gpu_type,count,memory_gb\nA100,2,zero\n", ["row 2", "memory_gb", "not a number"]),
])
def test_bad_pool_rows_name_file_row_and_fix(tmp_path, pool, expected):
    with pytest.raises(ConfigError) as err:
        load_scenario(write(tmp_path, pool=pool))
    for text in expected + ["Fix:"]:
        assert text in str(err.value)


def test_bad_config_value_names_row_and_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_scenario(write(tmp_path, OLD_MEDIUM.replace("max_pipeline_stages,8", "max_pipeline_stages,-1")))
    assert "row 13" in str(err.value) and "max_pipeline_stages" in str(err.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="config.csv is missing"):
        load_scenario(tmp_path)
    (tmp_path / "config.csv").write_text(OLD_MEDIUM)
    with pytest.raises(ConfigError, match="gpu_pool.csv is missing"):
        load_scenario(tmp_path)


def test_bandwidth_matrix_shape_is_checked(tmp_path):
    write(tmp_path, pool="gpu_type,count\nL4,2\n")
    (tmp_path / "network_bandwidth.csv").write_text(",gpu_0\ngpu_0,0\n")
    with pytest.raises(ConfigError, match="2x2"):
        load_scenario(tmp_path)


def test_bandwidth_matrix_sets_pool_links():
    s = load_scenario(resolve_config_dir("demo-small")[0])
    # small/network_bandwidth.csv: 12.5 GB/s between nodes, 32 GB/s inside the A10 node.
    assert s.bandwidth_gbps[0, 1] == pytest.approx(12.5)
    assert s.bandwidth_gbps[0, 0] == pytest.approx(32.0)


def test_batch_sweep_is_powers_of_two():
    assert powers_of_two_between(8, 64) == [8, 16, 32, 64]
    assert powers_of_two_between(3, 20) == [3, 4, 8, 16, 20]
