"""Where sweep results live: DIR/<name>/<run date>/points/<key>.parquet, one file per finished point, each written
atomically, so a sweep killed at any moment keeps every finished point and no file is ever half-written; the night's
points.parquet is rebuilt from them at the end. DuckDB reads them across nights."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Columns every row has, with their types (a point that failed has nulls for the figures).
SCHEMA = pa.schema([
    ("key", pa.string()), ("point_id", pa.string()), ("run_date", pa.string()), ("scenario", pa.string()),
    ("input_tokens", pa.int64()), ("output_tokens", pa.int64()), ("batch_size", pa.int64()), ("method", pa.string()),
    ("price_provider", pa.string()), ("prices", pa.string()), ("gpu_pool", pa.string()), ("precision", pa.string()),
    ("headroom", pa.float64()), ("time_limit_seconds", pa.float64()), ("tool_version", pa.string()),
    ("data_hash", pa.string()), ("status", pa.string()), ("message", pa.string()), ("gap", pa.float64()),
    ("solve_seconds", pa.float64()), ("seconds", pa.float64()), ("cost_per_million_tokens", pa.float64()),
    ("dollar_per_hour", pa.float64()), ("tokens_per_s", pa.float64()), ("ttft_ms", pa.float64()),
    ("tpot_ms", pa.float64()), ("plan_batch_size", pa.int64()), ("replicas", pa.int64()), ("gpu_mix", pa.string()),
    ("gpus_by_type", pa.string()), ("placement", pa.string()), ("exact_cost_per_million_tokens", pa.float64()),
    ("homogeneous_cost_per_million_tokens", pa.float64()),
])


class SweepStore:
    def __init__(self, root: Path, name: str, run_date: str):
        self.root, self.name, self.run_date = Path(root), name, run_date
        self.folder = self.root / name / run_date
        self.points = self.folder / "points"

    def done_keys(self) -> set[str]:
        """Keys of the points this night already finished (a rerun skips them); a temporary file that a killed run
        left half-written is removed (its point runs again)."""
        if not self.points.is_dir():
            return set()
        for stale in self.points.glob(".point-*.tmp"):
            stale.unlink(missing_ok=True)
        return {p.stem for p in self.points.glob("*.parquet")}

    def write(self, row: dict[str, Any]) -> None:
        """One finished point, atomically: a temporary file renamed into place."""
        self.points.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([{name: row.get(name) for name in SCHEMA.names}], schema=SCHEMA)
        fd, tmp = tempfile.mkstemp(dir=self.points, prefix=".point-", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.points / f"{row['key']}.parquet")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def consolidate(self) -> Path | None:
        """The night's points.parquet, rebuilt atomically from the point files."""
        files = sorted(self.points.glob("*.parquet")) if self.points.is_dir() else []
        if not files:
            return None
        table = pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in files])
        target = self.folder / "points.parquet"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".points-", suffix=".tmp")
        os.close(fd)
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        return target

    def pattern(self) -> str:
        """The glob DuckDB reads every night's points from."""
        return str(self.root / self.name / "*" / "points" / "*.parquet")
