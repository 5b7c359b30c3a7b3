"""A normal (non-editable) install carries the catalog and the presets: build the wheel, install it into a fresh
folder, and solve a bundled preset from an empty directory with nothing of the checkout on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_wheel_install_solves_a_preset_from_an_empty_directory(tmp_path):
    dist, site, empty = tmp_path / "dist", tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(ROOT)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = dist.glob("tokenop_solve-*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("TOKENOP_GPU_CATALOG", None)
    where = subprocess.run([sys.executable, "-c", "import solver; from solver.loaders.resources import bundled_dir; "
                            "print(solver.__file__, bundled_dir('gpu_pools'), bundled_dir('configs'))"],
                           capture_output=True, text=True, cwd=empty, env=env)
    assert where.returncode == 0, where.stderr
    assert all(part.startswith(str(site)) for part in where.stdout.split()), where.stdout
    done = subprocess.run([sys.executable, "-m", "solver", "--config-dir", "medium", "--json"], capture_output=True,
                          text=True, cwd=empty, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["placement"]["cost_per_million_tokens"] > 0
