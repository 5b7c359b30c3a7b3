"""Benchmark: wall time, MILP solves, stage types / variables / constraints and peak memory per preset, method
and backend. Prints figures; asserts nothing (machines are noisy: compare within one run). Times are in-process (add the
start-up of scripts/bench_startup.py for a command's wall time); they include the exact and single-type baselines.

    python scripts/bench_solve.py [--presets demo-medium,demo-large,medium,large] [--methods enumeration,exact]
                                  [--backends highs]

The older solver's `large` runs with --generate-network 400 200, as its scripts ran it.
"""

from __future__ import annotations

import argparse
import resource
import time

from rich.console import Console
from rich.table import Table

from solver.api import load_scenario, solve

GENERATED = {"large": (400.0, 200.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", default="demo-tiny,demo-small,demo-medium,demo-large,tiny,small,medium,large,hal,"
                                              "scripts/scenarios/twelve-types")
    parser.add_argument("--methods", default="enumeration,exact,weighted")
    parser.add_argument("--backends", default="highs")
    args = parser.parse_args()
    table = Table(title="tokenop-solve benchmark (2 cores)")
    for column in ("preset", "method", "backend", "wall s", "MILP solves", "stage types", "vars", "rows",
                   "$ per 1M tok", "peak RSS MB"):
        table.add_column(column, justify="right")
    for preset in args.presets.split(","):
        scenario = load_scenario(preset, generate_network=GENERATED.get(preset))
        for method in args.methods.split(","):
            for backend in args.backends.split(","):
                start = time.perf_counter()
                solution = solve(scenario, method=method, backend=backend)
                wall = time.perf_counter() - start
                first = solution.batches[0]
                p = solution.placement
                cpm = f"{p.cost_per_million_tokens:.4f} (batch {p.batch_size})" if p else "none"
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                table.add_row(preset, method, backend, f"{wall:.2f}", str(solution.solves), str(first.stage_types),
                              str(first.variables), str(first.constraints), cpm, f"{rss:.0f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
