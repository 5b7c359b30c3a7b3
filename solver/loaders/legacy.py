"""The older solver's keys, read with the meaning they had there (docs/migration.md has one row per key).

Where a key keeps its meaning it is mapped silently; where tokenop-solve does something else, one notice names
the key, the older meaning, what happens here and how to get the older behaviour. No answer changes silently.
"""

from __future__ import annotations

from solver.domain.errors import ConfigError
from solver.domain.model import ModelArch
from solver.domain.solution import PROVEN_GAP
from solver.perf import architecture as arch

# The older solver's OPTIMIZATION_PRIORITY_MAP: optimization_priority -> cost_throughput_weight.
PRIORITY_WEIGHT = {"throughput_first": 0.1, "balanced": 0.5, "cost_first": 0.9}
LAYER_WEIGHT_TOLERANCE = 0.2
IGNORED = {
    "real_world_efficiency": "the fork's one throughput factor for every GPU; here each GPU type has calibrated "
                             "efficiencies in gpu_pools/ (derate every plan with --headroom instead)",
    "micro_batch_size": "the fork's pipeline micro-batch; here a P-stage pipeline runs P micro-batches of the batch "
                        "size, as vLLM does",
}


def map_legacy_keys(values: dict, sections: dict[str, dict]) -> list[str]:
    """Give legacy keys their older meaning in `sections` (in place); the notices to print."""
    notes: list[str] = []
    settings = sections["settings"]
    priority = values.get("optimization_priority")
    if priority in PRIORITY_WEIGHT and "cost_throughput_weight" not in values:
        settings["cost_throughput_weight"] = PRIORITY_WEIGHT[str(priority)]
    gap = values.get("optimality_gap")
    if isinstance(gap, (int, float)) and PROVEN_GAP < gap < 1:  # out of range: Settings names the row
        settings.pop("optimality_gap", None)
        notes.append(f"optimality_gap {gap} (the older solver's Gurobi MIP gap) is not applied: plans here are "
                     f"proven optimal within {PROVEN_GAP:g}; pass --optimality-gap {gap} to accept the looser gap.")
    for key, why in IGNORED.items():
        if key in values:
            notes.append(f"{key} {values[key]} has no effect here: {why}.")
    return notes


def check_model(path: object, values: dict, model: ModelArch, workload_tokens: int) -> list[str]:
    """Cross-checks of the model rows: the context fits max_position_embeddings; a layer_weight_memory_gb far from
    what the dimensions imply is named, with which figure the plan uses."""
    limit = values.get("max_position_embeddings")
    if isinstance(limit, (int, float)) and workload_tokens > limit:
        raise ConfigError(path, f"input + output tokens ({workload_tokens}) exceed max_position_embeddings ({limit}).",
                          "shorten the requests or raise max_position_embeddings.", field="max_position_embeddings")
    if model.layer_weight_memory_gb is None:
        return []
    implied = arch.params_per_layer(model) * model.weight_bytes / 1e9
    ratio = model.layer_weight_memory_gb / implied
    if abs(ratio - 1) <= LAYER_WEIGHT_TOLERANCE:
        return []
    return [f"layer_weight_memory_gb {model.layer_weight_memory_gb:g} GB is {ratio:.2f}x what the dimensions imply "
            f"({implied:.2f} GB per layer in {model.precision}); the plan uses {model.layer_weight_memory_gb:g} GB "
            "for weight memory and per-step weight reads (delete the row to use the dimensions)."]
