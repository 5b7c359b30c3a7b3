"""Nightly sweeps for real: a spec run by local processes and by a real local Ray with the same results, resumed
after kill -9 without losing a finished point, history and SQL across nights, a diff that alerts on price moves,
and a report whose figures hold the sweep's numbers."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from solver.cli import main

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "solver"]
SPEC = """name: nightly
scenarios: [demo-tiny, tiny]
grid:
  input_tokens: [256, 1024]
  method: [exact, enumeration]
  prices: prices.csv
time_limit_seconds: 30
"""


def run(*args: str, cwd: Path | None = None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=600)


@pytest.fixture
def spec(tmp_path) -> Path:
    (tmp_path / "prices.csv").write_text((ROOT / "gpu_pools" / "prices.csv").read_text())
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path / "spec.yaml"


def night(root: Path, date: str) -> pd.DataFrame:
    return pd.read_parquet(root / "nightly" / date / "points.parquet").sort_values("key").reset_index(drop=True)


@pytest.mark.parametrize("text, words", [
    ("name: x\nscenarios: [tiny]\ngrid: {colour: red}\n", ["grid.colour", "remove it"]),
    ("name: x\nscenarios: [tiny]\ngrid: {method: fastest}\n", ["grid.method"]),
    ("name: x\nscenarios: []\n", ["scenarios"]),
    ("name: 'a b'\nscenarios: [tiny]\n", ["name"]),
    ("[1, 2\n", ["not valid YAML"]),
    ("- 1\n- 2\n", ["not a mapping"]),
])
def test_a_bad_spec_names_the_key(tmp_path, text, words):
    (tmp_path / "spec.yaml").write_text(text)
    result = CliRunner().invoke(main, ["sweep", str(tmp_path / "spec.yaml"), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    for word in words:
        assert word in result.stderr


@pytest.mark.slow
def test_sweep_runs_resumes_and_matches_ray(spec, tmp_path):
    done = run("sweep", str(spec), "--output", str(tmp_path / "out"), "--date", "2026-11-24", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "8 points, 0 done, 8 to run" in done.stderr
    local = night(tmp_path / "out", "2026-11-24")
    assert len(local) == 8 and set(local["status"]) == {"optimal"}
    assert local["cost_per_million_tokens"].gt(0).all() and local["gpu_mix"].str.contains("x ").all()
    again = run("sweep", str(spec), "--output", str(tmp_path / "out"), "--date", "2026-11-24")
    assert again.returncode == 0 and "8 points, 8 done, 0 to run" in again.stderr
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("TOKENOP_REQUIRE_RAY"):
            pytest.fail("TOKENOP_REQUIRE_RAY is set but Ray is not installed: pip install '.[ray]'")
        pytest.skip("Ray is not installed (pip install '.[ray]')")
    on_ray = run("sweep", str(spec), "--output", str(tmp_path / "ray"), "--date", "2026-11-24", "--ray")
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    ray = night(tmp_path / "ray", "2026-11-24")
    columns = ["key", "status", "cost_per_million_tokens", "placement", "gpu_mix"]
    pd.testing.assert_frame_equal(local[columns], ray[columns])


@pytest.mark.slow
def test_kill_9_mid_sweep_loses_no_finished_point(tmp_path):
    (tmp_path / "spec.yaml").write_text("name: nightly\nscenarios: [demo-medium]\ngrid:\n  input_tokens: [1024, 1536, "
                                        "2048, 2560, 3072, 3584]\n  method: exact\ntime_limit_seconds: 60\n")
    out = tmp_path / "out"
    process = subprocess.Popen([*CLI, "sweep", str(tmp_path / "spec.yaml"), "--output", str(out), "--workers", "1",
                                "--date", "2026-11-24", "--quiet"], cwd=ROOT, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    points = out / "nightly" / "2026-11-24" / "points"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(points.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = {p.name: pq.read_table(p).to_pylist() for p in points.glob("*.parquet")}  # every file reads whole
    assert 2 <= len(kept) < 6
    resumed = run("sweep", str(tmp_path / "spec.yaml"), "--output", str(out), "--date", "2026-11-24")
    assert resumed.returncode == 0, resumed.stderr
    assert f"6 points, {len(kept)} done, {6 - len(kept)} to run" in resumed.stderr
    assert {p.name: pq.read_table(p).to_pylist() for p in points.glob("*.parquet") if p.name in kept} == kept
    assert len(night(out, "2026-11-24")) == 6 and not list(points.glob(".point-*"))


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_and_keeps_what_finished(tmp_path):
    (tmp_path / "spec.yaml").write_text("name: nightly\nscenarios: [demo-large]\ngrid:\n  input_tokens: [1024, 2048, "
                                        "3072]\ntime_limit_seconds: 60\n")
    process = subprocess.Popen([*CLI, "sweep", str(tmp_path / "spec.yaml"), "--output", str(tmp_path / "out"),
                                "--workers", "1", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err
    assert "rerun the same command to resume" in err


@pytest.mark.slow
def test_history_diff_and_report_over_two_nights_with_different_prices(spec, tmp_path):
    out = tmp_path / "out"
    assert run("sweep", str(spec), "--output", str(out), "--date", "2026-11-24", "--quiet").returncode == 0
    same = run("sweep", "diff", str(out), "--name", "nightly")
    assert same.returncode == 2 and "only one night" in same.stderr
    prices = spec.parent / "prices.csv"
    prices.write_text(prices.read_text().replace("A100,neocloud,1.29", "A100,neocloud,0.40"))
    assert run("sweep", str(spec), "--output", str(out), "--date", "2026-11-25", "--quiet").returncode == 0
    changed = run("sweep", "diff", str(out), "--name", "nightly")
    assert changed.returncode == 1, changed.stderr
    note = (out / "nightly" / "2026-11-25" / "diff.md").read_text()
    assert "moved more than 5%" in note and "tiny" in note and note == changed.stdout.rstrip("\n") + "\n"
    history = run("sweep", "history", str(out), "--name", "nightly")
    assert history.returncode == 0 and "2026-11-24" in history.stdout and "2026-11-25" in history.stdout
    sql = run("sweep", "history", str(out), "--name", "nightly", "--sql",
              "SELECT run_date, count(*) AS n FROM points GROUP BY run_date ORDER BY run_date")
    assert sql.returncode == 0 and "8" in sql.stdout

    from solver.report.sweep import write_report
    from solver.sweeps.history import rows

    frame = rows(out, "nightly")
    figures = write_report(frame, "nightly", tmp_path / "report")
    for name in ("index.html", "cost_by_point.png", "pareto.png", "savings.png", "trend.png", "placements.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000, name
    latest = frame[frame["run_date"] == "2026-11-25"]
    assert sorted(figures["cost_by_point"]["cost_per_million_tokens"]) == sorted(latest["cost_per_million_tokens"])
    assert figures["trend"]["nights"] == ["2026-11-24", "2026-11-25"]
    assert set(figures["placements"]["placements"]) == {"demo-tiny", "tiny"}
    assert all(len(front) >= 1 for front in figures["pareto"]["fronts"].values())
    assert "data:image/png;base64," in (tmp_path / "report" / "index.html").read_text()
    cli = run("report", str(out), "--name", "nightly")
    assert cli.returncode == 0 and (out / "nightly" / "report" / "index.html").is_file()


def test_the_python_api_runs_a_sweep(spec, tmp_path):
    from solver import sweep

    frame = sweep(spec, tmp_path / "out", workers=1, run_date="2026-11-24")
    assert len(frame) == 8 and set(frame["status"]) == {"optimal"}
    assert json.loads(frame["gpus_by_type"].iloc[0])


def test_a_new_performance_model_version_solves_the_points_again(monkeypatch):
    """A point's key covers the performance model's version: after a model change, a resumed night does not keep
    answers the old model gave, and every row says which model gave it."""
    from solver.perf.roofline import RooflineModel
    from solver.sweeps.point import data_hash, engine_version
    from solver.sweeps.spec import Point

    point = Point(scenario="tiny")
    before, stamp = data_hash(point), engine_version()
    assert stamp.endswith(f"roofline v{RooflineModel.version}")
    monkeypatch.setattr(RooflineModel, "version", "test")
    assert data_hash(point) != before and engine_version() != stamp


def test_diff_says_first_when_the_performance_model_changed_between_nights():
    from solver.sweeps.history import diff, markdown

    night = {"point_id": "p1", "scenario": "tiny", "status": "optimal", "message": "",
             "placement": '[["A100", 1, 0, 4]]', "cost_per_million_tokens": 1.0}
    frame = pd.DataFrame([{**night, "run_date": "2026-11-25", "tool_version": "0.2.0, roofline v9"},
                          {**night, "run_date": "2026-11-26", "tool_version": "0.2.0, roofline v10",
                           "cost_per_million_tokens": 1.2}])
    changes, _, _ = diff(frame, 0.05)
    assert [c.kind for c in changes] == ["engine", "cost"]
    assert (changes[0].before, changes[0].after) == ("0.2.0, roofline v9", "0.2.0, roofline v10")
    note = markdown(changes, "2026-11-25", "2026-11-26", "nightly", 0.05)
    assert note.index("performance model changed") < note.index("moved more than")
    assert not diff(frame.assign(tool_version="0.2.0, roofline v10"), 0.5)[0]


@pytest.mark.slow
def test_a_sweep_runs_under_the_calibration_profile_asked_on_ray_too(tmp_path):
    """`--calibration none` reaches every point, on local processes and on Ray workers alike (which get it as a
    task environment, as a cluster's would): `tiny` at 1K-token prompts is an A100 plan priced by the datasheet
    priors, not the calibrated default, and the points are keyed apart from the default profile's."""
    (tmp_path / "spec.yaml").write_text("name: nightly\nscenarios: [tiny]\ngrid:\n  input_tokens: [256, 1024]\n"
                                        "  method: exact\ntime_limit_seconds: 30\n")
    nights = {}
    for name, profile, where in (("default", [], []), ("local", ["--calibration", "none"], []),
                                 ("ray", ["--calibration", "none"], ["--ray"])):
        done = run(*profile, "sweep", "run", str(tmp_path / "spec.yaml"), "--output", str(tmp_path / name),
                   "--date", "2026-11-26", "--workers", "1", *where)
        assert done.returncode == 0, done.stderr[-2000:]
        nights[name] = night(tmp_path / name, "2026-11-26")
    columns = ["key", "cost_per_million_tokens", "placement"]
    pd.testing.assert_frame_equal(nights["local"][columns], nights["ray"][columns])
    assert set(nights["local"]["key"]).isdisjoint(nights["default"]["key"])
    by_tokens = {n: nights[n].set_index("input_tokens")["cost_per_million_tokens"] for n in ("local", "default")}
    assert by_tokens["local"][1024] < 0.99 * by_tokens["default"][1024]  # an A100 plan: priors vs calibrated


def test_ray_tasks_carry_the_catalog_choices(monkeypatch):
    """A cluster's workers do not share the driver's environment: the catalog folder and calibration profile chosen
    here travel with every Ray task, and nothing is added when none was chosen."""
    from solver.loaders.catalog import CALIBRATION_ENV, CATALOG_ENV
    from solver.sweeps.run import catalog_env

    monkeypatch.delenv(CATALOG_ENV, raising=False)
    monkeypatch.delenv(CALIBRATION_ENV, raising=False)
    assert catalog_env() == {}
    monkeypatch.setenv(CALIBRATION_ENV, "vllm-0.26")
    monkeypatch.setenv(CATALOG_ENV, "/srv/catalog")
    assert catalog_env() == {"runtime_env": {"env_vars": {CATALOG_ENV: "/srv/catalog", CALIBRATION_ENV: "vllm-0.26"}}}
