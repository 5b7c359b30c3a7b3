"""Reading a CSV file as a user's input: every way it can be unreadable becomes one ConfigError naming the file."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from solver.domain.errors import ConfigError


def read_table(path: Path, fix_missing: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(row number, {column: text})]) of a CSV file; '#' comment lines and blank lines are skipped, cells
    are stripped. Row numbers are the file's line numbers, as an editor shows them."""
    if path.is_dir():
        raise ConfigError(path, f"{path.name} is a folder, not a CSV file.", fix_missing)
    if not path.is_file():
        raise ConfigError(path, f"{path.name} is missing.", fix_missing)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"the file is not UTF-8 text (byte {exc.start}).",
                          "save it as a UTF-8 CSV file.") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read the file ({exc.strerror}).",
                          "check that it exists and that you may read it.") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(path, f"{path.name} is empty.", fix_missing)
    parsed = list(csv.reader([line for _, line in lines], skipinitialspace=True))
    header = [cell.strip() for cell in parsed[0]]
    rows = []
    for (number, _), cells in zip(lines[1:], parsed[1:]):
        if len(cells) > len(header):
            raise ConfigError(path, f"the row has {len(cells)} fields but the header has {len(header)}.",
                              f"give each row the header's fields: {','.join(header)}.", row=number)
        rows.append((number, {key: (cells[i].strip() if i < len(cells) else "") for i, key in enumerate(header)}))
    return header, rows


MAX_VALUE = 1_000_000  # GPUs in a pool, GB per GPU, $/h, TFLOPS: far above any real figure, checked before sizing


def number(path: Path, row: int, name: str, text: str, *, integer: bool = False, positive: bool = False,
           default: float | None = None, optional: bool = False) -> float | None:
    """A numeric cell: finite, non-negative (positive, whole where asked) and at most 1,000,000. Empty gives
    `default`, or None when `optional`, else an error naming the row and field."""
    if text == "":
        if default is None and not optional:
            raise ConfigError(path, f"'{name}' is empty.", f"give '{name}' a value.", row=row, field=name)
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(path, f"'{text}' is not a number.", f"write '{name}' as a number.", row=row,
                          field=name) from None
    if (not math.isfinite(value) or value < 0 or (positive and value == 0) or (integer and not value.is_integer())
            or value > MAX_VALUE):
        kind = "a non-negative whole number" if integer else ("a positive number" if positive else "non-negative")
        raise ConfigError(path, f"'{name}' is {text}.", f"make '{name}' {kind} up to 1,000,000.", row=row,
                          field=name)
    return value
