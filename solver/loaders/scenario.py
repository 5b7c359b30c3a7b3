"""A scenario folder (config.csv, gpu_pool.csv, optional network_bandwidth.csv) or a bundled preset by name."""

from __future__ import annotations

from pathlib import Path

from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog
from solver.domain.scenario import Scenario
from solver.loaders.catalog import load_catalog
from solver.loaders.config_csv import load_settings_and_model
from solver.loaders.pools import generated_bandwidths, load_pools, pool_bandwidths, read_bandwidth_matrix
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


def load_scenario(directory: Path | str, catalog: Catalog | None = None, provider: str | None = None,
                  generate_network: tuple[float, float] | None = None, pool_file: Path | None = None) -> Scenario:
    """Load and validate a scenario folder. `provider` prices the pools (--cloud-provider); `generate_network`
    replaces the bandwidth matrix (--generate-network INTRA INTER). A folder without gpu_pool.csv uses the one of
    its parent folder (the fork's layout: config/<model>/config.csv beside a shared config/gpu_pool.csv); `pool_file`
    replaces it (a sweep's `gpu_pool` axis, with default bandwidths)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(directory, "the config directory does not exist.",
                          "pass --config-dir an existing folder or a preset name (tiny, small, medium, large, ...).")
    catalog = catalog or load_catalog()
    model, workload, settings, notes = load_settings_and_model(directory / "config.csv")
    if provider:
        settings = settings.model_copy(update={"price_provider": provider.lower()})
    pool_dir = directory
    if not (directory / "gpu_pool.csv").exists() and (directory.parent / "gpu_pool.csv").is_file():
        pool_dir = directory.parent
        notes.append(f"{directory} has no gpu_pool.csv: using the shared {pool_dir / 'gpu_pool.csv'} (and its "
                     "network_bandwidth.csv, if any).")
    pools, price_notes = load_pools(Path(pool_file) if pool_file else pool_dir / "gpu_pool.csv", catalog,
                                    settings.price_provider)
    notes += price_notes
    matrix_file = pool_dir / "network_bandwidth.csv" if pool_file is None else None  # a matrix fits one pool file
    if generate_network:
        if matrix_file and matrix_file.exists():
            notes.append(f"{matrix_file} is not read: --generate-network {generate_network[0]:g} "
                         f"{generate_network[1]:g} sets the bandwidths.")
        bandwidths = generated_bandwidths(pools, *generate_network)
    else:
        matrix = (read_bandwidth_matrix(matrix_file, sum(p.count for p in pools))
                  if matrix_file and matrix_file.exists() else None)
        bandwidths = pool_bandwidths(pools, settings, matrix)
    return Scenario(model, workload, settings, pools, bandwidths, directory, notes, catalog.calibration)
