"""What `--model` names: a scenario preset or folder (config.csv, with its workload), a Hugging Face config.json
(a file or a folder holding one), or a bundled model config (`configs/models/NAME.json`)."""

from __future__ import annotations

from pathlib import Path

from solver.domain.errors import ConfigError
from solver.domain.model import ModelArch
from solver.domain.workload import Settings, Workload
from solver.loaders.config_csv import load_settings_and_model
from solver.loaders.hf_config import bundled_models, config_file, read_hf_config
from solver.loaders.resources import bundled_dir
from solver.loaders.scenario import preset_names, resolve_config_dir


def load_model(value: str) -> tuple[ModelArch, Workload | None, Settings, list[str]]:
    """(model, the scenario's workload or None, settings, notes naming where the architecture came from)."""
    found = config_file(Path(value))
    if found is None and not Path(value).exists() and value not in preset_names():
        bundled = bundled_dir("configs") / "models" / f"{value}.json"
        found = bundled if bundled.is_file() else None
    if found is not None:
        model, used, _ = read_hf_config(found)
        return model, None, Settings(), [f"architecture from {found.name}: {', '.join(used)}"]
    try:
        directory, _ = resolve_config_dir(value)
    except ConfigError:
        raise ConfigError(value, "is neither a scenario folder or preset, nor a config.json, nor a bundled model.",
                          f"pass a folder, a config.json, a preset ({', '.join(preset_names())}) or a bundled model "
                          f"({', '.join(bundled_models())}).") from None
    model, workload, settings, notes = load_settings_and_model(directory / "config.csv")
    return model, workload, settings, notes
