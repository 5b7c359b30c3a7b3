"""Benchmark: wall time, MILP solves, stage types / variables / constraints and peak memory per preset, method
and backend. Prints figures; asserts nothing (machines are noisy: compare within one run).

    python scripts/bench_solve.py [--presets tiny,small,medium,large] [--methods enumeration,exact]
                                  [--backends highs]
"""

from __future__ import annotations

import argparse
import resource
import time

from rich.console import Console
from rich.table import Table

from solver.loaders.scenario import load_scenario, resolve_config_dir
from solver.perf import get_model
from solver.search.solve import solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", default="tiny,small,medium,large")
    parser.add_argument("--methods", default="enumeration,exact,weighted")
    parser.add_argument("--backends", default="highs")
    parser.add_argument("--no-compare", action="store_true", help="skip the exact and homogeneous baselines")
    args = parser.parse_args()
    table = Table(title="tokenop-solve benchmark (2 cores)")
    for column in ("preset", "method", "backend", "wall s", "MILP solves", "stage types", "vars", "rows",
                   "$ per 1M tok", "peak RSS MB"):
        table.add_column(column, justify="right")
    perf = get_model("roofline")
    for preset in args.presets.split(","):
        scenario = load_scenario(resolve_config_dir(preset)[0])
        for method in args.methods.split(","):
            for backend in args.backends.split(","):
                start = time.perf_counter()
                outcome = solve(scenario, perf, method=method, backend=backend, compare=not args.no_compare)
                wall = time.perf_counter() - start
                first = outcome.batches[0]
                cpm = outcome.placement.cost_per_million_tokens if outcome.placement else float("nan")
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                table.add_row(preset, method, backend, f"{wall:.2f}", str(outcome.solves), str(first.arcs),
                              str(first.variables), str(first.constraints), f"{cpm:.4f}", f"{rss:.0f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
