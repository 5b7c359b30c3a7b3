"""Option checks shared by the commands; light (click only), as the CLI's --help imports it."""

from __future__ import annotations

import math

import click


def finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Reject nan and inf, which FloatRange lets through."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number.", param=param)
    return value
