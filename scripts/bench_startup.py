"""Start-up cost as a user pays it: wall time of `tokenop-solve --help` and of one `predict`, each a fresh process,
median of several runs, plus the modules `--help` imports. Prints figures, asserts nothing (targets: --help
<= 0.3 s, predict <= 1 s on the 2-core reference machine).

    python scripts/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

COMMANDS = {
    "tokenop-solve --help": ["--help"],
    "tokenop-solve predict (8B, H100, 3 batch sizes)": ["predict", "--model", "llama-3.1-8b", "--gpu", "H100",
                                                         "--batch-size", "1,8,64", "--json"],
}
HEAVY = ("numpy", "pandas", "scipy", "highspy", "ortools", "pulp", "pydantic")


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "solver", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def heavy_imports_of_help() -> list[str]:
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom solver.cli import main\n"
             "CliRunner().invoke(main, ['--help'])\nprint(' '.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    return sorted({name.split(".")[0] for name in loaded if name.split(".")[0] in HEAVY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    table = Table(title=f"start-up, median of {args.runs} fresh processes", title_justify="left")
    for column in ("command", "median s", "min s", "max s"):
        table.add_column(column, justify="right")
    for name, argv in COMMANDS.items():
        wall(argv)  # warm the file cache
        times = [wall(argv) for _ in range(args.runs)]
        table.add_row(name, f"{statistics.median(times):.3f}", f"{min(times):.3f}", f"{max(times):.3f}")
    console = Console(width=120)
    console.print(table)
    console.print(f"heavy modules imported by --help: {', '.join(heavy_imports_of_help()) or 'none'}")


if __name__ == "__main__":
    main()
