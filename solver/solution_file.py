"""Read a `solution.json` written by `tokenop-solve --output` back into what `plan` and `validate` need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from solver.config import ModelArch
from solver.errors import ConfigError
from solver.placement import Placement

REQUIRED = ("placement", "model_arch", "input_tokens", "output_tokens", "gpu_memory_utilization", "gpus_per_node")


@dataclass
class Solution:
    path: Path
    data: dict
    placement: Placement
    model: ModelArch

    @property
    def input_tokens(self) -> int:
        return int(self.data["input_tokens"])

    @property
    def output_tokens(self) -> int:
        return int(self.data["output_tokens"])

    @property
    def model_ref(self) -> str:
        """What vLLM should load unless told otherwise: the HF id of the config, else the model's name."""
        return self.data.get("hf_model_name") or self.model.name


def read_solution(path: Path) -> Solution:
    fix = "pass the solution.json that `tokenop-solve --config-dir DIR --output OUT` (or `plan`) wrote."
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(path, f"cannot read the solution ({exc}).", fix)
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ConfigError(path, f"fields {missing} are missing (written by an older tokenop-solve?).",
                          "re-solve with --output to write a current solution.json.")
    if not data["placement"]:
        raise ConfigError(path, "the solution has no placement (the scenario was infeasible).",
                          "relax the scenario and solve again.")
    try:
        return Solution(Path(path), data, Placement.from_dict(data["placement"]), ModelArch(**data["model_arch"]))
    except (TypeError, KeyError, ValidationError) as exc:
        raise ConfigError(path, f"the placement or model is malformed ({exc}).", fix)
