"""Launch plans from placements, the plan verb, and validate's failure paths that need no vLLM server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from solver.domain.placement import Placement, Stage
from solver.vllm.launch import launch_plan, launch_script, max_model_len

ROOT = Path(__file__).resolve().parent.parent


def placement(stages: list[tuple[str, int, int]], batch: int = 32) -> Placement:
    """stages: (gpu_type, tp, layers)."""
    out, start = [], 0
    for gpu, tp, layers in stages:
        out.append(Stage(pool=gpu, gpu_type=gpu, tp=tp, first_layer=start, end_layer=start + layers,
                         dollar_per_hour=tp * 2.0, tokens_per_s=1000.0, memory_gb_per_gpu=40.0))
        start += layers
    return Placement(stages=out, batch_size=batch, tokens_per_s=1000.0, dollar_per_hour=10.0, ttft_ms=100.0,
                     tpot_ms=20.0, bound="memory")


def test_uneven_split_sets_the_partition_and_default_split_does_not():
    uneven = launch_plan(placement([("H100", 4, 24), ("H100", 4, 56)]), "m", 2000, 300, 0.9, {"H100": 8})
    assert uneven.deployable and uneven.env == {"VLLM_PP_LAYER_PARTITION": "24,56"}
    args = uneven.serve_args()
    assert args[args.index("--tensor-parallel-size") + 1] == "4"
    assert args[args.index("--pipeline-parallel-size") + 1] == "2"
    assert args[args.index("--max-num-seqs") + 1] == "64"  # 2 stages x micro-batch 32 requests in flight
    assert "--distributed-executor-backend" not in args  # 8 GPUs: one node
    even = launch_plan(placement([("H100", 4, 27), ("H100", 4, 27), ("H100", 4, 26)]), "m", 2000, 300, 0.9,
                       {"H100": 8})
    assert even.env == {}  # vLLM's own split of 80 layers over 3 stages is 27,27,26


def test_mixed_tp_is_not_deployable_and_says_what_to_do():
    plan = launch_plan(placement([("A100", 2, 16), ("A10", 4, 16)]), "m", 1024, 256, 0.9, {"A100": 8, "A10": 8})
    assert not plan.deployable
    assert "--vllm-deployable" in plan.problems[0]
    assert any("different GPU types" in note for note in plan.notes)


def test_multi_node_pipeline_gets_ray_steps_with_the_partition_on_every_node():
    plan = launch_plan(placement([("L40S", 4, 30), ("L40S", 4, 30), ("L40S", 4, 20)]), "org/model", 2048, 512,
                       0.85, {"L40S": 4})
    assert len(plan.nodes) == 3 and "--distributed-executor-backend" in plan.serve_args()
    script = launch_script(plan, ["test"])
    assert "export VLLM_PP_LAYER_PARTITION=30,30,20" in script
    assert "ray start --head" in script and 'ray start --address="${2:?' in script
    assert script.index("VLLM_PP_LAYER_PARTITION") < script.index("case ")  # exported before any ray start
    assert max_model_len(2048, 512) >= 2560 and max_model_len(2048, 512) % 16 == 0


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "solver", *args], capture_output=True, text=True, cwd=ROOT, **kwargs)


def test_plan_verb_writes_launch_files_that_bash_accepts(tmp_path):
    done = run("plan", "--config-dir", "demo-small", "--output", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["deployable"] and plan["pp"] == len(plan["layer_partition"])
    for name in ("launch.sh", "plan.json", "solution.json"):
        assert (tmp_path / name).is_file()
    assert subprocess.run(["bash", "-n", str(tmp_path / "launch.sh")]).returncode == 0
    solution = json.loads((tmp_path / "solution.json").read_text())
    assert len({s["tp"] for s in solution["placement"]["stages"]}) == 1


def test_plan_of_a_mixed_tp_solution_is_refused_with_the_fix(tmp_path):
    data = json.loads(run("--config-dir", "demo-small", "--json").stdout)
    data["placement"] = placement([("A10", 1, 8), ("L4", 2, 8)]).model_dump()
    (tmp_path / "solution.json").write_text(json.dumps(data))
    for verb in ("plan", "validate"):
        extra = ["--output", str(tmp_path / "out")] if verb == "plan" else []
        done = run(verb, "--solution", str(tmp_path / "solution.json"), *extra)
        assert done.returncode == 2 and "one TP degree" in done.stderr and "Traceback" not in done.stderr


def test_validate_reports_taken_port_missing_vllm_and_dead_endpoint(tmp_path):
    assert run("--config-dir", "demo-tiny", "--output", str(tmp_path)).returncode == 0
    solution = str(tmp_path / "solution.json")
    no_vllm = tmp_path / "python-without-packages"
    no_vllm.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    no_vllm.chmod(0o755)
    done = run("validate", "--solution", solution, "--python", str(no_vllm))
    assert done.returncode == 2 and "vLLM is not installed" in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = run("validate", "--solution", solution, "--port", str(port), "--python", sys.executable)
        if "vLLM is not installed" not in done.stderr:  # the port check follows the vLLM check
            assert done.returncode == 2 and f"port {port} is already taken" in done.stderr
    done = run("validate", "--solution", solution, "--base-url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "no healthy server" in done.stderr
    assert not (tmp_path / "validation.json").exists()
