"""tokenop-solve: exact, license-free GPU placement planning for LLM inference.

Data flows domain -> loaders -> perf -> placement (MILP) -> search -> report; docs/architecture.md draws it.
`from solver import load_scenario, solve` is the Python API (solver/api.py), imported on first use so that
`import solver` stays instant.
"""

from typing import Any

__version__ = "0.2.0"
__all__ = ["__version__", "load_scenario", "solve"]


def __getattr__(name: str) -> Any:
    if name in ("load_scenario", "solve"):
        from solver import api

        return getattr(api, name)
    raise AttributeError(f"module 'solver' has no attribute '{name}'")
