"""Bundled scenario presets in `configs/`, addressable by name (the older solver's `config/medium` too)."""

from __future__ import annotations

from pathlib import Path

from solver.errors import ConfigError


def presets_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "configs"


def preset_names() -> list[str]:
    return sorted(p.name for p in presets_dir().iterdir() if (p / "config.csv").is_file())


def resolve_config_dir(value: str) -> tuple[Path, str | None]:
    """An existing folder as given; else `config/NAME`, `configs/NAME` or `NAME` of a bundled preset."""
    path = Path(value)
    if path.is_dir():
        return path, None
    name = path.name if path.parent.name in ("config", "configs", "") else None
    if name and (presets_dir() / name / "config.csv").is_file():
        resolved = presets_dir() / name
        return resolved, f"'{value}' does not exist; using the bundled preset {resolved}"
    raise ConfigError(value, "the config directory does not exist.",
                      f"pass an existing folder or a preset name ({', '.join(preset_names())}).")
