"""End to end, for real: solve a tiny Llama's scenario, let `validate` start vLLM (CPU build, random weights via
--load-format dummy), run vLLM's serving benchmark against it, and compare. No mocks: the server and the
benchmark are vLLM's own. Needs `make install-vllm`; CI sets TOKENOP_REQUIRE_VLLM=1 so it cannot skip there."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_llama import free_port, require_vllm, write_tiny_llama, write_tiny_scenario

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vllm_env(tmp_path_factory):
    require_vllm()
    catalog = tmp_path_factory.mktemp("catalog") / "gpu_pools"
    shutil.copytree(ROOT / "gpu_pools", catalog)
    (catalog / "calibration.csv").unlink(missing_ok=True)
    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TOKENOP_GPU_CATALOG": str(catalog)}


def tokenop(*args, env):
    return subprocess.run([sys.executable, "-m", "solver", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900)


def test_validate_serves_the_plan_with_vllm_and_reports_predicted_vs_measured(tmp_path, vllm_env):
    model = write_tiny_llama(tmp_path / "model")
    scenario = write_tiny_scenario(tmp_path / "scenario", model, batch=4, input_tokens=64, output_tokens=16)
    run_dir = tmp_path / "run"
    solved = tokenop("--config-dir", str(scenario), "--output", str(run_dir), env=vllm_env)
    assert solved.returncode == 0, solved.stderr
    port = free_port()
    done = tokenop("validate", "--solution", str(run_dir / "solution.json"), "--vllm-arg=--load-format=dummy",
                   "--port", str(port), "--num-prompts", "12", "--calibrate", "--json", env=vllm_env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["benchmark"]["completed"] == 12 and report["benchmark"]["failed"] == 0
    assert report["launch"]["tp"] == 1 and report["launch"]["pp"] == 1 and report["launch"]["max_num_seqs"] == 4
    assert report["measured"]["tokens_per_s"] > 0 and report["measured"]["tpot_ms"] > 0
    assert set(report["relative_error"]) == {"tokens_per_s", "ttft_ms", "tpot_ms"}
    [record] = report["measurements"]
    assert (record["gpu_type"], record["tp"], record["batch_size"], record["output_tokens"]) == ("L4", 1, 4, 16)
    assert json.loads((run_dir / "validation.json").read_text())["measured"] == report["measured"]
    assert "--max-num-seqs 4" in (run_dir / "server.log").read_text().splitlines()[0]
    with socket.socket() as sock:  # the server is gone
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    calibration = Path(vllm_env["TOKENOP_GPU_CATALOG"]) / "calibration.csv"
    assert calibration.read_text().splitlines()[1].startswith("L4,")
    again = tokenop("calibrate", str(run_dir / "validation.json"), "--dry-run", "--json", env=vllm_env)
    assert again.returncode == 0 and json.loads(again.stdout)["runs"] == 1


def test_a_server_that_dies_is_reported_with_its_log(tmp_path, vllm_env):
    model = write_tiny_llama(tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "architectures": ["NoSuchModelForCausalLM"]}))
    scenario = write_tiny_scenario(tmp_path / "scenario", model)
    assert tokenop("--config-dir", str(scenario), "--output", str(tmp_path / "run"), env=vllm_env).returncode == 0
    done = tokenop("validate", "--solution", str(tmp_path / "run" / "solution.json"),
                   "--vllm-arg=--load-format=dummy", "--port", str(free_port()), "--server-timeout", "600",
                   env=vllm_env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "exited with code" in done.stderr and "server.log" in done.stderr
    assert "Traceback (most recent call last)" not in done.stderr.split("Last lines of")[0]
