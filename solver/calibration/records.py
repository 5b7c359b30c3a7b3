"""One measured inference run, and how a file's names for its model and GPU become tokenop's: the record every
measurement format is read into (solver/calibration/measurements.py dispatches on the format).

A measurement is one deployment (GPU type, TP x PP or an expert-parallel DP, nodes, layer split) serving a batch of
requests of known prompt and output lengths, with the generated tokens per second that was measured. Calibration
fits the performance model's per-GPU factors to these; `scripts/bench_accuracy.py` reports the error on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog
from solver.domain.model import ModelArch
from solver.loaders.config_csv import load_settings_and_model
from solver.loaders.hf_config import bundled_models, read_hf_config
from solver.loaders.models import load_model
from solver.loaders.resources import bundled_dir
from solver.loaders.scenario import preset_names, presets_dir


@dataclass(frozen=True)
class Measurement:
    source: str  # file (and row or batch) it came from
    model: ModelArch
    gpu_type: str  # canonical catalog name
    tp: int
    pp: int
    gpus_per_node: int
    batch_size: int  # requests in flight together (concurrency)
    input_tokens: int
    output_tokens: int
    tokens_per_s: float  # generated tokens per second, whole batch
    gpu_memory_utilization: float = 0.9
    stage_layers: tuple[int, ...] | None = None  # None: vLLM's default split
    max_num_seqs: int | None = None  # the server's --max-num-seqs (per engine); None: vLLM's default for the GPU
    dp: int = 1  # --data-parallel-size of an expert-parallel run (one stage)
    max_num_batched_tokens: int | None = None  # the engine's prefill chunk (--max-num-batched-tokens); None: Workload's
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def file(self) -> str:
        """The file the run came from (`source` without its row or batch)."""
        return self.source.split(":")[0]

    def configuration(self) -> tuple:
        """What identifies a deployment and workload; repeated runs of one configuration share it."""
        return (self.model.name, self.gpu_type, self.tp, self.pp, self.dp, self.gpus_per_node, self.batch_size,
                self.input_tokens, self.output_tokens, self.stage_layers)

    def to_dict(self) -> dict:
        """The record tokenop writes (validation.json) and reads back."""
        return {"model": self.model.model_dump(), "gpu_type": self.gpu_type, "tp": self.tp, "pp": self.pp,
                "gpus_per_node": self.gpus_per_node, "batch_size": self.batch_size,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "tokens_per_s": self.tokens_per_s, "gpu_memory_utilization": self.gpu_memory_utilization,
                "stage_layers": list(self.stage_layers) if self.stage_layers else None,
                "max_num_seqs": self.max_num_seqs, "dp": self.dp,
                "max_num_batched_tokens": self.max_num_batched_tokens}


@dataclass(frozen=True)
class Defaults:
    """What a file may leave out, from the command line (`calibrate --model --gpu --tp --pp`)."""

    model: str | None = None
    gpu: str | None = None
    tp: int = 1
    pp: int = 1
    gpu_memory_utilization: float = 0.9


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().split("/")[-1])


def model_for(named: str | None, fallback: str | None, source: Path, row: int | None = None) -> ModelArch:
    """The model a file names when tokenop knows it, else the --model fallback (e.g. a fine-tune's base)."""
    if named:
        try:
            return resolve_model(str(named), source)
        except ConfigError:
            if not fallback:
                raise
    if not fallback:
        raise ConfigError(source, "the model of these runs is not given.", "pass --model (a preset or config folder).",
                          row=row)
    return resolve_model(fallback, source)


def resolve_model(name: str, source: Path) -> ModelArch:
    """What `--model` takes (a preset, a config folder, a config.json, a bundled model such as mistral-7b), or a
    model name/HF id that matches a preset's or a bundled model's name (ignoring case and punctuation:
    'llama-3-3-70b' is the llama-3.3-70b preset, 'mistralai/Mistral-7B-Instruct-v0.3' the bundled mistral-7b)."""
    try:
        return load_model(name)[0]
    except ConfigError:
        pass
    wanted = _normalise(name)
    known = [load_settings_and_model(presets_dir() / preset / "config.csv")[0] for preset in preset_names()]
    known += [read_hf_config(bundled_dir("configs") / "models" / f"{m}.json")[0] for m in bundled_models()]
    for model in known:
        if wanted in {_normalise(model.name), _normalise(model.hf_name or "")}:
            return model
    raise ConfigError(source, f"the model '{name}' is neither a preset, a config folder, a bundled model nor the "
                      "name of one.", f"pass --model with a preset ({', '.join(preset_names())}), a bundled model "
                      f"({', '.join(bundled_models())}), a config.json or a config folder whose "
                      "config.csv has the model's architecture.")


def catalog_gpu(catalog: Catalog, name: str | None, source: Path, row: int | None = None) -> str:
    if not name:
        raise ConfigError(source, "the GPU type of these runs is not given.",
                          "pass --gpu (e.g. --gpu H100) or add a 'gpu' entry to the file's metadata.", row=row)
    key = catalog.canonical(str(name))
    if key is None:
        raise ConfigError(source, f"unknown GPU type '{name}'.", f"use one of {catalog.known_types()}.", row=row)
    return key
