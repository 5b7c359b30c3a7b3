"""The published-runs CSV (results/calibration/*.csv; docs/calibration.md): one run per row, with the columns
that say which deployment ran it and what it measured, and errors that name the row and column."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from solver.calibration.records import Defaults, Measurement, catalog_gpu, model_for
from solver.domain.choices import PRECISIONS
from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog
from solver.domain.model import ModelArch


def _nodes(instance_type: str) -> int:
    """'3x g5.12xlarge' -> 3 nodes; a bare instance name is one node."""
    match = re.match(r"\s*(\d+)\s*x\s", str(instance_type))
    return int(match.group(1)) if match else 1


CSV_COLUMNS = {"gpu_type", "tp", "pp", "batch_size", "input_tokens", "output_tokens", "measured_output_tokens_per_s"}


def read_runs_csv(path: Path, catalog: Catalog, defaults: Defaults) -> list[Measurement]:
    """One run per row (results/calibration/*.csv); `num_gpus` and `instance_type` ('3x g5.12xlarge') give the
    GPUs per node; a `model` column names the model (--model stands in where tokenop does not know that name)."""
    try:
        table = pd.read_csv(path, comment="#", skipinitialspace=True)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(path, f"cannot read this CSV file ({type(exc).__name__}).",
                          "pass a UTF-8 runs CSV (docs/calibration.md).") from None
    missing = CSV_COLUMNS - set(table.columns)
    if missing:
        raise ConfigError(path, f"columns {sorted(missing)} are missing (header is {list(table.columns)}).",
                          f"use the header of results/calibration/aws_vllm_llama70b.csv: {sorted(CSV_COLUMNS)} "
                          "plus optional model, num_gpus, instance_type, gpu_memory_utilization, max_num_seqs, "
                          "max_num_batched_tokens, precision, dp.", row=1)
    if "precision" in table.columns:  # an empty cell reads as NaN: the model's own precision
        table["precision"] = table["precision"].fillna("")
    models: dict[str, ModelArch] = {}
    runs = []
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        name = row.get("model") if isinstance(row.get("model"), str) else None
        if name not in models:
            models[name] = model_for(name, defaults.model, path, row_no)
        model = _with_precision(models[name], str(row.get("precision") or ""), path, row_no)
        tp, pp = _cell(row, "tp", int, path, row_no), _cell(row, "pp", int, path, row_no)
        dp = _cell(row, "dp", int, path, row_no, 1)
        gpus = _cell(row, "num_gpus", int, path, row_no, tp * pp * dp)
        gpu = catalog_gpu(catalog, row["gpu_type"], path, row_no)
        per_node = math.ceil(gpus / _nodes(row.get("instance_type", ""))) if "instance_type" in row else \
            catalog.spec(gpu).gpus_per_node
        tokens_per_s = _cell(row, "measured_output_tokens_per_s", float, path, row_no)
        max_num_seqs = _cell(row, "max_num_seqs", int, path, row_no, None)
        chunk = _cell(row, "max_num_batched_tokens", int, path, row_no, None)
        if not tokens_per_s > 0 or min(tp, pp, dp, *(n for n in (max_num_seqs, chunk) if n is not None)) < 1:
            raise ConfigError(path, "tp, pp, dp, measured_output_tokens_per_s, max_num_seqs and "
                                    "max_num_batched_tokens must be positive.",
                              "fix or drop this row.", row=row_no)
        runs.append(Measurement(
            source=f"{path.name}:{row_no}", model=model, gpu_type=gpu, tp=tp, pp=pp, gpus_per_node=per_node,
            batch_size=_cell(row, "batch_size", int, path, row_no),
            input_tokens=_cell(row, "input_tokens", int, path, row_no),
            output_tokens=_cell(row, "output_tokens", int, path, row_no), tokens_per_s=tokens_per_s,
            gpu_memory_utilization=_cell(row, "gpu_memory_utilization", float, path, row_no,
                                         defaults.gpu_memory_utilization),
            max_num_seqs=max_num_seqs, dp=dp, max_num_batched_tokens=chunk))
    return runs


def _with_precision(model: ModelArch, precision: str, path: Path, row_no: int) -> ModelArch:
    """The model with the weights' precision a row gives (e.g. a 70B run with fp8 weights); KV cache unchanged, as
    vLLM keeps it in the model's dtype unless --kv-cache-dtype says otherwise."""
    if not precision.strip():
        return model
    if precision.strip() not in PRECISIONS:
        raise ConfigError(path, f"precision is '{precision}'.", f"write one of {', '.join(PRECISIONS)}.", row=row_no)
    return model.model_copy(update={"precision": precision.strip()})


_REQUIRED = object()


def _cell(row: dict, field: str, kind: type, path: Path, row_no: int, default=_REQUIRED):
    """One number of a runs CSV row; an empty cell takes `default` (none for a required column), a malformed one is
    a ConfigError naming the row and the column."""
    value = row.get(field)
    if value is None or value != value or value == "":  # absent column, NaN (empty cell) or empty string
        if default is _REQUIRED:
            raise ConfigError(path, f"{field} is empty.", f"give {field} a value or drop this row.", row=row_no)
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(path, f"{field} is '{value}', not a number.", f"write {field} as a number.",
                          row=row_no) from None
