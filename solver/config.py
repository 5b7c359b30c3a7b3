"""Config models (pydantic) and the loaders for a scenario folder.

A scenario folder holds `config.csv` (rows `parameter,value`), `gpu_pool.csv` and optionally
`network_bandwidth.csv`. The older Gurobi solver's folders load unchanged: its keys map onto the sections below
(`docs/config.md` lists every key). Every error names the file, the row and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from solver.catalog import Catalog, GpuSpec, load_catalog
from solver.errors import ConfigError

Precision = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"]
BYTES_PER_PRECISION: dict[str, float] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
PRECISION_OF_BYTES = {4.0: "fp32", 2.0: "bf16", 1.0: "fp8", 0.5: "int4"}


class ModelArch(BaseModel):
    """Decoder-only transformer architecture (Llama family shapes)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "model"
    hf_name: str | None = None
    num_layers: int = Field(gt=0)
    d_model: int = Field(gt=0)
    d_ff: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    num_kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    precision: Precision = "bf16"
    kv_cache_precision: Precision = "bf16"
    gated_mlp: bool = True
    tied_embeddings: bool = False
    layer_weight_memory_gb: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _defaults(self) -> "ModelArch":
        if self.num_kv_heads is None:
            self.num_kv_heads = self.num_heads
        if self.head_dim is None:
            self.head_dim = self.d_model // self.num_heads
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_kv_heads")
        return self

    @property
    def weight_bytes(self) -> float:
        return BYTES_PER_PRECISION[self.precision]

    @property
    def kv_bytes(self) -> float:
        return BYTES_PER_PRECISION[self.kv_cache_precision]


class Workload(BaseModel):
    """What is served: request shape, batch sizes to try, demand and latency targets."""

    model_config = ConfigDict(extra="forbid")
    input_tokens: int = Field(gt=0)
    output_tokens: int = Field(gt=0)
    batch_sizes: list[int] = Field(min_length=1)
    throughput_demand: float = Field(default=0.0, ge=0)
    ttft_slo_ms: float = Field(default=math.inf, gt=0)
    tpot_slo_ms: float = Field(default=math.inf, gt=0)
    total_tokens_to_process: float = Field(default=1e6, gt=0)
    prefill_chunk_tokens: int = Field(default=8192, gt=0)

    @model_validator(mode="after")
    def _positive_batches(self) -> "Workload":
        if any(b <= 0 for b in self.batch_sizes):
            raise ValueError("batch sizes must be positive")
        return self


class Settings(BaseModel):
    """Solver and economics settings (limits, priorities, segment quantization, budgets)."""

    model_config = ConfigDict(extra="forbid")
    time_limit_seconds: float = Field(default=60.0, gt=0)
    optimality_gap: float = Field(default=1e-4, ge=0, lt=1)
    max_pipeline_stages: int = Field(default=8, gt=0)
    min_layers_per_stage: int = Field(default=1, gt=0)
    min_memory_utilization: float = Field(default=0.0, ge=0, le=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    tp_degrees: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    network_bandwidth_percentile_threshold: float = Field(default=0.1, ge=0, le=1)
    inter_node_bandwidth_gbps: float = Field(default=25.0, gt=0)
    link_latency_us: float = Field(default=10.0, ge=0)
    optimization_priority: Literal["cost_first", "throughput_first", "balanced"] = "cost_first"
    max_hourly_cost: float = Field(default=math.inf, gt=0)
    max_cost_per_million_token: float = Field(default=math.inf, gt=0)
    max_total_cost: float = Field(default=math.inf, gt=0)
    max_total_runtime_hours: float = Field(default=math.inf, gt=0)
    throughput_normalization: float = Field(default=10000.0, gt=0)
    cost_normalization: float = Field(default=1.0, gt=0)
    cost_throughput_weight: float = Field(default=0.5, ge=0, le=1)
    segment_quantization: Literal["auto", "on", "off"] = "auto"
    segment_sizes: list[int] = Field(default_factory=lambda: [1, 5, 10, 20, 30, 40])
    max_exact_arcs: int = Field(default=40000, gt=0)
    budget_factors: list[float] = Field(default_factory=lambda: [0.4, 0.7, 0.9, 1.0, 1.2, 1.5])
    headroom: float = Field(default=0.0, ge=0, lt=1)
    price_provider: str = "lowest"
    vllm_deployable: bool = False
    max_replicas: int = Field(default=8, ge=1)


class Pool(BaseModel):
    """One row of gpu_pool.csv with its catalog spec resolved."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    gpu_type: str
    count: int = Field(ge=0)
    memory_gb: float = Field(gt=0)
    dollar_per_hour: float = Field(ge=0)
    spec: GpuSpec

    @property
    def max_tp(self) -> int:
        return min(self.count, self.spec.gpus_per_node)


@dataclass
class Scenario:
    """Everything one solve needs, validated."""

    model: ModelArch
    workload: Workload
    settings: Settings
    pools: list[Pool]
    bandwidth_gbps: np.ndarray  # pool x pool GB/s for pipeline-stage transfers
    source: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def with_pools(self, pools: list[Pool]) -> "Scenario":
        """The same scenario over other pool counts (same order, so bandwidths stay valid)."""
        return Scenario(self.model, self.workload, self.settings, pools, self.bandwidth_gbps, self.source,
                        self.warnings)


# --- config.csv keys -------------------------------------------------------------------------------------------
# key -> (section, field). Legacy keys of the older solver map onto the same fields.
KEY_MAP: dict[str, tuple[str, str]] = {
    "model_name": ("model", "name"), "hf_model_name": ("model", "hf_name"),
    "num_decoder_layers": ("model", "num_layers"), "num_layers": ("model", "num_layers"),
    "d_model": ("model", "d_model"), "hidden_size": ("model", "d_model"),
    "d_hidden": ("model", "d_ff"), "intermediate_size": ("model", "d_ff"),
    "vocab_size": ("model", "vocab_size"), "num_attention_heads": ("model", "num_heads"),
    "num_kv_heads": ("model", "num_kv_heads"), "num_key_value_heads": ("model", "num_kv_heads"),
    "head_dim": ("model", "head_dim"), "precision": ("model", "precision"),
    "kv_cache_precision": ("model", "kv_cache_precision"), "gated_mlp": ("model", "gated_mlp"),
    "tied_embeddings": ("model", "tied_embeddings"), "layer_weight_memory_gb": ("model", "layer_weight_memory_gb"),
    "input_tokens": ("workload", "input_tokens"), "output_tokens": ("workload", "output_tokens"),
    "throughput_demand_tokens_per_s": ("workload", "throughput_demand"),
    "ttft_slo_ms": ("workload", "ttft_slo_ms"), "tpot_slo_ms": ("workload", "tpot_slo_ms"),
    "total_tokens_to_process": ("workload", "total_tokens_to_process"),
    "prefill_chunk_tokens": ("workload", "prefill_chunk_tokens"),
}
SETTINGS_KEYS = set(Settings.model_fields) - {"segment_quantization"}
# Keys read specially (derived into several fields) or accepted from the older solver without effect.
SPECIAL_KEYS = {"sequence_length", "min_batch_size", "max_batch_size", "batch_sizes", "bytes_per_element",
                "enable_segment_quantization", "segment_quantization"}
LEGACY_IGNORED = {
    "real_world_efficiency": "efficiency factors now live per GPU type in gpu_pools/ (calibrated)",
    "micro_batch_size": "micro-batching is implied by the pipeline model",
}
LIST_FIELDS = {"tp_degrees", "segment_sizes", "budget_factors", "batch_sizes"}


def _parse_value(key: str, raw: str):
    text = raw.strip()
    if key in LIST_FIELDS:
        return [float(v) if key == "budget_factors" else int(float(v)) for v in text.replace(";", "|").split("|")
                if v.strip()]
    low = text.lower()
    if low in {"true", "false", "yes", "no"}:
        return low in {"true", "yes"}
    if low in {"inf", "infinity", "none", ""}:
        return math.inf
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and abs(number) < 2**53 and "." not in text else number


def powers_of_two_between(low: int, high: int) -> list[int]:
    """Batch sizes to sweep: the powers of two within [low, high], plus the two ends."""
    sizes = {low, high}
    p = 1
    while p <= high:
        if p >= low:
            sizes.add(p)
        p *= 2
    return sorted(sizes)


def read_config_csv(path: Path) -> tuple[dict[str, object], dict[str, int], list[str]]:
    """Rows of config.csv as {key: value}, with each key's row number and warnings for unknown keys."""
    if not path.is_file():
        raise ConfigError(path, "config.csv is missing.",
                          "create it with rows 'parameter,value' (see configs/medium/config.csv for an example).")
    try:
        table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot parse the CSV ({exc}).", "write one 'parameter,value' pair per row.")
    if list(table.columns[:2]) != ["parameter", "value"]:
        raise ConfigError(path, f"the header is {list(table.columns)}, expected 'parameter,value'.",
                          "make the first line exactly 'parameter,value'.", row=1)
    values: dict[str, object] = {}
    rows: dict[str, int] = {}
    warnings: list[str] = []
    known = set(KEY_MAP) | SETTINGS_KEYS | SPECIAL_KEYS | set(LEGACY_IGNORED)
    for row_no, (key, raw) in enumerate(zip(table["parameter"], table["value"]), start=2):
        key = key.strip()
        if not key:
            continue
        if key not in known:
            warnings.append(f"{path}, row {row_no}: unknown key '{key}' ignored (see docs/config.md for keys).")
            continue
        if key in LEGACY_IGNORED:
            continue
        try:
            values[key] = _parse_value(key, raw)
        except ValueError:
            raise ConfigError(path, f"'{raw}' is not a valid value for '{key}'.",
                              "give numbers separated by '|' (e.g. 1|2|4|8).", row=row_no, field=key)
        rows[key] = row_no
    return values, rows, warnings


def build_sections(values: dict[str, object]) -> dict[str, dict[str, object]]:
    """Split flat config keys into model / workload / settings dictionaries, deriving the legacy ones."""
    sections: dict[str, dict[str, object]] = {"model": {}, "workload": {}, "settings": {}}
    for key, value in values.items():
        if key in KEY_MAP:
            section, name = KEY_MAP[key]
            sections[section][name] = value
        elif key in SETTINGS_KEYS:
            sections["settings"][key] = value
    if "precision" not in values and "bytes_per_element" in values:
        sections["model"]["precision"] = PRECISION_OF_BYTES.get(float(values["bytes_per_element"]), "bf16")
    if "enable_segment_quantization" in values:
        sections["settings"]["segment_quantization"] = "auto" if values["enable_segment_quantization"] else "off"
    if "segment_quantization" in values:
        sections["settings"]["segment_quantization"] = str(values["segment_quantization"]).lower()
    work = sections["workload"]
    if "sequence_length" in values and ("input_tokens" not in work or "output_tokens" not in work):
        # The older solver had one sequence length; split it like the seed benchmarks (about 7:1 prompt:output).
        total = int(values["sequence_length"])
        out = work.get("output_tokens") or max(1, total // 8)
        work.setdefault("output_tokens", out)
        work.setdefault("input_tokens", max(1, total - int(out)))
    if "batch_sizes" in values:
        work["batch_sizes"] = values["batch_sizes"]
    else:
        low = int(values.get("min_batch_size", values.get("max_batch_size", 32)))
        high = int(values.get("max_batch_size", low))
        work["batch_sizes"] = powers_of_two_between(low, max(low, high))
    return sections


def _validation_error(path: Path, exc: ValidationError, rows: dict[str, int], section: str) -> ConfigError:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else ""
    key = next((k for k, (s, f) in KEY_MAP.items() if s == section and f == name and k in rows), name)
    if name == "input_tokens" or name == "output_tokens":
        fix = "add 'input_tokens' and 'output_tokens' (or the older 'sequence_length') rows"
    elif err["type"] == "missing":
        fix = f"add a row '{key},<value>'"
    else:
        fix = f"set '{key}' to a valid value ({err['msg'].lower()})"
    return ConfigError(path, f"{err['msg']} for '{key}'.", fix + ".", row=rows.get(key), field=key)


def load_settings_and_model(path: Path) -> tuple[ModelArch, Workload, Settings, list[str]]:
    """Parse and validate config.csv into its three sections."""
    values, rows, warnings = read_config_csv(path)
    sections = build_sections(values)
    parsed = {}
    for section, cls in (("model", ModelArch), ("workload", Workload), ("settings", Settings)):
        try:
            parsed[section] = cls(**sections[section])
        except ValidationError as exc:
            raise _validation_error(path, exc, rows, section) from None
    return parsed["model"], parsed["workload"], parsed["settings"], warnings


def load_pools(path: Path, catalog: Catalog, provider: str) -> list[Pool]:
    """Read gpu_pool.csv; memory and price fall back to the catalog."""
    if not path.is_file():
        raise ConfigError(path, "gpu_pool.csv is missing.",
                          "create it with header 'gpu_type,count,memory_gb,dollar_per_hour' and one row per pool.")
    table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, skipinitialspace=True)
    missing = {"gpu_type", "count"} - set(table.columns)
    if missing:
        raise ConfigError(path, f"columns {sorted(missing)} are missing (header is {list(table.columns)}).",
                          "use the header 'gpu_type,count[,memory_gb][,dollar_per_hour]'.", row=1)
    pools: list[Pool] = []
    seen: dict[str, int] = {}
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        gpu = row["gpu_type"].strip()
        key = catalog.canonical(gpu)
        if key is None:
            raise ConfigError(path, f"unknown GPU type '{gpu}'.",
                              f"use one of {catalog.known_types()}, or add the type to "
                              f"{catalog.directory / 'gpus.csv'}.", row=row_no, field="gpu_type")
        spec = catalog.specs[key]
        count = _number(path, row_no, "count", row["count"], integer=True)
        memory = _number(path, row_no, "memory_gb", row.get("memory_gb", ""), default=spec.memory_gb, positive=True)
        price = _number(path, row_no, "dollar_per_hour", row.get("dollar_per_hour", ""),
                        default=catalog.price(key, provider))
        if price is None:
            raise ConfigError(path, f"no price for '{gpu}' in the catalog (provider '{provider}').",
                              "add a dollar_per_hour column value for this row, or a price to gpu_pools/prices.csv.",
                              row=row_no, field="dollar_per_hour")
        seen[key] = seen.get(key, 0) + 1
        name = key if seen[key] == 1 else f"{key}#{seen[key]}"
        pools.append(Pool(name=name, gpu_type=key, count=int(count), memory_gb=memory, dollar_per_hour=price,
                          spec=spec))
    if not pools:
        raise ConfigError(path, "no GPU pools are listed.", "add at least one row 'gpu_type,count'.")
    return pools


def _number(path: Path, row: int, name: str, raw: str, *, integer: bool = False, default: float | None = None,
            positive: bool = False):
    text = str(raw).strip()
    if text == "":
        if default is None and name != "dollar_per_hour":
            raise ConfigError(path, f"'{name}' is empty.", f"give '{name}' a value.", row=row, field=name)
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(path, f"'{text}' is not a number.", f"write '{name}' as a number.", row=row, field=name)
    if value < 0 or (positive and value == 0) or (integer and not value.is_integer()):
        kind = "a non-negative whole number" if integer else ("a positive number" if positive else "non-negative")
        raise ConfigError(path, f"'{name}' is {text}.", f"make '{name}' {kind}.", row=row, field=name)
    return value


def pool_bandwidths(pools: list[Pool], settings: Settings, matrix: np.ndarray | None) -> np.ndarray:
    """Pool-to-pool bandwidth (GB/s) for stage transfers: a low percentile of the per-GPU links between them.

    Without a measured matrix, GPUs of one type share a node of `gpus_per_node` (interconnect bandwidth) and every
    other pair gets `inter_node_bandwidth_gbps`.
    """
    owner = np.repeat(np.arange(len(pools)), [p.count for p in pools])
    if matrix is None:
        matrix = np.full((len(owner), len(owner)), settings.inter_node_bandwidth_gbps)
        start = 0
        for pool in pools:
            node = pool.spec.gpus_per_node
            for first in range(start, start + pool.count, node):
                last = min(first + node, start + pool.count)
                matrix[first:last, first:last] = pool.spec.interconnect_gbps
            start += pool.count
    q = settings.network_bandwidth_percentile_threshold
    result = np.zeros((len(pools), len(pools)))
    for i, pool_i in enumerate(pools):
        for j in range(len(pools)):
            block = matrix[np.ix_(owner == i, owner == j)]
            if i == j:
                block = block[~np.eye(len(block), dtype=bool)] if len(block) > 1 else np.array([])
            values = np.asarray(block, dtype=float).ravel()
            result[i, j] = np.quantile(values, q) if values.size else pool_i.spec.interconnect_gbps
    return result


def read_bandwidth_matrix(path: Path, total_gpus: int) -> np.ndarray:
    """Read network_bandwidth.csv: a square GB/s matrix over individual GPUs in pool order."""
    table = pd.read_csv(path, index_col=0, comment="#")
    if table.shape != (total_gpus, total_gpus):
        raise ConfigError(path, f"the matrix is {table.shape[0]}x{table.shape[1]} but gpu_pool.csv lists "
                          f"{total_gpus} GPUs.", f"give a {total_gpus}x{total_gpus} matrix with header "
                          "',gpu_0,gpu_1,...' in pool order, or delete the file to use default bandwidths.")
    values = table.to_numpy(dtype=float)
    bad = np.argwhere(~np.isfinite(values) | (values <= 0) & ~np.eye(total_gpus, dtype=bool))
    if len(bad):
        r, c = bad[0]
        raise ConfigError(path, f"bandwidth between gpu_{r} and gpu_{c} is {values[r, c]}.",
                          "give every off-diagonal entry a positive GB/s value.", row=int(r) + 2)
    return values


def load_scenario(directory: Path | str, catalog: Catalog | None = None) -> Scenario:
    """Load and validate a scenario folder."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(directory, "the config directory does not exist.",
                          "pass --config-dir an existing folder or a preset name (tiny, small, medium, large, ...).")
    catalog = catalog or load_catalog()
    model, workload, settings, warnings = load_settings_and_model(directory / "config.csv")
    pools = load_pools(directory / "gpu_pool.csv", catalog, settings.price_provider)
    bw_path = directory / "network_bandwidth.csv"
    matrix = read_bandwidth_matrix(bw_path, sum(p.count for p in pools)) if bw_path.is_file() else None
    return Scenario(model, workload, settings, pools, pool_bandwidths(pools, settings, matrix), directory, warnings)
