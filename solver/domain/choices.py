"""Names users choose from on the command line and in config files. Plain constants, imported by the CLI before
anything heavy is loaded."""

from __future__ import annotations

METHODS = ("exact", "enumeration", "weighted", "throughput")
DEFAULT_METHOD = {"cost_first": "exact", "throughput_first": "throughput", "balanced": "weighted"}
BACKENDS = ("highs", "ortools", "pulp")
PRECISIONS = ("fp32", "fp16", "bf16", "fp8", "int8", "int4")
DEFAULT_PERF_MODEL = "roofline"
