"""scripts/gpu_vllm_bench.py, the script that measured results/calibration/vllm_h200_runs.csv on a lent GPU, run
for real on vLLM's CPU build with a tiny random-weight Llama: it writes runs CSV rows that calibration reads
(needs `make install-vllm`; CI sets TOKENOP_REQUIRE_VLLM=1 so it cannot skip there)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from solver.calibration.measurements import read_measurements
from solver.loaders.catalog import load_catalog
from tests.tiny_llama import require_vllm, write_tiny_llama

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def test_bench_script_writes_runs_that_calibration_reads(tmp_path):
    require_vllm()
    config = write_tiny_llama(tmp_path / "tiny") / "config.json"
    output = tmp_path / "runs.csv"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "scripts/gpu_vllm_bench.py", "--config", str(config), "--grid", "32x8:1,3",
                           "--grid", "64x4:2", "--output", str(output), "--gpu-memory-utilization", "0.1",
                           "--warm-each"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = list(csv.DictReader(output.open()))
    assert [(r["batch_size"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        ("1", "32", "8"), ("3", "32", "8"), ("2", "64", "4")]
    assert all(float(r["measured_output_tokens_per_s"]) > 0 and r["vllm_version"] for r in rows)
    assert "load_format='dummy'" in rows[0]["command"] and "--grid 32x8:1,3" in rows[0]["command"]
    for row in rows:  # as on a GPU, where gpu_type is the catalog's name of the card
        row.update(gpu_type="L4", model=str(config))
    with output.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    runs = read_measurements(output, load_catalog())
    assert [(m.batch_size, m.model.num_layers, m.model.precision) for m in runs] == [(1, 2, "bf16"), (3, 2, "bf16"),
                                                                                     (2, 2, "bf16")]
