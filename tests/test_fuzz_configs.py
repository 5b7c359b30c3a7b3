"""Mutated scenario files through the CLI: whatever a user's editor or a broken script does to config.csv,
gpu_pool.csv or network_bandwidth.csv, the answer is a plan (0), a named input error (2), an explained infeasibility
(3) or a clear time-out (4), never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.cli import main

PRESETS = Path(__file__).resolve().parent.parent / "configs"
TOKENS = ["", "0", "-1", "1", "2", "3", "0.5", "1e12", "-1e12", "nan", "inf", "-inf", "abc", "true", "perhaps",
          "1|2|4", "0|0", "9999999999999999999999", "1,2", "\u00e9", "   ", "None"]

mutation = st.fixed_dictionaries({
    "preset": st.sampled_from(["tiny", "small", "demo-tiny", "demo-small"]),
    "file": st.sampled_from(["config.csv", "config.csv", "config.csv", "gpu_pool.csv", "network_bandwidth.csv"]),
    "kind": st.sampled_from(["value", "value", "value", "delete", "duplicate", "garbage", "truncate", "cell"]),
    "line": st.integers(0, 40),
    "column": st.integers(0, 4),
    "token": st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)),
    "cut": st.integers(0, 400),
})


def mutate(text: str, m: dict) -> str:
    lines = text.splitlines()
    if not lines:
        return m["token"]
    i = m["line"] % len(lines)
    if m["kind"] == "value":
        key = lines[i].split(",")[0]
        lines[i] = f"{key},{m['token']}"
    elif m["kind"] == "cell":
        cells = lines[i].split(",")
        cells[m["column"] % len(cells)] = m["token"]
        lines[i] = ",".join(cells)
    elif m["kind"] == "delete":
        del lines[i]
    elif m["kind"] == "duplicate":
        lines.insert(i, lines[i])
    elif m["kind"] == "garbage":
        lines.insert(i, m["token"])
    else:
        return text[: m["cut"]]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
# CI replays the same 300 mutations every run (conftest.py's Hypothesis profile); elsewhere each run explores new ones.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=mutation)
def test_mutated_scenarios_never_print_a_traceback(tmp_path_factory, m):
    folder = tmp_path_factory.mktemp("fuzz") / m["preset"]
    shutil.copytree(PRESETS / m["preset"], folder)
    target = folder / m["file"]
    if target.exists():
        target.write_text(mutate(target.read_text(), m))
    result = CliRunner().invoke(main, ["--config-dir", str(folder), "--time-limit", "2", "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (m, repr(result.exception))
    assert result.exit_code in (0, 2, 3, 4), (m, result.output[-2000:])
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert "Fix:" in result.stderr or "Error: Invalid value" in result.stderr, (m, result.stderr)


# CI replays the same mutations every run (conftest.py's Hypothesis profile); elsewhere each run explores new ones.
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=mutation, buckets=st.integers(1, 5))
def test_mutated_workload_files_are_a_mix_or_one_named_error(tmp_path_factory, m, buckets):
    """A request-mix file (`capacity --workload`) mangled the same ways: it loads as buckets whose shares sum to
    one, or it is one ConfigError naming the file and a fix."""
    from solver.domain.errors import UserError
    from solver.loaders.workload_mix import load_mix

    path = tmp_path_factory.mktemp("mix") / "mix.csv"
    path.write_text(mutate((PRESETS / "workloads" / "chat-mix.csv").read_text(), m))
    try:
        mix = load_mix(path, buckets)
    except UserError as exc:
        assert "mix.csv" in str(exc) and "Fix:" in str(exc), (m, str(exc))
        return
    assert 1 <= len(mix.buckets) <= buckets
    assert sum(b.share for b in mix.buckets) == pytest.approx(1.0)
    assert all(b.input_tokens >= 1 and b.output_tokens >= 1 for b in mix.buckets)
