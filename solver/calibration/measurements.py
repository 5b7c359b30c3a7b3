"""Measured inference runs in one form, read from the formats people have: the published-runs CSV
(runs_csv.py), the benchmark JSON of seed 001, vLLM `bench serve` result JSON and tokenop's own `validation.json`,
into records.Measurement."""

from __future__ import annotations

import json
from pathlib import Path

from solver.calibration.records import Defaults, Measurement, catalog_gpu, model_for
from solver.calibration.runs_csv import read_runs_csv
from solver.domain.errors import ConfigError
from solver.domain.hardware import Catalog
from solver.domain.model import ModelArch

MEASUREMENT_SUFFIXES = (".csv", ".json")


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
    gpu = catalog_gpu(catalog, _first(meta, "gpu", "gpu_type") or defaults.gpu, path)
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
    gpu = catalog_gpu(catalog, _first(data, "gpu", "gpu_type") or defaults.gpu, path)
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
            source=f"{path.name}:{i}", model=model, gpu_type=catalog_gpu(catalog, record["gpu_type"], path),
            tp=int(record["tp"]), pp=int(record["pp"]), gpus_per_node=int(record["gpus_per_node"]),
            batch_size=int(record["batch_size"]), input_tokens=int(record["input_tokens"]),
            output_tokens=int(record["output_tokens"]), tokens_per_s=float(record["tokens_per_s"]),
            gpu_memory_utilization=float(record["gpu_memory_utilization"]),
            stage_layers=tuple(layers) if layers else None, max_num_seqs=_whole(record.get("max_num_seqs")),
            dp=int(record.get("dp", 1)), max_num_batched_tokens=_whole(record.get("max_num_batched_tokens"))))
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
