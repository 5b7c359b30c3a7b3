"""Measured inference runs in one form, read from the formats people have: the published-runs CSV, the benchmark
JSON of seed 001, vLLM `bench serve` result JSON and tokenop's own `validation.json`.

A measurement is one deployment (GPU type, TP x PP, nodes, layer split) serving a batch of requests of known
prompt and output lengths, with the generated tokens per second that was measured. Calibration fits the
performance model's per-GPU factors to these; `scripts/bench_accuracy.py` reports the error on them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from solver.domain.choices import PRECISIONS
from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog
from solver.domain.model import ModelArch
from solver.loaders.config_csv import load_settings_and_model
from solver.loaders.hf_config import bundled_models, read_hf_config
from solver.loaders.models import load_model
from solver.loaders.resources import bundled_dir
from solver.loaders.scenario import preset_names, presets_dir

MEASUREMENT_SUFFIXES = (".csv", ".json")


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
    max_num_seqs: int | None = None  # the server's --max-num-seqs; None: vLLM's default for the GPU
    extra: dict = field(default_factory=dict, compare=False)

    def configuration(self) -> tuple:
        """What identifies a deployment and workload; repeated runs of one configuration share it."""
        return (self.model.name, self.gpu_type, self.tp, self.pp, self.gpus_per_node, self.batch_size,
                self.input_tokens, self.output_tokens, self.stage_layers)

    def to_dict(self) -> dict:
        """The record tokenop writes (validation.json) and reads back."""
        return {"model": self.model.model_dump(), "gpu_type": self.gpu_type, "tp": self.tp, "pp": self.pp,
                "gpus_per_node": self.gpus_per_node, "batch_size": self.batch_size,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "tokens_per_s": self.tokens_per_s, "gpu_memory_utilization": self.gpu_memory_utilization,
                "stage_layers": list(self.stage_layers) if self.stage_layers else None,
                "max_num_seqs": self.max_num_seqs}


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


def _gpu(catalog: Catalog, name: str | None, source: Path, row: int | None = None) -> str:
    if not name:
        raise ConfigError(source, "the GPU type of these runs is not given.",
                          "pass --gpu (e.g. --gpu H100) or add a 'gpu' entry to the file's metadata.", row=row)
    key = catalog.canonical(str(name))
    if key is None:
        raise ConfigError(source, f"unknown GPU type '{name}'.", f"use one of {catalog.known_types()}.", row=row)
    return key


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
    if "precision" in table.columns:
        table["precision"] = table["precision"].fillna("")
    if missing:
        raise ConfigError(path, f"columns {sorted(missing)} are missing (header is {list(table.columns)}).",
                          f"use the header of results/calibration/aws_vllm_llama70b.csv: {sorted(CSV_COLUMNS)} "
                          "plus optional model, num_gpus, instance_type, gpu_memory_utilization, max_num_seqs, "
                          "precision.", row=1)
    models: dict[str, ModelArch] = {}
    runs = []
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        name = row.get("model") if isinstance(row.get("model"), str) else None
        if name not in models:
            models[name] = model_for(name, defaults.model, path, row_no)
        model = _with_precision(models[name], str(row.get("precision") or ""), path, row_no)
        tp, pp = _cell(row, "tp", int, path, row_no), _cell(row, "pp", int, path, row_no)
        gpus = _cell(row, "num_gpus", int, path, row_no, tp * pp)
        gpu = _gpu(catalog, row["gpu_type"], path, row_no)
        per_node = math.ceil(gpus / _nodes(row.get("instance_type", ""))) if "instance_type" in row else \
            catalog.spec(gpu).gpus_per_node
        tokens_per_s = _cell(row, "measured_output_tokens_per_s", float, path, row_no)
        max_num_seqs = _cell(row, "max_num_seqs", int, path, row_no, None)
        if not tokens_per_s > 0 or tp < 1 or pp < 1 or (max_num_seqs is not None and max_num_seqs < 1):
            raise ConfigError(path, "tp, pp, measured_output_tokens_per_s and max_num_seqs must be positive.",
                              "fix or drop this row.", row=row_no)
        runs.append(Measurement(
            source=f"{path.name}:{row_no}", model=model, gpu_type=gpu, tp=tp, pp=pp, gpus_per_node=per_node,
            batch_size=_cell(row, "batch_size", int, path, row_no),
            input_tokens=_cell(row, "input_tokens", int, path, row_no),
            output_tokens=_cell(row, "output_tokens", int, path, row_no), tokens_per_s=tokens_per_s,
            gpu_memory_utilization=_cell(row, "gpu_memory_utilization", float, path, row_no,
                                         defaults.gpu_memory_utilization),
            max_num_seqs=max_num_seqs))
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


def _whole(value) -> int | None:
    """An optional count from a JSON record: None where not given."""
    return int(value) if value not in (None, "") else None


def _first(data: dict, *keys, default=None):
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return default


def read_seed_json(path: Path, data: dict, catalog: Catalog, defaults: Defaults) -> list[Measurement]:
    """Seed 001's benchmark format: metadata.model plus results[batch].tokens_per_second_in_batch; lengths from
    avg_input_tokens / avg_output_tokens (carried forward from earlier batches when an entry omits them);
    metadata.max_num_seqs caps the concurrency of larger batches (the rest queue)."""
    meta = data.get("metadata", {})
    model = model_for(_first(meta, "model"), defaults.model, path)
    gpu = _gpu(catalog, _first(meta, "gpu", "gpu_type") or defaults.gpu, path)
    cap = int(_first(meta, "max_num_seqs", default=0)) or None  # the server ran at most this many at once
    tp = int(_first(meta, "tp", "tensor_parallel_size", default=defaults.tp))
    pp = int(_first(meta, "pp", "pipeline_parallel_size", default=defaults.pp))
    lengths = {"avg_input_tokens": _first(meta, "input_tokens"), "avg_output_tokens": _first(meta, "output_tokens")}
    runs = []
    for batch, entry in sorted(data["results"].items(), key=lambda kv: int(kv[0])):
        lengths.update({k: entry[k] for k in lengths if entry.get(k)})
        if not all(lengths.values()):
            raise ConfigError(path, f"batch {batch} has no avg_input_tokens / avg_output_tokens.",
                              "add them to the first batch entry or to metadata (input_tokens, output_tokens).")
        runs.append(Measurement(
            source=f"{path.name}:batch {batch}", model=model, gpu_type=gpu, tp=tp, pp=pp,
            gpus_per_node=catalog.spec(gpu).gpus_per_node, batch_size=min(int(batch), cap or int(batch)),
            input_tokens=round(float(lengths["avg_input_tokens"])),
            output_tokens=round(float(lengths["avg_output_tokens"])),
            tokens_per_s=float(entry["tokens_per_second_in_batch"]),
            gpu_memory_utilization=float(_first(meta, "gpu_memory_utilization",
                                                default=defaults.gpu_memory_utilization)), max_num_seqs=cap))
    return runs


def read_vllm_bench_json(path: Path, data: dict, catalog: Catalog, defaults: Defaults) -> list[Measurement]:
    """A `vllm bench serve --save-result` file. It does not record the hardware: pass it with
    `--metadata gpu=H100 tp=1 pp=1` at benchmark time (saved as top-level keys) or with --gpu/--tp/--pp here."""
    completed = int(data.get("completed") or 0)
    if completed <= 0:
        raise ConfigError(path, "the benchmark completed no requests.", "re-run the benchmark.")
    model = model_for(_first(data, "model", "model_id"), defaults.model, path)
    gpu = _gpu(catalog, _first(data, "gpu", "gpu_type") or defaults.gpu, path)
    concurrency = _first(data, "max_concurrency", "num_prompts")
    return [Measurement(
        source=path.name, model=model, gpu_type=gpu,
        tp=int(_first(data, "tp", "tensor_parallel_size", default=defaults.tp)),
        pp=int(_first(data, "pp", "pipeline_parallel_size", default=defaults.pp)),
        gpus_per_node=int(_first(data, "gpus_per_node", default=catalog.spec(gpu).gpus_per_node)),
        batch_size=min(int(concurrency), completed), input_tokens=round(data["total_input_tokens"] / completed),
        output_tokens=round(data["total_output_tokens"] / completed), tokens_per_s=float(data["output_throughput"]),
        gpu_memory_utilization=float(_first(data, "gpu_memory_utilization",
                                            default=defaults.gpu_memory_utilization)),
        max_num_seqs=_whole(_first(data, "max_num_seqs")))]


def read_tokenop_json(path: Path, data: dict, catalog: Catalog) -> list[Measurement]:
    """`measurements` records as written by `tokenop-solve validate` (Measurement.to_dict)."""
    runs = []
    for i, record in enumerate(data["measurements"]):
        model = ModelArch(**record["model"])
        layers = record.get("stage_layers")
        runs.append(Measurement(
            source=f"{path.name}:{i}", model=model, gpu_type=_gpu(catalog, record["gpu_type"], path),
            tp=int(record["tp"]), pp=int(record["pp"]), gpus_per_node=int(record["gpus_per_node"]),
            batch_size=int(record["batch_size"]), input_tokens=int(record["input_tokens"]),
            output_tokens=int(record["output_tokens"]), tokens_per_s=float(record["tokens_per_s"]),
            gpu_memory_utilization=float(record["gpu_memory_utilization"]),
            stage_layers=tuple(layers) if layers else None, max_num_seqs=_whole(record.get("max_num_seqs"))))
    return runs


def read_measurements(path: Path, catalog: Catalog, defaults: Defaults = Defaults()) -> list[Measurement]:
    """Every run in one file, whichever of the supported formats it is."""
    if path.suffix == ".csv":
        return read_runs_csv(path, catalog, defaults)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(path, f"cannot read this JSON file ({exc}).", "pass a valid measurement file.") from None
    try:
        if "measurements" in data:
            return read_tokenop_json(path, data, catalog)
        if "results" in data and "metadata" in data:
            return read_seed_json(path, data, catalog, defaults)
        if "output_throughput" in data:
            return read_vllm_bench_json(path, data, catalog, defaults)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(path, f"a field is missing or malformed ({exc}).",
                          "compare the file with the format in docs/calibration.md.") from None
    raise ConfigError(path, "this JSON file is not a measurement format tokenop knows.",
                      "use a seed-001 benchmark JSON (metadata + results), a `vllm bench serve` result JSON, or a "
                      "tokenop validation.json (docs/calibration.md).")


def collect(paths: list[Path], catalog: Catalog, defaults: Defaults = Defaults()) -> list[Measurement]:
    """Measurements from files and from every .csv/.json directly inside the given folders."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in MEASUREMENT_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(path, "no such measurement file or folder.", "pass existing files or folders.")
    return [m for f in files for m in read_measurements(f, catalog, defaults)]
