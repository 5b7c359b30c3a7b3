"""Roofline formulas against known figures and physical monotonicity."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from solver.domain.model import ModelArch
from solver.domain.workload import Settings, Workload
from solver.loaders.catalog import load_catalog
from solver.loaders.models import load_model
from solver.loaders.resources import bundled_dir
from solver.perf import architecture as arch
from solver.perf.deployment import Deployment
from solver.perf.roofline import CUSTOM_ALLREDUCE_LATENCY_S, allreduce_s

LLAMA_8B = ModelArch(name="llama-3.1-8b", num_layers=32, d_model=4096, d_ff=14336, vocab_size=128256, num_heads=32,
                     num_kv_heads=8)
LLAMA_70B = ModelArch(name="llama-3.3-70b", num_layers=80, d_model=8192, d_ff=28672, vocab_size=128256,
                      num_heads=64, num_kv_heads=8)


def test_llama_8b_weights_and_kv():
    assert arch.total_params(LLAMA_8B) / 1e9 == pytest.approx(8.03, abs=0.01)
    assert arch.weights_gb(LLAMA_8B) == pytest.approx(16.06, abs=0.05)
    assert LLAMA_8B.num_layers * arch.kv_bytes_per_token_layer(LLAMA_8B) == 128 * 1024


def test_llama_70b_params():
    assert arch.total_params(LLAMA_70B) / 1e9 == pytest.approx(70.6, abs=0.1)


def predict(perf, catalog, model, gpu, tp, pp, batch, inp=2035, out=300):
    """One pipeline of `pp` stages of `tp` GPUs, each stage working on `batch` requests."""
    work = Workload(input_tokens=inp, output_tokens=out, batch_sizes=[batch])
    return Deployment.uniform(model, work, Settings(), catalog.spec(gpu), tp, pp, batch).pipeline(perf, batch)


def test_throughput_grows_with_batch_and_decode_turns_compute_bound(perf, catalog):
    rates = [predict(perf, catalog, LLAMA_8B, "H100", 1, 1, b) for b in (1, 8, 64)]
    assert rates[0].tokens_per_s < rates[1].tokens_per_s < rates[2].tokens_per_s
    profile = perf.stage_profile(LLAMA_8B, Workload(input_tokens=1, output_tokens=1, batch_sizes=[1]),
                                 catalog.spec("H100"), 80, 1, 1, Settings())
    assert profile.layer_parts[1] > profile.layer_parts[0]  # one token: memory-bound
    big = perf.stage_profile(LLAMA_8B, Workload(input_tokens=1, output_tokens=1, batch_sizes=[4096]),
                             catalog.spec("H100"), 80, 1, 4096, Settings())
    assert big.layer_parts[0] > big.layer_parts[1]  # a 4096-token batch: compute-bound


def test_tp_reduces_memory_per_gpu(perf, catalog):
    one = predict(perf, catalog, LLAMA_8B, "H100", 1, 1, 8)
    two = predict(perf, catalog, LLAMA_8B, "H100", 2, 1, 8)
    assert max(two.memory_gb_per_gpu) < max(one.memory_gb_per_gpu)


def test_an_nvlink_all_reduce_takes_as_long_at_any_tp_degree_and_a_pcie_one_rings(catalog):
    """vLLM's custom all-reduce on NVLink has one latency whatever the degree; on PCIe (custom all-reduce off for
    more than two GPUs) NCCL's ring pays 2(t-1) hops. Bytes cost 2(t-1)/t of the data over the link either way."""
    h100, l40s = catalog.spec("H100"), catalog.spec("L40S")
    assert allreduce_s(0, 1, h100) == 0.0
    assert allreduce_s(0, 2, h100) == allreduce_s(0, 8, h100) == pytest.approx(CUSTOM_ALLREDUCE_LATENCY_S)
    assert allreduce_s(0, 8, l40s) == pytest.approx(7 * allreduce_s(0, 2, l40s))
    message = 64 * 8192 * 2  # a decode step's activations of 64 sequences of an 8192-wide model
    bandwidth = h100.interconnect_gbps * 1e9 * h100.comm_efficiency
    assert allreduce_s(message, 4, h100) - allreduce_s(0, 4, h100) == pytest.approx(1.5 * message / bandwidth)


def test_70b_does_not_fit_one_h100_but_fits_tp4(perf, catalog):
    assert not predict(perf, catalog, LLAMA_70B, "H100", 1, 1, 8).fits
    assert predict(perf, catalog, LLAMA_70B, "H100", 4, 1, 8).fits


def test_fp8_halves_weight_memory():
    fp8 = LLAMA_8B.model_copy(update={"precision": "fp8"})
    assert arch.weights_gb(fp8) == pytest.approx(arch.weights_gb(LLAMA_8B) / 2)


def test_h100_batch1_decode_is_plausible(perf, catalog):
    """Memory-bound decode of 16 GB at ~2.7 TB/s effective: roughly 100-200 tok/s for one request."""
    est = predict(perf, catalog, LLAMA_8B, "H100", 1, 1, 1)
    assert 80 < est.tokens_per_s < 220
    assert 5 < est.tpot_ms < 12


def test_vllm_deployment_splits_requests_into_pipeline_micro_batches(perf, catalog):
    """A vLLM deployment with B requests in flight and P stages runs P micro-batches of B/P: the same rate as the
    per-stage model at B/P, not at B; memory holds the KV cache of all B on every stage; P = 1 is unchanged."""
    spec = catalog.spec("H100")
    work = Workload(input_tokens=2035, output_tokens=300, batch_sizes=[64])
    two = Deployment.uniform(LLAMA_70B, work, Settings(), spec, 4, 2, 64)
    deployed = two.evaluate(perf)
    per_stage_32, per_stage_64 = two.pipeline(perf, 32), two.pipeline(perf, 64)
    assert deployed.tokens_per_s == pytest.approx(per_stage_32.tokens_per_s)
    assert deployed.tokens_per_s < per_stage_64.tokens_per_s
    assert deployed.memory_gb_per_gpu == pytest.approx(per_stage_64.memory_gb_per_gpu)
    single = Deployment.uniform(LLAMA_70B, work, Settings(), spec, 4, 1, 64)
    assert single.evaluate(perf).tokens_per_s == pytest.approx(single.pipeline(perf, 64).tokens_per_s)


def test_attention_is_priced_apart_from_the_gemms(perf, catalog):
    """Attention kernels have their own efficiency: halving it slows a long-context batch far more than a short one
    (KV reads grow with the context, weight reads do not), and never touches the GEMM-only LM head."""
    spec = catalog.spec("H100")

    def decode_step_s(attention_efficiency: float, inp: int) -> tuple[float, float]:
        changed = spec.model_copy(update={"attention_efficiency": attention_efficiency})
        profile = perf.stage_profile(LLAMA_8B, Workload(input_tokens=inp, output_tokens=100, batch_sizes=[8]),
                                     changed, 80, 1, 8, Settings())
        return profile.decode_layer_s, profile.decode_head_s

    short_slowdown = decode_step_s(0.2, 512)[0] / decode_step_s(0.4, 512)[0]
    long_slowdown = decode_step_s(0.2, 16000)[0] / decode_step_s(0.4, 16000)[0]
    assert 1.0 < short_slowdown < 1.1 < 1.5 < long_slowdown < 2.0
    assert decode_step_s(0.2, 16000)[1] == decode_step_s(0.4, 16000)[1]


@pytest.mark.parametrize(("model", "tp", "logged_gib", "tolerance"), [
    ("llama-3.1-8b", 1, 51.38, 0.02), ("qwen3-0.6b", 1, 64.45, 0.02), ("qwen3-32b", 1, 4.45, 0.10)])
def test_the_kv_pool_is_what_vllm_logs_after_its_start_up_profile(perf, catalog, model, tp, logged_gib, tolerance):
    """vLLM 0.10's "Available KV cache memory" on an H100 at its defaults (gpu_memory_utilization 0.9, max-num-seqs
    1024, 8,192 batched tokens; llm-d-benchmark config_explorer/empirical-vllm-memory-results.md): what the weights
    and the profiling run's peak leave. The peak is the sampler's for big vocabularies (4.8-5.6 GiB here), which
    leaves a 32B model a third of the KV cache the forward pass alone would."""
    arch_ = load_model(model)[0]
    work = Workload(input_tokens=1024, output_tokens=128, batch_sizes=[1])
    deployment = Deployment.uniform(arch_, work, Settings(max_num_seqs=1024), catalog.spec("H100"), tp, 1, 1)
    [profile] = deployment.profiles(perf, 1)
    pool_gib = profile.kv_pool_gb(arch_.num_layers, True, True) * 1e9 / 2**30
    assert pool_gib == pytest.approx(logged_gib, rel=tolerance)
    fewer = Deployment.uniform(arch_, work, Settings(max_num_seqs=64), catalog.spec("H100"), tp, 1, 1)
    assert fewer.profiles(perf, 1)[0].kv_pool_gb(arch_.num_layers, True, True) > profile.kv_pool_gb(
        arch_.num_layers, True, True) + 3  # a server launched for fewer requests keeps GBs more for the cache


def test_usable_memory_is_what_cuda_shows_times_the_utilization(perf, catalog):
    """vLLM sizes its pool from the total CUDA reports: on an H100 "80 GB" card that is 79.18 GiB, and vLLM's log
    says "Desired GPU utilization: 0.9 (71.26 GiB)" (llm-d-benchmark's vLLM logs; our own H100 showed the same total).
    A GDDR card with ECC shows ~8% less than it is sold with, which decides how many requests a 24 GB card holds."""
    work, model = Workload(input_tokens=2048, output_tokens=256, batch_sizes=[1]), LLAMA_8B
    h100 = Deployment.uniform(model, work, Settings(gpu_memory_utilization=0.9), catalog.spec("H100"), 1, 1, 1)
    usable_gib = h100.evaluate(perf).usable_gb_per_gpu[0] * 1e9 / 2**30
    assert usable_gib == pytest.approx(71.26, abs=0.01)
    a10g = catalog.spec("A10G")
    assert a10g.visible_memory_share() == pytest.approx(22.06 / 24)
    nominal = a10g.model_copy(update={"cuda_memory_gib": None})
    assert nominal.visible_memory_share() == 1.0  # a catalog without the column: the memory as sold
    shown, sold = (Deployment.uniform(model, work, Settings(), spec, 1, 1, 256).evaluate(perf).concurrency
                   for spec in (a10g, nominal))
    assert 0 < shown < sold < 256  # KV-limited on both, fewer requests on the memory CUDA shows


def test_a_catalog_without_the_cuda_memory_column_takes_the_memory_as_sold(tmp_path):
    """User catalogs written before the column existed still load: their cards show all they are sold with."""
    source = bundled_dir("gpu_pools")
    table = pd.read_csv(source / "gpus.csv", comment="#").drop(columns=["cuda_memory_gib"])
    table.to_csv(tmp_path / "gpus.csv", index=False)
    shutil.copy(source / "prices.csv", tmp_path / "prices.csv")
    spec = load_catalog(tmp_path).spec("A10G")
    assert spec.cuda_memory_gib is None and spec.visible_memory_share() == 1.0
