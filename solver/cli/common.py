"""What the commands share: user errors become one message and an exit code, never a traceback; batch-size
options; loading and solving a scenario with a live progress line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from solver import exit_interrupted
from solver.api import load_scenario, solve
from solver.domain.choices import DEFAULT_PERF_MODEL
from solver.domain.errors import UserError
from solver.domain.scenario import Scenario
from solver.domain.solution import Solution
from solver.milp.stop import stop_on_sigint

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
            exit_interrupted("interrupted (Ctrl-C): stopped before the run finished, so nothing was written (results "
                             "are written only as a whole, at the end).")
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


@dataclass
class SolveRequest:
    """What the bare command and `plan` were asked: the scenario, the overrides and the older solver's flags."""

    config_dir: str
    method: str | None = None
    backend: str = "highs"
    perf_model: str = DEFAULT_PERF_MODEL
    time_limit: float | None = None
    batch_sizes: str | None = None
    headroom: float | None = None
    vllm_deployable: bool = False
    no_expert_parallel: bool = False
    verbose: bool = False
    optimality_gap: float | None = None
    cost_weight: float | None = None
    generate_network: tuple[float, float] | None = None
    cloud_provider: str | None = None
    tp_config: str | None = None
    threads: int | None = None
    max_threads: int | None = None
    enforce_cost_target: bool = False
    search_all_tp: bool = False
    switches: dict[str, bool | None] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line for each older flag that is accepted but changes nothing here."""
        lines = [f"--{'enable' if on else 'disable'}-{name.replace('_', '-')} has no effect here: it switched a "
                 "Gurobi model feature of the older solver; this MILP has no such switch (docs/migration.md)."
                 for name, on in self.switches.items() if on is not None]
        if self.search_all_tp:
            lines.append("--search-all-tp is what tokenop-solve always does: every allowed TP degree is searched.")
        return lines

    def fixed_tp(self) -> dict[str, int] | None:
        """--tp-config '{"A100": 4, "V100": 1}' as {GPU type: TP}."""
        if self.tp_config is None:
            return None
        try:
            parsed = json.loads(self.tp_config)
            assert isinstance(parsed, dict) and all(isinstance(v, int) and v >= 1 for v in parsed.values())
        except (ValueError, AssertionError):
            raise UserError(f"--tp-config '{self.tp_config}' is not a JSON object of GPU types to TP degrees. Fix: "
                            """e.g. --tp-config '{"A100": 4, "V100": 1}'.""") from None
        return {str(k): int(v) for k, v in parsed.items()}

    def threads_to_use(self) -> int | None:
        if self.threads and self.max_threads:
            return min(self.threads, self.max_threads)
        return self.threads


def load_and_solve(console: Console, request: SolveRequest, vllm_deployable: bool | None = None
                   ) -> tuple[Scenario, Solution]:
    """Load a scenario and solve it with a live progress line, then print its notes."""
    scenario = load_scenario(
        request.config_dir, parse_batch_sizes(request.batch_sizes), provider=request.cloud_provider,
        generate_network=request.generate_network, headroom=request.headroom,
        vllm_deployable=vllm_deployable if vllm_deployable is not None else (request.vllm_deployable or None),
        optimality_gap=request.optimality_gap, cost_throughput_weight=request.cost_weight,
        fixed_tp=request.fixed_tp(), threads=request.threads_to_use(),
        enforce_cost_target=request.enforce_cost_target or None,
        expert_parallel=False if request.no_expert_parallel else None)
    method = request.method or ("weighted" if request.cost_weight is not None else None)
    with console.status("solving ...") as status, stop_on_sigint():
        solution = solve(scenario, method, request.backend, request.perf_model, request.time_limit,
                         request.verbose, progress=status.update)
    for note in request.notes() + solution.warnings:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    return scenario, solution
