"""The GPU catalog: specifications, efficiency factors and prices, read from CSV data in `gpu_pools/`.

The catalog is data, not code, so prices and calibrated factors change without a release. Calibration writes
`calibration.csv`; its factors override the datasheet priors of `gpus.csv` for the types it names. Other tables
beside it, `calibration-NAME.csv`, are profiles a user picks with `$TOKENOP_CALIBRATION` (or `tokenop-solve
--calibration NAME`): the factors of one vLLM generation, say, where the default table is fitted to another. A
profile overrides the default table for the GPU types it names.
"""

from __future__ import annotations

import os
from pathlib import Path

from solver.domain.errors import ConfigError
from solver.domain.hardware import CALIBRATED_FIELDS, Catalog, GpuSpec, InstanceType
from solver.loaders.resources import bundled_dir
from solver.loaders.tables import number, read_table

CATALOG_ENV = "TOKENOP_GPU_CATALOG"
CALIBRATION_ENV = "TOKENOP_CALIBRATION"
TEXT_FIELDS = ("gpu_type", "interconnect")


def default_catalog_dir() -> Path:
    """`$TOKENOP_GPU_CATALOG` if set, else the bundled `gpu_pools/`."""
    env = os.environ.get(CATALOG_ENV)
    return Path(env) if env else bundled_dir("gpu_pools")


PROFILE_PREFIX = "calibration-"  # a profile NAME is the table calibration-NAME.csv of the catalog folder


def calibration_profiles(directory: Path) -> list[str]:
    """The profile names of a catalog folder: `default` (calibration.csv), `none` (datasheet priors) and every
    `calibration-NAME.csv`."""
    profiles = sorted(path.stem.removeprefix(PROFILE_PREFIX) for path in directory.glob(f"{PROFILE_PREFIX}*.csv"))
    return ["default", "none", *profiles]


def calibration_table(directory: Path, profile: str | None = None) -> Path | None:
    """The calibration table in use: `profile` (default: `$TOKENOP_CALIBRATION`) names a profile of the catalog
    folder or a CSV file; unset or `default`, `calibration.csv` (if present); `none`, no table (the priors)."""
    choice = (profile or os.environ.get(CALIBRATION_ENV, "")).strip() or "default"
    if choice == "none":
        return None
    if choice == "default":
        return directory / "calibration.csv" if (directory / "calibration.csv").is_file() else None
    for path in (directory / f"{PROFILE_PREFIX}{choice}.csv", Path(choice)):
        if path.is_file():
            return path
    raise ConfigError(directory, f"calibration '{choice}' (${CALIBRATION_ENV}) is neither a profile of this catalog "
                      "nor a CSV file.", f"use one of {', '.join(calibration_profiles(directory))} or the path of a "
                      "calibration table (tokenop-solve calibrate --output writes one).")


def calibration_target(directory: Path) -> Path:
    """Where fitted factors go unless told otherwise: the table in use (the chosen profile's), else the default
    `calibration.csv`."""
    return calibration_table(directory) or directory / "calibration.csv"


def calibration_tables(directory: Path, profile: str | None = None) -> list[Path]:
    """The tables applied, in order: the default `calibration.csv` (if present), then the chosen profile's on top,
    so that the GPU types a profile does not measure keep their default factors rather than fall back to the
    priors; none for `none`."""
    chosen = calibration_table(directory, profile)
    if chosen is None:
        return []
    default = directory / "calibration.csv"
    return [default, chosen] if default.is_file() and chosen.resolve() != default.resolve() else [chosen]


OPTIONAL_FIELDS = {"cuda_memory_gib", "seq_overhead_us"}  # empty or absent: nominal memory; none


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    return read_table(path, f"restore it from the repository or point ${CATALOG_ENV} at a folder holding gpus.csv "
                            "and prices.csv.")[1]


def _required(path: Path, row: int, field: str, text: str) -> float:
    value = number(path, row, field, text)
    assert value is not None  # required: an empty cell raised
    return value


def _spec(path: Path, row_no: int, row: dict[str, str]) -> GpuSpec:
    values: dict[str, object] = {}
    for field, info in GpuSpec.model_fields.items():
        if field in OPTIONAL_FIELDS and row.get(field, "") == "":
            continue
        if field not in row:
            raise ConfigError(path, f"column '{field}' is missing.", f"give gpus.csv the columns "
                              f"{', '.join(f for f in GpuSpec.model_fields if f not in OPTIONAL_FIELDS)}.", row=1,
                              field=field)
        number = row[field] if field in TEXT_FIELDS else _required(path, row_no, field, row[field])
        values[field] = int(number) if info.annotation is int else number
    return GpuSpec.model_validate(values)


def load_catalog(directory: Path | None = None, calibrated: bool = True, profile: str | None = None) -> Catalog:
    """Read `gpus.csv`, `prices.csv` and, if `calibrated`, the calibration tables in use (`calibration_tables`, or
    `profile`'s) from the catalog folder (calibration itself starts from the uncalibrated datasheet priors)."""
    directory = Path(directory) if directory else default_catalog_dir()
    specs: dict[str, GpuSpec] = {}
    aliases: dict[str, str] = {}
    for row_no, row in _rows(directory / "gpus.csv"):
        spec = _spec(directory / "gpus.csv", row_no, row)
        specs[spec.gpu_type] = spec
        for alias in [spec.gpu_type, *row.get("aliases", "").split("|")]:
            if alias.strip():
                aliases[alias.strip().upper()] = spec.gpu_type
    prices = read_prices(directory / "prices.csv", aliases)
    tables = calibration_tables(directory, profile) if calibrated else []
    for table in tables:
        specs = apply_calibration(specs, aliases, table)
    instances = load_instances(directory / "instances.csv", aliases) if (directory / "instances.csv").is_file() else {}
    return Catalog(specs=specs, aliases=aliases, prices=prices, directory=directory, instances=instances,
                   calibration=profile_name(directory, tables[-1] if tables else None))


def profile_name(directory: Path, table: Path | None) -> str:
    """How a calibration table is named to users: `default`, a profile's name, `none`, or the table's path."""
    if table is None:
        return "none"
    if table.parent.resolve() == directory.resolve():
        if table.name == "calibration.csv":
            return "default"
        if table.name.startswith(PROFILE_PREFIX):
            return table.stem.removeprefix(PROFILE_PREFIX)
    return str(table)


def load_instances(path: Path, aliases: dict[str, str]) -> dict[str, InstanceType]:
    """instances.csv: cloud instances by upper-case name, their GPU type resolved through the catalog's aliases."""
    instances = {}
    for row_no, row in _rows(path):
        gpu = aliases.get(row.get("gpu_type", "").upper())
        if gpu is None:
            raise ConfigError(path, f"unknown GPU type '{row.get('gpu_type')}'.", "use a gpu_type of gpus.csv.",
                              row=row_no, field="gpu_type")
        instance = InstanceType(provider=row["provider"].lower(), name=row["instance_name"], gpu_type=gpu,
                                gpus=int(_required(path, row_no, "gpus", row["gpus"])),
                                memory_gb=_required(path, row_no, "memory_gb", row["memory_gb"]),
                                dollar_per_hour=_required(path, row_no, "dollar_per_hour", row["dollar_per_hour"]))
        instances[instance.name.upper()] = instance
    return instances


def read_prices(path: Path, aliases: dict[str, str]) -> dict[str, dict[str, float]]:
    """A prices CSV (gpu_type, provider, dollar_per_hour): $/GPU-hour by catalog type and provider."""
    prices: dict[str, dict[str, float]] = {}
    for row_no, row in _rows(path):
        key = aliases.get(row.get("gpu_type", "").upper())
        if key:
            price = _required(path, row_no, "dollar_per_hour", row.get("dollar_per_hour", ""))
            prices.setdefault(key, {})[row.get("provider", "").lower()] = price
    return prices


def with_prices(catalog: Catalog, path: Path) -> Catalog:
    """The catalog priced from another prices CSV (a sweep's `prices` axis)."""
    return catalog.model_copy(update={"prices": read_prices(path, catalog.aliases)})


def catalog_files(directory: Path | None = None) -> list[Path]:
    """The files a catalog is read from (what a sweep point's key hashes)."""
    directory = Path(directory) if directory else default_catalog_dir()
    tables = [directory / "gpus.csv", directory / "prices.csv", *calibration_tables(directory),
              directory / "instances.csv"]
    return [path for path in tables if path.is_file()]


def apply_calibration(specs: dict[str, GpuSpec], aliases: dict[str, str], path: Path) -> dict[str, GpuSpec]:
    """Override the efficiency factors of the GPU types named in a calibration table."""
    out = dict(specs)
    for row_no, row in _rows(path):
        key = aliases.get(row.get("gpu_type", "").upper())
        if key is None:
            continue
        updates = {f: _required(path, row_no, f, row[f]) for f in CALIBRATED_FIELDS if row.get(f, "") != ""}
        out[key] = out[key].model_copy(update=updates)
    return out
