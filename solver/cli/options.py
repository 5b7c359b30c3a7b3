"""Option checks shared by the commands; light (click only), as the CLI's --help imports it."""

from __future__ import annotations

import math

import click


def finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Reject nan and inf, which FloatRange lets through."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number.", param=param)
    return value


def use_calibration(_ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--calibration: export the choice as $TOKENOP_CALIBRATION, which every catalog read (subcommands, sweep
    workers) honours, and check it names a profile or a file before any work starts."""
    if value is None:
        return
    import os

    from solver.domain.errors import UserError
    from solver.loaders.catalog import CALIBRATION_ENV, calibration_table, default_catalog_dir

    os.environ[CALIBRATION_ENV] = value
    try:
        calibration_table(default_catalog_dir())
    except UserError as exc:
        raise click.BadParameter(str(exc), param=param) from None
