"""`tokenop-solve sweep SPEC.yaml --output DIR` (run or resume), `sweep history`, `sweep diff`, and
`tokenop-solve report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from solver import exit_interrupted
from solver.cli.common import user_errors


class DefaultToRun(click.Group):
    """`sweep SPEC ...` runs the spec; `sweep history|diff ...` are the other verbs."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands:
            args.insert(0, "run")
        return super().resolve_command(ctx, args)


@click.group(cls=DefaultToRun)
def sweep() -> None:
    """Run a sweep spec (models x workloads x prices), resumably; its history and nightly diff."""


@sweep.command("run")
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Results folder: DIR/<name>/<date>/points.parquet.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local processes [default: the cores].")
@click.option("--ray", "use_ray", is_flag=True, help="Run the points on Ray (pip install 'tokenop-solve[ray]').")
@click.option("--ray-address", default=None, help="Ray cluster ('auto' or HOST:PORT) [default: start a local Ray].")
@click.option("--date", "run_date", default=None, help="Night to file the results under [default: today].")
@click.option("--quiet", is_flag=True, help="No progress bar (cron); one summary line at the end.")
@user_errors
def run_sweep(spec_file: Path, output: Path, workers: int | None, use_ray: bool, ray_address: str | None,
              run_date: str | None, quiet: bool) -> None:
    """Run SPEC_FILE: every point once; a rerun skips the points already finished."""
    from solver.sweeps.run import execute, plan_sweep
    from solver.sweeps.spec import load_spec

    spec = load_spec(spec_file)
    run = plan_sweep(spec, spec_file.parent, output, run_date)
    console = Console(stderr=True, quiet=quiet)
    where = "Ray" if use_ray else f"{workers or 'all'} local workers"
    console.print(f"sweep '{spec.name}': {len(run.points)} points, {len(run.done)} done, {len(run.todo)} to run "
                  f"({where}); results in {run.store.folder}", highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=quiet) as bar:
        task = bar.add_task("solving", total=len(run.todo))

        def advance(_row: dict) -> None:
            c = run.counts
            bar.update(task, advance=1, description=f"optimal {c['optimal']}, time_limit {c['time_limit']}, "
                                                    f"failed {c['failed']}")
        try:
            path = execute(run, workers, use_ray, ray_address, advance)
        except KeyboardInterrupt:
            exit_interrupted(f"interrupted (Ctrl-C): {len(run.done)} of {len(run.points)} points are finished and "
                             f"kept in {run.store.folder}; rerun the same command to resume.")
    c = run.counts
    click.echo(f"sweep '{spec.name}': {len(run.done)} of {len(run.points)} points finished (this run: optimal "
               f"{c['optimal']}, time_limit {c['time_limit']}, failed {c['failed']}); wrote {path}", err=quiet)


@sweep.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The spec's name.")
@click.option("--sql", default=None, help="A query over the view `points` (every night's rows).")
@user_errors
def history(root: Path, name: str, sql: str | None) -> None:
    """The trend of each point's $/M tokens over the nights (or the result of --sql)."""
    from solver.sweeps.history import rows, trend

    frame = rows(root, name, sql)
    table = frame if sql else trend(frame).reset_index()
    out = Table(title=None if sql else f"sweep '{name}': $ per 1M tokens by night", title_justify="left")
    for column in table.columns:
        out.add_column(str(column), justify="left" if column == "point" else "right")
    for _, values in table.iterrows():
        out.add_row(*(f"{v:,.4f}" if isinstance(v, float) else str(v) for v in values))
    Console(width=200).print(out)


@sweep.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The spec's name.")
@click.option("--threshold", type=click.FloatRange(0, 10), default=0.05, show_default=True,
              help="Relative $/M move that counts as a change.")
@user_errors
def diff(root: Path, name: str, threshold: float) -> None:
    """Compare the last two nights; write diff.md; exit 1 when something changed (for a scheduler to alert)."""
    from solver.storage.atomic import write_text_atomic
    from solver.sweeps.history import diff as compare
    from solver.sweeps.history import markdown, rows

    changes, before, after = compare(rows(root, name), threshold)
    note = markdown(changes, before, after, name, threshold)
    target = root / name / after / "diff.md"
    write_text_atomic(target, note)
    click.echo(note)
    click.echo(f"wrote {target}", err=True)
    if changes:
        raise SystemExit(1)


@click.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The sweep spec's name.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for index.html and the PNGs [default: ROOT/NAME/report].")
@user_errors
def report(root: Path, name: str, output: Path | None) -> None:
    """A self-contained HTML report (and PNGs) of a sweep: costs, Pareto fronts, savings, trend, placements."""
    from solver.report.sweep import write_report
    from solver.sweeps.history import rows

    folder = output or root / name / "report"
    write_report(rows(root, name), name, folder)
    click.echo(f"wrote {folder / 'index.html'} and its PNGs")
