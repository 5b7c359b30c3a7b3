"""Read a `solution.json` written by `tokenop-solve --output` (or `plan`) back into the typed Solution."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from solver.domain.errors import ConfigError
from solver.domain.solution import SCHEMA_VERSION, Solution

FIX = "pass the solution.json that `tokenop-solve --config-dir DIR --output OUT` (or `plan`) wrote."


def read_solution(path: Path, need_placement: bool = True) -> Solution:
    """The Solution in `path`; a ConfigError naming the first bad field when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(path, f"cannot read the solution ({exc}).", FIX) from None
    if not isinstance(data, dict):
        raise ConfigError(path, f"the file holds a {type(data).__name__}, not a solution object.", FIX)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(path, f"schema_version is {data.get('schema_version')!r}, this tokenop-solve reads "
                          f"{SCHEMA_VERSION} (written by another version?).",
                          "re-solve with --output to write a current solution.json.")
    try:
        solution = Solution.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"])
        raise ConfigError(path, f"{err['msg']} at '{field}'.", FIX, field=field) from None
    if need_placement and solution.placement is None:
        raise ConfigError(path, "the solution has no placement (the scenario was infeasible).",
                          "relax the scenario and solve again.")
    return solution
