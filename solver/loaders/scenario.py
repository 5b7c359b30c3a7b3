"""A scenario folder (config.csv, gpu_pool.csv, optional network_bandwidth.csv) or a bundled preset by name."""

from __future__ import annotations

from pathlib import Path

from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog
from solver.domain.scenario import Scenario
from solver.loaders.catalog import load_catalog
from solver.loaders.config_csv import load_settings_and_model
from solver.loaders.pools import load_pools, pool_bandwidths, read_bandwidth_matrix
from solver.loaders.resources import bundled_dir


def presets_dir() -> Path:
    return bundled_dir("configs")


def preset_names() -> list[str]:
    return sorted(p.name for p in presets_dir().iterdir() if (p / "config.csv").is_file())


def resolve_config_dir(value: str) -> tuple[Path, str | None]:
    """An existing folder as given; else `config/NAME`, `configs/NAME` or `NAME` of a bundled preset, with a note
    saying the preset was used."""
    path = Path(value)
    if path.is_dir():
        return path, None
    name = path.name if path.parent.name in ("config", "configs", "") else None
    if name and (presets_dir() / name / "config.csv").is_file():
        resolved = presets_dir() / name
        note = None if str(path) == name else f"'{value}' does not exist; using the bundled preset {resolved}"
        return resolved, note
    raise ConfigError(value, "the config directory does not exist.",
                      f"pass an existing folder or a preset name ({', '.join(preset_names())}).")


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
    matrix = read_bandwidth_matrix(bw_path, sum(p.count for p in pools)) if bw_path.exists() else None
    return Scenario(model, workload, settings, pools, pool_bandwidths(pools, settings, matrix), directory, warnings)
