"""Tables of predicted vs measured: a validation run's figures and a calibration's errors and fitted factors."""

from __future__ import annotations

from rich.table import Table

from solver.calibration.fit import GpuCalibration
from solver.domain.hardware import CALIBRATED_FIELDS
from solver.vllm.compare import Comparison

UNITS = {"tokens_per_s": "tok/s", "ttft_ms": "ms", "tpot_ms": "ms"}


def comparison_table(comparison: Comparison) -> Table:
    table = Table(title="predicted vs measured", title_justify="left")
    for column in ("figure", "predicted", "measured", "error"):
        table.add_column(column, justify="right")
    errors = comparison.relative_error
    for key, unit in UNITS.items():
        table.add_row(f"{key} ({unit})", f"{comparison.predicted[key]:,.1f}", f"{comparison.measured[key]:,.1f}",
                      f"{errors[key]:+.0%}" if key in errors else "-")
    return table


SHORT = {"compute_efficiency": "compute eff", "memory_efficiency": "memory eff", "attention_efficiency": "attn eff",
         "comm_efficiency": "comm eff", "layer_overhead_us": "layer us", "step_overhead_ms": "step ms",
         "seq_overhead_us": "seq us"}


def report_tables(results: list[GpuCalibration]) -> tuple[Table, Table]:
    """Errors before/after (fit and holdout runs), then the factors before -> after."""
    errors = Table(title="median |predicted / measured - 1| of generated tok/s", title_justify="left")
    for column in ("GPU", "runs fit", "runs holdout", "fit before", "fit after", "holdout before", "holdout after"):
        errors.add_column(column, justify="right")
    factors = Table(title="fitted factors (catalog prior -> fitted)", title_justify="left")
    for column in ("GPU", *(SHORT[f] for f in CALIBRATED_FIELDS)):
        factors.add_column(column, justify="right")
    pct = (lambda value: "-" if value != value else f"{value:.0%}")
    for r in results:
        errors.add_row(r.gpu_type, str(r.fit_runs), str(r.holdout_runs), pct(r.fit_error_before),
                       pct(r.fit_error_after), pct(r.holdout_error_before), pct(r.holdout_error_after))
        factors.add_row(r.gpu_type, *(f"{getattr(r.before, f):g}->{round(getattr(r.after, f), 3):g}"
                                      for f in CALIBRATED_FIELDS))
    return errors, factors
