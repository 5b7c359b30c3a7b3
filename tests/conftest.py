"""Shared builders: small scenarios made in code (no files) for property tests, and Hypothesis's profile: CI replays
the same examples every run (derandomize), so a red CI is a change's doing; elsewhere each run explores new ones
(and scripts/soak_oracle.py explores hundreds more)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings

from solver.domain.hardware import Pool
from solver.domain.model import ModelArch
from solver.domain.scenario import Scenario
from solver.domain.workload import Settings, Workload
from solver.loaders.catalog import load_catalog
from solver.loaders.pools import pool_bandwidths
from solver.perf import get_model

hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def perf():
    return get_model("roofline")


def make_scenario(catalog, pools: list[tuple[str, int, float, float]], layers: int = 4, layer_gb: float = 2.0,
                  batch: int = 4, settings: dict | None = None, workload: dict | None = None) -> Scenario:
    """pools: (gpu_type, count, memory_gb, $/h)."""
    model = ModelArch(name="test", num_layers=layers, d_model=1024, d_ff=2816, vocab_size=8000, num_heads=8,
                      num_kv_heads=2, layer_weight_memory_gb=layer_gb)
    work = Workload(**({"input_tokens": 256, "output_tokens": 64, "batch_sizes": [batch]} | (workload or {})))
    s = Settings(**({"tp_degrees": [1, 2]} | (settings or {})))
    built = [Pool(name=catalog.canonical(g), gpu_type=catalog.canonical(g), count=c, memory_gb=mem,
                  dollar_per_hour=price, spec=catalog.spec(g)) for g, c, mem, price in pools]
    return Scenario(model, work, s, built, pool_bandwidths(built, s, None))


def assert_clean(result, code: int, words: list[str]) -> None:
    """Exit code, no traceback (no exception escaped), and the words of the one message."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    message = " ".join(result.stderr.split())
    for word in words:
        assert word in message, (word, message)


def fork_layout(root, pools: str, extra_config: str = ""):
    """The older solver's fork layout: `root`/config/llama-8b/config.csv (Llama-3.1-8B) with no pool file of its
    own, and the shared `pools` (gpu_pool.csv text) one level up; returns the model's folder."""
    models = root / "config"
    (models / "llama-8b").mkdir(parents=True)
    (models / "gpu_pool.csv").write_text(pools)
    (models / "llama-8b" / "config.csv").write_text(
        "parameter,value\nmodel_name,llama-3.1-8b\nnum_decoder_layers,32\nd_model,4096\nd_hidden,14336\n"
        "vocab_size,128256\nnum_attention_heads,32\nnum_kv_heads,8\nhead_dim,128\nsequence_length,2048\n"
        "min_batch_size,32\nmax_batch_size,32\nmax_pipeline_stages,4\nmin_layers_per_stage,4\n" + extra_config)
    return models / "llama-8b"


def pytest_terminal_summary(terminalreporter):
    """Report how often the oracle property tests reached the hard cases."""
    from tests.oracle import CASES

    if CASES["instances"]:
        shares = ", ".join(f"{name} {count / CASES['instances']:.0%}" for name, count in CASES.items()
                           if name != "instances")
        terminalreporter.write_line(f"oracle instances: {CASES['instances']} ({shares})")
