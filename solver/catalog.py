"""The GPU catalog: specifications, efficiency factors and prices, read from CSV data in `gpu_pools/`.

The catalog is data, not code, so prices and calibrated factors change without a release. Calibration writes
`gpu_pools/calibration.csv`; its factors override the datasheet priors of `gpus.csv` for the types it names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from solver.errors import ConfigError

CATALOG_ENV = "TOKENOP_GPU_CATALOG"
CALIBRATED_FIELDS = ("compute_efficiency", "memory_efficiency", "attention_efficiency", "comm_efficiency",
                     "layer_overhead_us", "step_overhead_ms")


def default_catalog_dir() -> Path:
    """`$TOKENOP_GPU_CATALOG` if set, else the `gpu_pools/` folder of this checkout."""
    env = os.environ.get(CATALOG_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "gpu_pools"


@dataclass(frozen=True)
class GpuSpec:
    """One GPU type as the performance model sees it (per GPU, dense figures)."""

    gpu_type: str
    memory_gb: float
    bf16_tflops: float
    fp8_tflops: float
    int8_tops: float
    hbm_bandwidth_gbps: float
    interconnect: str
    interconnect_gbps: float
    gpus_per_node: int
    compute_efficiency: float
    memory_efficiency: float
    attention_efficiency: float
    comm_efficiency: float
    layer_overhead_us: float
    step_overhead_ms: float

    def peak_tflops(self, precision: str) -> float:
        """Peak dense TFLOPS for the matmuls of `precision` (weight-only formats compute in bf16)."""
        if precision == "fp8" and self.fp8_tflops > 0:
            return self.fp8_tflops
        if precision == "int8" and self.int8_tops > 0:
            return self.int8_tops
        return self.bf16_tflops


@dataclass(frozen=True)
class Catalog:
    """All GPU types and their prices; look-ups accept aliases case-insensitively."""

    specs: dict[str, GpuSpec]
    aliases: dict[str, str]
    prices: dict[str, dict[str, float]]
    directory: Path

    def canonical(self, name: str) -> str | None:
        return self.aliases.get(name.strip().upper())

    def spec(self, name: str) -> GpuSpec:
        key = self.canonical(name)
        if key is None:
            raise KeyError(name)
        return self.specs[key]

    def price(self, name: str, provider: str = "lowest") -> float | None:
        """$/GPU-hour from `provider`, or the lowest listed price when provider is 'lowest'."""
        key = self.canonical(name)
        listed = self.prices.get(key or "", {})
        if not listed:
            return None
        if provider == "lowest":
            return min(listed.values())
        return listed.get(provider)

    def known_types(self) -> str:
        return ", ".join(sorted(self.specs))


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(path, "the GPU catalog file is missing.",
                          f"restore it from the repository or point ${CATALOG_ENV} at a folder holding gpus.csv "
                          "and prices.csv.")
    return pd.read_csv(path, comment="#", skipinitialspace=True, keep_default_na=False)


def load_catalog(directory: Path | None = None, calibrated: bool = True) -> Catalog:
    """Read `gpus.csv`, `prices.csv` and, if present and `calibrated`, `calibration.csv` from the catalog folder
    (calibration itself starts from the uncalibrated datasheet priors)."""
    directory = Path(directory) if directory else default_catalog_dir()
    gpus = _read_csv(directory / "gpus.csv")
    specs: dict[str, GpuSpec] = {}
    aliases: dict[str, str] = {}
    fields = [f for f in GpuSpec.__dataclass_fields__]
    for row_no, row in enumerate(gpus.to_dict("records"), start=2):
        try:
            spec = GpuSpec(**{f: type_of(f)(row[f]) for f in fields})
        except (KeyError, ValueError) as exc:
            raise ConfigError(directory / "gpus.csv", f"cannot read this GPU row ({exc}).",
                              f"give every column of the header numeric values: {', '.join(fields)}.", row=row_no)
        specs[spec.gpu_type] = spec
        for alias in [spec.gpu_type, *str(row.get("aliases", "")).split("|")]:
            if alias.strip():
                aliases[alias.strip().upper()] = spec.gpu_type
    prices: dict[str, dict[str, float]] = {}
    for row in _read_csv(directory / "prices.csv").to_dict("records"):
        key = aliases.get(str(row["gpu_type"]).strip().upper())
        if key:
            prices.setdefault(key, {})[str(row["provider"])] = float(row["dollar_per_hour"])
    calibration = directory / "calibration.csv"
    if calibrated and calibration.is_file():
        specs = apply_calibration(specs, aliases, _read_csv(calibration))
    return Catalog(specs=specs, aliases=aliases, prices=prices, directory=directory)


def apply_calibration(specs: dict[str, GpuSpec], aliases: dict[str, str], table: pd.DataFrame) -> dict[str, GpuSpec]:
    """Override the efficiency factors of the GPU types named in a calibration table."""
    out = dict(specs)
    for row in table.to_dict("records"):
        key = aliases.get(str(row["gpu_type"]).strip().upper())
        if key is None:
            continue
        updates = {f: float(row[f]) for f in CALIBRATED_FIELDS if f in row and str(row[f]) != ""}
        out[key] = replace(out[key], **updates)
    return out


def type_of(field: str):
    """Parser for one `GpuSpec` field."""
    return {"gpu_type": str, "interconnect": str, "gpus_per_node": int}.get(field, float)
