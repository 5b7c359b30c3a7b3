"""config.csv: rows `parameter,value` read into the model, workload and settings sections.

The older Gurobi solver's folders load unchanged: its keys map onto the same fields (`docs/config.md` lists
every key). Every error names the file, the row, the field and the fix.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ValidationError

from solver.domain.errors import ConfigError
from solver.domain.model import PRECISION_OF_BYTES, ModelArch
from solver.domain.workload import Settings, Workload
from solver.loaders import legacy
from solver.loaders.hf_config import model_json, read_hf_config
from solver.loaders.tables import read_table

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
                "enable_segment_quantization", "segment_quantization", "max_position_embeddings", "hf_config",
                *legacy.IGNORED}
LIST_FIELDS = {"tp_degrees", "segment_sizes", "budget_factors", "batch_sizes"}
BOOL_KEYS = {"gated_mlp", "tied_embeddings", "enable_segment_quantization", "vllm_deployable", "enforce_cost_target",
             "expert_parallel"}
# Keys read into several fields: they must be whole numbers (or, for bytes_per_element, a known width).
WHOLE_KEYS = {"sequence_length", "min_batch_size", "max_batch_size", "max_position_embeddings"}
BYTES_PER_ELEMENT = (0.5, 1, 2, 4)
SECTIONS: dict[str, type[BaseModel]] = {"model": ModelArch, "workload": Workload, "settings": Settings}
Value = int | float | str | bool | list[int] | list[float]


def parse_value(key: str, raw: str) -> Value:
    """A config cell as the type its key expects: a '|'-separated list, a boolean, inf, a number or text."""
    text = raw.strip()
    low = text.lower()
    if key in LIST_FIELDS:
        parts = [v for v in text.replace(";", "|").split("|") if v.strip()]
        numbers = [float(v) for v in parts]
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError(text)
        return numbers if key == "budget_factors" else [int(v) for v in numbers]
    if key in BOOL_KEYS:
        if low not in {"true", "false", "yes", "no", "1", "0"}:
            raise ValueError(text)
        return low in {"true", "yes", "1"}
    if low in {"true", "false", "yes", "no"}:
        return low in {"true", "yes"}
    if low in {"inf", "infinity", "none", ""}:
        if key in WHOLE_KEYS or key == "bytes_per_element":
            raise ValueError(text)
        return math.inf
    try:
        number = float(text)
    except ValueError:
        if key in WHOLE_KEYS or key == "bytes_per_element":
            raise
        return text
    if math.isnan(number):
        raise ValueError(text)
    if key in WHOLE_KEYS and (not number.is_integer() or not 1 <= number <= 10_000_000):
        raise ValueError(text)
    if key == "bytes_per_element" and number not in BYTES_PER_ELEMENT:
        raise ValueError(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 and "." not in text else number


def expected(key: str) -> str:
    """What a valid value of `key` looks like, for error messages."""
    if key in LIST_FIELDS:
        return "give positive numbers separated by '|' (e.g. 1|2|4|8)."
    if key in BOOL_KEYS:
        return "write true or false."
    if key in WHOLE_KEYS:
        return "give a whole number from 1 to 10,000,000."
    if key == "bytes_per_element":
        return "give 2 (bf16), 1 (fp8), 4 (fp32) or 0.5 (int4)."
    return "give a number (or inf for no limit)."


def powers_of_two_between(low: int, high: int) -> list[int]:
    """Batch sizes to sweep: the powers of two within [low, high], plus the two ends."""
    sizes = {low, high}
    p = 1
    while p <= high:
        if p >= low:
            sizes.add(p)
        p *= 2
    return sorted(sizes)


def read_config_csv(path: Path) -> tuple[dict[str, Value], dict[str, int], list[str]]:
    """Rows of config.csv as {key: value}, with each key's row number and warnings for unknown keys."""
    header, table = read_table(path, "create it with rows 'parameter,value' (see configs/medium/config.csv).")
    if header[:2] != ["parameter", "value"]:
        raise ConfigError(path, f"the header is {header}, expected 'parameter,value'.",
                          "make the first line exactly 'parameter,value'.", row=1)
    values: dict[str, Value] = {}
    rows: dict[str, int] = {}
    warnings: list[str] = []
    known = set(KEY_MAP) | SETTINGS_KEYS | SPECIAL_KEYS
    for row_no, row in table:
        key, raw = row["parameter"], row["value"]
        if not key:
            continue
        if key not in known:
            warnings.append(f"{path}, row {row_no}: unknown key '{key}' ignored (see docs/config.md for keys).")
            continue
        if key in rows:
            raise ConfigError(path, f"'{key}' is given twice (rows {rows[key]} and {row_no}).",
                              "keep one of the two rows.", row=row_no, field=key)
        rows[key] = row_no
        try:
            values[key] = parse_value(key, raw)
        except ValueError:
            raise ConfigError(path, f"'{raw}' is not a valid value for '{key}'.", expected(key), row=row_no,
                              field=key) from None
    low, high = values.get("min_batch_size"), values.get("max_batch_size")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise ConfigError(path, f"min_batch_size {low} is larger than max_batch_size {high}.",
                          "make min_batch_size <= max_batch_size.", row=rows["min_batch_size"], field="min_batch_size")
    return values, rows, warnings


def build_sections(values: dict[str, Value]) -> dict[str, dict[str, Value]]:
    """Split flat config keys into model / workload / settings dictionaries, deriving the legacy ones."""
    sections: dict[str, dict[str, Value]] = {"model": {}, "workload": {}, "settings": {}}
    for key, value in values.items():
        if key in KEY_MAP:
            section, name = KEY_MAP[key]
            sections[section][name] = value
        elif key in SETTINGS_KEYS:
            sections["settings"][key] = value
    if "precision" not in values and "bytes_per_element" in values:
        sections["model"]["precision"] = PRECISION_OF_BYTES.get(float(values["bytes_per_element"]), "bf16")  # type: ignore[arg-type]
    if "enable_segment_quantization" in values:
        sections["settings"]["segment_quantization"] = "auto" if values["enable_segment_quantization"] else "off"
    if "segment_quantization" in values:
        sections["settings"]["segment_quantization"] = str(values["segment_quantization"]).lower()
    work = sections["workload"]
    if "sequence_length" in values and ("input_tokens" not in work or "output_tokens" not in work):
        # The older solver had one sequence length; split it like the seed benchmarks (about 7:1 prompt:output).
        total = int(values["sequence_length"])  # type: ignore[arg-type]
        out = work.get("output_tokens") or max(1, total // 8)
        work.setdefault("output_tokens", out)
        work.setdefault("input_tokens", max(1, total - int(out)))  # type: ignore[arg-type]
    if "batch_sizes" in values:
        work["batch_sizes"] = values["batch_sizes"]
    else:
        low = int(values.get("min_batch_size", values.get("max_batch_size", 32)))  # type: ignore[arg-type]
        high = int(values.get("max_batch_size", low))  # type: ignore[arg-type]
        work["batch_sizes"] = powers_of_two_between(low, max(low, high))
    return sections


def _validation_error(path: Path, exc: ValidationError, rows: dict[str, int], section: str) -> ConfigError:
    err = exc.errors()[0]
    if not err["loc"]:  # a rule across fields: the message names them
        message = err["msg"].removeprefix("Value error, ")
        return ConfigError(path, f"{message}.", "change the rows the message names.")
    name = str(err["loc"][0])
    key = next((k for k, (s, f) in KEY_MAP.items() if s == section and f == name and k in rows), name)
    if err["type"] == "missing" and name in ("input_tokens", "output_tokens"):
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
    warnings += legacy.map_legacy_keys(values, sections)
    if "hf_config" in values:  # the architecture from a config.json; rows of config.csv override its fields
        model, used, limit = read_hf_config(model_json(path.parent, str(values["hf_config"])))
        sections["model"] = model.model_dump() | sections["model"]
        warnings.append(f"{path}: model from {values['hf_config']} ({', '.join(used)}).")
        if limit and "max_position_embeddings" not in values:
            values["max_position_embeddings"] = limit
    parsed = {}
    for section, cls in SECTIONS.items():
        try:
            parsed[section] = cls(**sections[section])
        except ValidationError as exc:
            raise _validation_error(path, exc, rows, section) from None
    model, workload, settings = parsed["model"], parsed["workload"], parsed["settings"]
    warnings += legacy.check_model(path, values, model, workload.input_tokens + workload.output_tokens)  # type: ignore
    return model, workload, settings, warnings  # type: ignore[return-value]
