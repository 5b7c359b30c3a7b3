"""Fit the performance model's per-GPU factors (efficiencies and fixed overheads) to measured runs.

For each GPU type we minimise the squared log error of predicted vs measured generated tok/s over its runs, with
a weak pull towards the catalog's datasheet priors so that factors the data cannot identify (communication
efficiency without TP > 1 runs, say) stay where they were. Repeated runs of one configuration stay on one side
of the fit/holdout split, so the holdout error is an honest estimate for unseen deployments.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from solver.calibration.records import Measurement
from solver.domain.hardware import CALIBRATED_FIELDS, Catalog, GpuSpec
from solver.domain.workload import Settings, Workload
from solver.perf.base import PerformanceModel
from solver.perf.deployment import Deployment
from solver.perf.estimate import PipelineEstimate
from solver.storage.atomic import write_csv_atomic

# Physically plausible ranges (lower, upper) and the scale of a "large" change, per fitted factor. Kept tight on
# purpose: a fit that needs 9% of peak FLOPS is fitting a modelling gap, not the GPU, and would mislead the planner.
# Compute from 0.5: large GEMMs reach 70-80% of peak (76% on our lent H100) and vLLM's prefill is made of them; on
# sweeps with short prompts the fit otherwise bought slower large-batch decode with it (0.28 on the A100-40GBs) and
# predicted prompt-heavy work half as fast as it runs.
BOUNDS = {"compute_efficiency": (0.5, 0.9), "memory_efficiency": (0.3, 0.95),
          "attention_efficiency": (0.2, 1.0), "comm_efficiency": (0.1, 0.9),
          "layer_overhead_us": (0.0, 1000.0), "step_overhead_ms": (0.0, 100.0),
          "seq_overhead_us": (0.0, 500.0)}
SCALE = {"compute_efficiency": 0.3, "memory_efficiency": 0.3, "attention_efficiency": 0.3,
         "comm_efficiency": 0.3, "layer_overhead_us": 200.0,
         "step_overhead_ms": 20.0, "seq_overhead_us": 100.0}
PRIOR_WEIGHT = 0.05  # a move of one SCALE costs as much as a 5% log error on one run
# Errors beyond ~10% count linearly, not squared (scipy's soft_l1 loss): a cluster of runs no factor explains (the
# published Mistral-7B H100 runs at half the speed of Llama-3-8B of the same shape) otherwise drags the factors
# every other run shares. Fitted with squares, the H100 took 83% of peak FLOPS for its GEMMs (our lent H100
# measured 76% on large GEMMs; the H200, the same chip, fits 66%); robust, 66%, and the held-out runs' error fell
# from 6% / 18% (median / p90) to 5% / 15%. 10% is the spread of repeated runs of one configuration.
ROBUST_SCALE = 0.1
# Measured, not fitted by default: the fixed time per layer comes from whole decode steps timed on a GPU
# (results/calibration/gpu_kernels/). Throughput sweeps of one or two models cannot tell it from the step overhead
# and the all-reduce efficiency: fitted freely on the H100 sweeps it went to 0 and predicted a sweep left out at 15%
# median error; held at the measurement, 8.5%. Where one engine version was measured at batch 1 on models of
# several depths (our vLLM 0.26 runs on an H200: 16 to 80 layers), the data do separate the two, and
# `calibrate --fit-layer-overhead H200` fits it too (DEPTH_FITTED_FIELDS).
FITTED_FIELDS = tuple(f for f in CALIBRATED_FIELDS if f != "layer_overhead_us")
DEPTH_FITTED_FIELDS = tuple(CALIBRATED_FIELDS)


def served(m: Measurement, spec: GpuSpec, perf: PerformanceModel) -> PipelineEstimate:
    """The prediction of a measured deployment as its vLLM server ran it."""
    settings = Settings(gpu_memory_utilization=m.gpu_memory_utilization, max_num_seqs=m.max_num_seqs)
    chunk = {"prefill_chunk_tokens": m.max_num_batched_tokens} if m.max_num_batched_tokens else {}
    work = Workload(input_tokens=m.input_tokens, output_tokens=m.output_tokens, batch_sizes=[m.batch_size], **chunk)
    deployment = Deployment.uniform(m.model, work, settings, spec, m.tp, m.pp, m.batch_size, m.gpus_per_node,
                                    list(m.stage_layers) if m.stage_layers else None, m.dp)
    return deployment.evaluate_served(perf)[0]


def predict(m: Measurement, spec: GpuSpec, perf: PerformanceModel) -> float:
    """Predicted generated tok/s of a measured deployment (0 when its weights do not fit)."""
    return served(m, spec, perf).tokens_per_s


def relative_errors(runs: list[Measurement], spec: GpuSpec, perf: PerformanceModel) -> np.ndarray:
    """predicted / measured - 1 per run."""
    return np.array([predict(m, spec, perf) / m.tokens_per_s - 1 for m in runs])


def median_abs(errors: np.ndarray) -> float:
    return float(np.median(np.abs(errors))) if len(errors) else float("nan")


def split(runs: list[Measurement], holdout: float) -> tuple[list[Measurement], list[Measurement]]:
    """Deterministic split by configuration: every k-th configuration (k = round(1 / holdout)) of each GPU type,
    in sorted order, is held out; a type with fewer than k configurations is fitted on all of them."""
    if holdout <= 0:
        return list(runs), []
    k = max(round(1 / holdout), 2)
    fit, held = [], []
    for gpu in sorted({m.gpu_type for m in runs}):
        configurations = sorted({m.configuration() for m in runs if m.gpu_type == gpu}, key=repr)
        out = set(configurations[k - 1::k]) if len(configurations) >= k else set()
        for m in runs:
            if m.gpu_type == gpu:
                (held if m.configuration() in out else fit).append(m)
    return fit, held


def source_weights(runs: list[Measurement]) -> np.ndarray:
    """Per-run weights (mean 1) under which every source file counts the same, so that a 300-run sweep of one
    vLLM version does not drown the 10-run sweeps of another (long contexts, recent vLLM) on the same GPU type."""
    files = [m.file for m in runs]
    counts = Counter(files)
    return np.array([len(runs) / (len(counts) * counts[f]) for f in files])


def fit_factors(runs: list[Measurement], spec: GpuSpec, perf: PerformanceModel,
                fields: tuple[str, ...] = FITTED_FIELDS) -> GpuSpec:
    """Robust least squares on log(predicted / measured) with a weak prior; a few starting points because the roofline's
    max(compute, memory) makes the error surface piecewise smooth. The fields not in `fields` keep `spec`'s
    values."""
    names = list(fields)
    lower = np.array([BOUNDS[n][0] for n in names])
    upper = np.array([BOUNDS[n][1] for n in names])
    scale = np.array([SCALE[n] for n in names])
    prior = np.clip(np.array([getattr(spec, n) for n in names], dtype=float), lower, upper)
    measured = np.array([m.tokens_per_s for m in runs])
    weight = np.sqrt(source_weights(runs))

    def residuals(x: np.ndarray) -> np.ndarray:
        candidate = spec.model_copy(update=dict(zip(names, map(float, x))))
        predicted = np.array([predict(m, candidate, perf) for m in runs])
        return np.r_[weight * np.log(np.maximum(predicted, 1e-9) / measured), PRIOR_WEIGHT * (x - prior) / scale]

    efficiency = np.array([n.endswith("efficiency") for n in names])
    starts = [prior, np.clip(np.where(efficiency, prior * 0.7, prior + 0.5 * scale), lower, upper),
              np.clip(np.where(efficiency, prior * 0.45, prior + 2 * scale), lower, upper)]
    best = min((least_squares(residuals, x0, bounds=(lower, upper), x_scale=scale, diff_step=1e-3, max_nfev=200,
                              loss="soft_l1", f_scale=ROBUST_SCALE)
                for x0 in starts), key=lambda result: result.cost)
    return spec.model_copy(update=dict(zip(names, map(float, best.x))))


def rounded(error: float) -> float | None:
    """An error for the table: 4 decimals, None (an empty cell, JSON null) where no run measured it."""
    return None if np.isnan(error) else round(error, 4)


@dataclass
class GpuCalibration:
    gpu_type: str
    fit_runs: int
    holdout_runs: int
    before: GpuSpec
    after: GpuSpec
    fit_error_before: float  # median |relative error|
    fit_error_after: float
    holdout_error_before: float
    holdout_error_after: float
    sources: list[str]

    def row(self) -> dict:
        """One line of gpu_pools/calibration.csv."""
        return {"gpu_type": self.gpu_type, **{f: round(getattr(self.after, f), 4) for f in CALIBRATED_FIELDS},
                "fit_runs": self.fit_runs, "holdout_runs": self.holdout_runs,
                "fit_median_abs_error_before": rounded(self.fit_error_before),
                "fit_median_abs_error_after": rounded(self.fit_error_after),
                "holdout_median_abs_error_before": rounded(self.holdout_error_before),
                "holdout_median_abs_error_after": rounded(self.holdout_error_after),
                "sources": "|".join(self.sources), "date": dt.date.today().isoformat()}


def calibrate(runs: list[Measurement], priors: Catalog, perf: PerformanceModel, holdout: float = 0.3,
              progress=None, fit_layer_overhead: Collection[str] = ()) -> list[GpuCalibration]:
    """Fit each GPU type's factors on its fit runs, starting from the uncalibrated catalog `priors`; the types in
    `fit_layer_overhead` (canonical names) fit the fixed time per layer too."""
    fit, held = split(runs, holdout)
    results = []
    for gpu in sorted({m.gpu_type for m in runs}):
        if progress:
            progress(f"fitting {gpu}")
        mine_fit = [m for m in fit if m.gpu_type == gpu]
        mine_held = [m for m in held if m.gpu_type == gpu]
        before = priors.spec(gpu)
        fields = DEPTH_FITTED_FIELDS if gpu in fit_layer_overhead else FITTED_FIELDS
        after = fit_factors(mine_fit, before, perf, fields)
        results.append(GpuCalibration(
            gpu_type=gpu, fit_runs=len(mine_fit), holdout_runs=len(mine_held), before=before, after=after,
            fit_error_before=median_abs(relative_errors(mine_fit, before, perf)),
            fit_error_after=median_abs(relative_errors(mine_fit, after, perf)),
            holdout_error_before=median_abs(relative_errors(mine_held, before, perf)),
            holdout_error_after=median_abs(relative_errors(mine_held, after, perf)),
            sources=sorted({m.file for m in mine_fit + mine_held})))
    return results


def with_factors(target: GpuSpec, source: GpuSpec) -> GpuSpec:
    """`target`'s datasheet figures with `source`'s fitted factors."""
    return target.model_copy(update={f: getattr(source, f) for f in CALIBRATED_FIELDS})


def transferred(source: GpuCalibration, target: GpuSpec) -> GpuCalibration:
    """`source`'s fitted factors on another card of the same chip (an H200 is an H100 with more and faster memory):
    the factors describe the engine and its kernels, the target keeps its own datasheet figures. Our vLLM 0.26
    runs back it: factors fitted on an H200 predict the H100 runs at 3.5% median (vllm_h100_runs.README.md).
    No run of the target's own is involved, so its error columns stay empty."""
    nan = float("nan")
    return GpuCalibration(gpu_type=target.gpu_type, fit_runs=0, holdout_runs=0, before=target,
                          after=with_factors(target, source.after),
                          fit_error_before=nan, fit_error_after=nan, holdout_error_before=nan,
                          holdout_error_after=nan, sources=[f"{source.gpu_type} factors", *source.sources])


def gpu_types(catalog: Catalog, names: str, option: str) -> frozenset[str]:
    """'H200,h100' -> the canonical catalog names; an unknown one is a UserError naming the known ones and
    `option`."""
    return frozenset(catalog.require(name, option)
                     for name in filter(None, (n.strip() for n in names.split(","))))


def write_calibration(path: Path, results: list[GpuCalibration]) -> pd.DataFrame:
    """Replace the rows of the fitted GPU types in calibration.csv (others stay), atomically."""
    fresh = pd.DataFrame([r.row() for r in results])
    if path.is_file():
        old = pd.read_csv(path, comment="#", keep_default_na=False)
        old = old[~old["gpu_type"].str.upper().isin({r.gpu_type.upper() for r in results})]
        columns = [*fresh.columns, *(c for c in old.columns if c not in fresh.columns)]
        fresh = pd.concat([old, fresh], ignore_index=True)[columns]
    fresh = fresh.sort_values("gpu_type").reset_index(drop=True)
    write_csv_atomic(path, fresh)
    return fresh
