"""A request mix from a CSV file (`--workload`): rows `input_tokens,output_tokens[,weight]`, a trace (one row per
request) or a histogram (weights), grouped into a few buckets by prompt length.

Buckets split the rows at prompt-length quantiles of equal weight (prompt length sets TTFT and the KV cache, the
two things that make one GPU type better for a request than another; Mélange buckets the same way). A bucket is
represented by its weighted mean prompt and output length; the simulator draws from its own rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solver.domain.capacity import Bucket, RequestMix
from solver.domain.errors import ConfigError, UserError
from solver.loaders.resources import bundled_dir
from solver.loaders.tables import number, read_table

COLUMNS = ("input_tokens", "output_tokens")
MAX_TOKENS = 10_000_000


def fixed_mix(input_tokens: int, output_tokens: int) -> RequestMix:
    """Every request the same shape (--input-tokens / --output-tokens)."""
    bucket = Bucket(name=f"{input_tokens} in/{output_tokens} out", input_tokens=input_tokens,
                    output_tokens=output_tokens, share=1.0)
    return RequestMix([bucket], [np.array([[input_tokens, output_tokens]])], [np.ones(1)], "fixed shape")


def resolve_workload(name: str) -> Path:
    """A file path, or the name of a bundled example (configs/workloads/NAME.csv)."""
    path = Path(name)
    if path.exists() or path.suffix or "/" in name:
        return path
    bundled = bundled_dir("configs") / "workloads" / f"{name}.csv"
    if bundled.is_file():
        return bundled
    known = sorted(p.stem for p in (bundled_dir("configs") / "workloads").glob("*.csv"))
    raise UserError(f"--workload '{name}' is neither a file nor a bundled workload. Fix: pass a CSV path or one of "
                    f"{', '.join(known)}.")


def load_mix(path: Path, max_buckets: int = 3) -> RequestMix:
    """Read a workload CSV and group its rows into at most `max_buckets` buckets by prompt length."""
    fix = "write a CSV with a header input_tokens,output_tokens[,weight] and one row per request or length class."
    header, rows = read_table(path, fix)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConfigError(path, f"the header lacks {', '.join(missing)}.", fix, row=1)
    extra = [c for c in header if c not in (*COLUMNS, "weight")]
    if extra:
        raise ConfigError(path, f"unknown column(s) {', '.join(extra)}.", fix, row=1)
    if not rows:
        raise ConfigError(path, "the file has a header but no rows.", fix)
    shapes, weights = [], []
    for row, cells in rows:
        prompt = number(path, row, "input_tokens", cells["input_tokens"], integer=True, positive=True)
        output = number(path, row, "output_tokens", cells["output_tokens"], integer=True, positive=True)
        weight = number(path, row, "weight", cells.get("weight", ""), positive=True, default=1.0)
        shapes.append((prompt, output))
        weights.append(weight)
    return bucketed(np.array(shapes, dtype=float), np.array(weights, dtype=float), max_buckets, str(path))


def bucketed(shapes: np.ndarray, weights: np.ndarray, max_buckets: int, source: str) -> RequestMix:
    """Group rows into buckets of about equal weight by prompt length (rows of one prompt length stay together)."""
    order = np.lexsort((shapes[:, 1], shapes[:, 0]))
    shapes, weights = shapes[order], weights[order] / weights.sum()
    prompts = np.unique(shapes[:, 0])
    count = min(max_buckets, len(prompts))
    cumulative = np.cumsum(weights)
    # The prompt length where the cumulative weight first reaches k / count closes bucket k.
    edges = np.unique([shapes[min(np.searchsorted(cumulative, k / count - 1e-12), len(shapes) - 1), 0]
                       for k in range(1, count)])
    labels = np.searchsorted(edges, shapes[:, 0], side="left")
    buckets, rows, shares = [], [], []
    for label in np.unique(labels):
        mask = labels == label
        w = weights[mask]
        prompt = int(round(float(np.average(shapes[mask, 0], weights=w))))
        output = int(round(float(np.average(shapes[mask, 1], weights=w))))
        lo, hi = int(shapes[mask, 0].min()), int(shapes[mask, 0].max())
        span = f"{lo}" if lo == hi else f"{lo}-{hi}"
        buckets.append(Bucket(name=f"in {span}", input_tokens=prompt, output_tokens=output,
                              share=min(float(w.sum()), 1.0), longest_input_tokens=hi))  # sums may round past 1
        rows.append(shapes[mask].astype(int))
        shares.append(w / w.sum())
    return RequestMix(buckets, rows, shares, source)
