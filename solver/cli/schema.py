"""`tokenop-solve schema solution`: the JSON schema of solution.json, for tools that read it."""

from __future__ import annotations

import json

import click

from solver.domain.solution import Solution

SCHEMAS = {"solution": Solution}


@click.command()
@click.argument("name", type=click.Choice(sorted(SCHEMAS)), default="solution")
def schema(name: str) -> None:
    """Print the JSON schema of solution.json."""
    click.echo(json.dumps(SCHEMAS[name].model_json_schema(mode="serialization"), indent=2))
