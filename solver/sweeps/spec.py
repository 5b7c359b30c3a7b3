"""The sweep spec (YAML, validated; errors name the key) and its expansion into points.

    name: nightly
    scenarios: [medium, large]          # presets or scenario folders
    grid:                               # cartesian product; every key optional; a scalar means one value
      input_tokens: [512, 2048]
      batch_size: [16, 64]              # or omit: each scenario's own batch sweep
      method: [exact]
      price_provider: [aws, neocloud]   # or prices: [path/to/prices.csv, ...]
    time_limit_seconds: 60              # per point
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from solver.domain.choices import METHODS, PRECISIONS
from solver.domain.errors import ConfigError

GRID_KEYS = ("input_tokens", "output_tokens", "batch_size", "method", "price_provider", "prices", "gpu_pool",
             "precision", "headroom")


class Grid(BaseModel):
    """Values to combine; a scalar means one value, an omitted key keeps each scenario's own setting."""

    model_config = ConfigDict(extra="forbid")
    input_tokens: list[PositiveInt] = Field(default_factory=list)
    output_tokens: list[PositiveInt] = Field(default_factory=list)
    batch_size: list[PositiveInt] = Field(default_factory=list)
    method: list[Literal[METHODS]] = Field(default_factory=lambda: ["exact"])  # type: ignore[valid-type]
    price_provider: list[str] = Field(default_factory=list)
    prices: list[str] = Field(default_factory=list)
    gpu_pool: list[str] = Field(default_factory=list)
    precision: list[Literal[PRECISIONS]] = Field(default_factory=list)  # type: ignore[valid-type]
    headroom: list[float] = Field(default_factory=list)

    @field_validator("*", mode="before")
    @classmethod
    def _scalar_is_one_value(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]

    @field_validator("headroom")
    @classmethod
    def _headroom_range(cls, values: list[float]) -> list[float]:
        if any(not 0 <= v < 1 for v in values):
            raise ValueError("headroom values must be in [0, 1)")
        return values


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    scenarios: list[str] = Field(min_length=1)
    grid: Grid = Field(default_factory=Grid)
    time_limit_seconds: float = Field(default=60.0, gt=0, le=86_400, allow_inf_nan=False)

    @field_validator("scenarios", mode="before")
    @classmethod
    def _scalar_is_one_scenario(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]

    def points(self, base: Path) -> list[Point]:
        """Every combination of scenarios and grid values (relative paths resolve against the spec's folder)."""
        g = self.grid
        axes = {key: getattr(g, key) or [None] for key in GRID_KEYS}
        points = []
        for scenario in self.scenarios:
            for values in itertools.product(*axes.values()):
                inputs = dict(zip(axes, values))
                for key in ("prices", "gpu_pool"):
                    if inputs[key] is not None:
                        inputs[key] = str((base / str(inputs[key])).resolve())
                points.append(Point(scenario=_scenario_ref(scenario, base), time_limit_seconds=self.time_limit_seconds,
                                    **inputs))
        return points


class Point(BaseModel):
    """One solve of a sweep: a scenario and the grid values applied to it (None: the scenario's own)."""

    model_config = ConfigDict(frozen=True)
    scenario: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    batch_size: int | None = None
    method: str | None = None
    price_provider: str | None = None
    prices: str | None = None
    gpu_pool: str | None = None
    precision: str | None = None
    headroom: float | None = None
    time_limit_seconds: float = 60.0

    @property
    def point_id(self) -> str:
        """The point across nights: a hash of its inputs (prices and catalog may change between nights)."""
        return _digest(self.model_dump())

    def key(self, data_hash: str) -> str:
        """The point in one state of the data: finished points with the same key are not solved again."""
        return _digest({"point": self.point_id, "data": data_hash})


def _scenario_ref(scenario: str, base: Path) -> str:
    """A preset name stays a name; a folder becomes an absolute path."""
    path = base / scenario
    return str(path.resolve()) if path.is_dir() else scenario


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_spec(path: Path) -> SweepSpec:
    """Read and validate a spec file; a bad key is named with the fix."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the spec ({exc}).", "pass a YAML sweep spec (docs/sweeps.md).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"this is not valid YAML ({exc}).".replace("\n", " "),
                          "fix the YAML syntax (docs/sweeps.md has an example).") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "the spec is not a mapping of keys.", "start from the example in docs/sweeps.md.")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"])
        fix = "remove it (docs/sweeps.md lists the keys)" if err["type"] == "extra_forbidden" else \
            f"set '{key}' to a valid value"
        raise ConfigError(path, f"{err['msg']} at '{key}'.", fix + ".", field=key) from None
