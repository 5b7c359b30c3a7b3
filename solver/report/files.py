"""Machine-readable outputs of a solve: solution.json and the older solver's per-batch summary.csv."""

from __future__ import annotations

import pandas as pd

from solver.domain.solution import Solution


def summary_frame(solution: Solution) -> pd.DataFrame:
    """One row per batch size, the chosen one marked (like the older solver's solution_summary.csv)."""
    chosen = solution.placement.batch_size if solution.placement else None
    rows = []
    for b in solution.batches:
        found = b.cost_per_million_tokens is not None
        rows.append({"batch_size": b.batch_size, "method": solution.method, "backend": solution.backend,
                     "tokens_per_s": b.tokens_per_s, "dollar_per_hour": b.dollar_per_hour, "replicas": b.replicas,
                     "cost_per_million_tokens": b.cost_per_million_tokens, "pipeline_stages": b.pipeline_stages,
                     "total_gpus": b.total_gpus, "gpu_types": "|".join(b.gpu_types) if found else None,
                     "tp_degrees": "|".join(map(str, b.tp_degrees)) if found else None,
                     "layouts": "|".join(b.layouts) if found else None,
                     "exact_cost_per_million_tokens": b.exact_cost_per_million_tokens,
                     "kv_limited_of": b.kv_limited_of, "is_best": b.batch_size == chosen,
                     "status": "SUCCESS" if found else b.note.upper() or "INFEASIBLE"})
    return pd.DataFrame(rows)


def solution_files(solution: Solution) -> dict[str, str]:
    """The files of a solve's result set: solution.json (the typed contract) and summary.csv (one row per batch)."""
    return {"solution.json": solution.model_dump_json(indent=2) + "\n",
            "summary.csv": summary_frame(solution).to_csv(index=False)}
