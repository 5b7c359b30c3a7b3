"""tokenop-solve: exact, license-free GPU placement planning for LLM inference.

Data flows domain -> loaders -> perf -> placement (MILP) -> search -> report; docs/architecture.md draws it.
`from solver import load_scenario, solve, sweep, plan_capacity` is the Python API (solver/api.py), imported on first use
so that `import solver` stays instant.
"""

import os
import sys
from typing import Any

__version__ = "0.2.0"
__all__ = ["__version__", "load_scenario", "plan_capacity", "solve", "sweep"]
INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C


def run_cli() -> None:
    """The `tokenop-solve` entry point: Ctrl-C at any moment, even while the CLI is still being imported, exits 130
    with one line and never a traceback."""
    try:
        from solver.cli import main

        main()
    except KeyboardInterrupt:
        exit_interrupted("interrupted (Ctrl-C) before the run finished: nothing was written.")


def exit_interrupted(message: str) -> None:
    """Print one line and exit 130 at once. os._exit, because an interpreter shutting down right after a
    KeyboardInterrupt can re-raise SIGINT and end with -2 instead; nothing is left to clean up by then (result sets
    clean up as the exception passes)."""
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os._exit(INTERRUPTED)


def __getattr__(name: str) -> Any:
    if name in ("load_scenario", "solve", "sweep", "plan_capacity"):
        from solver import api

        return getattr(api, name)
    raise AttributeError(f"module 'solver' has no attribute '{name}'")
