"""What the golden test pins: every bundled preset x method, solved through the CLI entry point, reduced to the
figures and the placement a user reads. `python -m tests.golden_cases` re-records tests/golden/presets.json; do
that only for an intended change of behaviour, and say so in the commit."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

GOLDEN = Path(__file__).with_name("golden") / "presets.json"
METHODS = ("exact", "enumeration", "weighted")


def summarise(config_dir: str, method: str) -> dict:
    """Solve one preset with one method (in-process, as `tokenop-solve --json` prints it) and keep what is pinned."""
    from solver.cli import main

    result = CliRunner().invoke(main, ["--config-dir", config_dir, "--method", method, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    p = data["placement"]
    return {
        "cost_per_million_tokens": p["cost_per_million_tokens"],
        "batch_size": p["batch_size"],
        "replicas": p["replicas"],
        "stages": [[s["gpu_type"], s["tp"], s["first_layer"], s["end_layer"]] for s in p["stages"]],
        "exact_cost_per_million_tokens": data["exact"]["cost_per_million_tokens"],
        "homogeneous_cost_per_million_tokens": (data["homogeneous"] or {}).get("cost_per_million_tokens"),
    }


def record(presets: list[str]) -> None:
    cases = {f"{preset}/{method}": summarise(preset, method) for preset in presets for method in METHODS}
    GOLDEN.parent.mkdir(exist_ok=True)
    lines = ",\n".join(f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in cases.items())
    GOLDEN.write_text("{\n" + lines + "\n}\n")


if __name__ == "__main__":
    record(["demo-tiny", "demo-small", "demo-medium", "demo-large", "llama-3.1-8b", "llama-3.3-70b"])
