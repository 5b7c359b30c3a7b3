"""What the commands share: user errors become one message and an exit code, never a traceback; batch-size
options; loading and solving a scenario with a live progress line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from solver.api import load_scenario, solve
from solver.domain.errors import UserError
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Run a command body: a UserError prints its one paragraph and exits with its code; Ctrl-C exits 130."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            Console(stderr=True).print("interrupted; finished results were written atomically")
            sys.exit(130)
    return wrapper  # type: ignore[return-value]


def parse_batch_sizes(text: str | None, option: str = "--batch-size") -> list[int] | None:
    """'16,32,64' -> [16, 32, 64]; None stays None."""
    if text is None:
        return None
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{option} '{text}' is not a list of integers. Fix: e.g. {option} 32 or "
                        f"{option} 16,32,64.") from None
    if not sizes or min(sizes) <= 0 or max(sizes) > 10**6:
        raise UserError(f"{option} needs whole numbers from 1 to 1,000,000. Fix: e.g. {option} 32.")
    return sizes


def load_and_solve(console: Console, config_dir: str, method: str | None, backend: str = "highs",
                   perf_model: str = "roofline", time_limit: float | None = None, batch_sizes: str | None = None,
                   headroom: float | None = None, vllm_deployable: bool = False, verbose: bool = False
                   ) -> tuple[Scenario, Solution]:
    """Load a scenario (printing its notes and warnings) and solve it with a live progress line."""
    scenario = load_scenario(config_dir, parse_batch_sizes(batch_sizes), headroom, vllm_deployable)
    for warning in scenario.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False, soft_wrap=True)
    with console.status("solving ...") as status:
        solution = solve(scenario, method, backend, perf_model, time_limit, verbose, progress=status.update)
    return scenario, solution
