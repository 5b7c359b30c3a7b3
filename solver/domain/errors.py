"""User-facing errors.

Every problem a user can cause (bad files, impossible constraints) is raised as a `UserError` whose text is one
paragraph naming the file, the row and the fix; the CLI prints it and exits non-zero without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """An error the user can fix; `exit_code` is what the CLI exits with."""

    exit_code = 2


class ConfigError(UserError):
    """A config file is missing, malformed or has an out-of-range value."""

    def __init__(self, file: Path | str, problem: str, fix: str, row: int | str | None = None,
                 field: str | None = None):
        where = f"{file}"
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem} Fix: {fix}")
        self.file, self.row, self.field = str(file), row, field


class InfeasibleError(UserError):
    """No placement satisfies the constraints; the message says which constraint and what to relax."""

    exit_code = 3


class NoPlanInTime(UserError):
    """The time limit ran out before any plan was found (which is not a proof that none exists)."""

    exit_code = 4
