"""Across nights: the trend of each point's $/M tokens, free SQL over every night's rows, and the diff of the last
two nights (placements that changed, $/M moves beyond a threshold, new failures) as a short markdown note."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from solver.domain.errors import UserError
from solver.sweeps.point import stages_of
from solver.sweeps.store import SweepStore

FAILED = ("error", "infeasible")


def rows(root: Path, name: str, sql: str | None = None) -> pd.DataFrame:
    """Every night's rows of sweep `name` (or the result of `sql` over the view `points`)."""
    import duckdb

    pattern = SweepStore(root, name, "*").pattern()
    if not glob.glob(pattern):
        raise UserError(f"no results of a sweep named '{name}' under {root}. Fix: run `tokenop-solve sweep SPEC "
                        f"--output {root}` first, or check --name.")
    with duckdb.connect() as db:
        db.execute(f"CREATE VIEW points AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)")
        try:
            return db.execute(sql or "SELECT * FROM points ORDER BY run_date, scenario, point_id").df()
        except duckdb.Error as exc:
            raise UserError(f"the query failed: {exc}. Fix: query the view `points` (columns: docs/sweeps.md).") \
                from None


def describe(frame: pd.DataFrame) -> pd.Series:
    """A short label per row: the scenario and the grid values that were set."""
    inputs = ["input_tokens", "output_tokens", "batch_size", "method", "price_provider", "precision", "headroom"]
    return frame.apply(lambda r: " ".join([Path(str(r["scenario"])).name] + [
        f"{k}={r[k]}" for k in inputs if k in r and pd.notna(r[k])]), axis=1)


def trend(frame: pd.DataFrame) -> pd.DataFrame:
    """$/M tokens per point (rows) and night (columns)."""
    frame = frame.assign(point=describe(frame))
    return frame.pivot_table(index="point", columns="run_date", values="cost_per_million_tokens", aggfunc="min")


@dataclass
class Change:
    point: str
    kind: str  # "engine", "placement", "cost" or "failure"
    before: str
    after: str


def diff(frame: pd.DataFrame, threshold: float) -> tuple[list[Change], str, str]:
    """What changed between the last two nights: (changes, earlier night, later night)."""
    nights = sorted(frame["run_date"].unique())
    if len(nights) < 2:
        raise UserError(f"only one night ({nights[0]}) of this sweep: nothing to compare. Fix: run the sweep again "
                        "another night (or with --date).")
    before, after = (frame[frame["run_date"] == night].set_index("point_id") for night in nights[-2:])
    changes = []
    engines = [", ".join(sorted(set(night["tool_version"].dropna().astype(str)))) for night in (before, after)]
    if engines[0] != engines[1]:  # a new model moves answers as prices do: say so before the moves it explains
        changes.append(Change("every point", "engine", engines[0], engines[1]))
    labels = describe(after.reset_index()).set_axis(after.index)
    for point in after.index.intersection(before.index):
        old, new, label = before.loc[point], after.loc[point], labels[point]
        if new["status"] in FAILED and old["status"] not in FAILED:
            changes.append(Change(label, "failure", str(old["status"]), f"{new['status']}: {new['message'][:160]}"))
            continue
        if old["status"] in FAILED or new["status"] in FAILED:
            continue
        if old["placement"] != new["placement"]:
            changes.append(Change(label, "placement", shape(old["placement"]), shape(new["placement"])))
        move = new["cost_per_million_tokens"] / old["cost_per_million_tokens"] - 1
        if abs(move) > threshold:
            changes.append(Change(label, "cost", f"${old['cost_per_million_tokens']:.4f}/M",
                                  f"${new['cost_per_million_tokens']:.4f}/M ({move:+.1%})"))
    return changes, nights[-2], nights[-1]


def shape(placement: str) -> str:
    """'A100 TP2 L0-39 | ...' from the stored placement JSON."""
    return " | ".join(f"{s.gpu_type} {s.layout} L{s.first_layer}-{s.end_layer - 1}" for s in stages_of(placement))


def markdown(changes: list[Change], before: str, after: str, name: str, threshold: float) -> str:
    """diff.md: short enough to paste into a chat or a ticket."""
    lines = [f"# Sweep '{name}': {after} vs {before}", ""]
    if not changes:
        return "\n".join(lines + [f"Nothing changed beyond {threshold:.0%}: every placement is the same.", ""])
    titles = {"engine": "Tool or performance model changed (the moves below may come from it, not the inputs)",
              "cost": f"$/M tokens moved more than {threshold:.0%}", "placement": "Best placement changed",
              "failure": "New failures"}
    for kind, title in titles.items():
        mine = [c for c in changes if c.kind == kind]
        if mine:
            lines += [f"## {title} ({len(mine)})", *(f"- {c.point}: {c.before} -> {c.after}" for c in mine), ""]
    return "\n".join(lines)
