"""Uniform deployments (one GPU type, TP x PP, vLLM's layer split): what `predict`, calibration and validation
evaluate when they are handed a layout instead of a solved placement."""

from __future__ import annotations

from solver.catalog import GpuSpec
from solver.perf.pipeline import StageSpec


def vllm_partition(num_layers: int, stages: int) -> list[int]:
    """Layers per stage as vLLM splits them without VLLM_PP_LAYER_PARTITION (vllm/distributed/utils.py,
    get_pp_indices): equal parts, the remainder going one each to the stages before the last, from the back."""
    parts = [num_layers // stages] * stages
    for i in range(2, num_layers % stages + 2):
        parts[-i] += 1
    return parts


def layer_ranges(sizes: list[int]) -> list[tuple[int, int]]:
    """[first, end) layer ranges of consecutive stages of the given sizes."""
    bounds, start = [], 0
    for size in sizes:
        bounds.append((start, start + size))
        start += size
    return bounds


def uniform_layout(spec: GpuSpec, tp: int, pp: int, num_layers: int, inter_node_gbps: float,
                   gpus_per_node: int | None = None, sizes: list[int] | None = None
                   ) -> tuple[list[StageSpec], list[float]]:
    """`pp` stages of `tp` GPUs of one type, packed onto nodes of `gpus_per_node` GPUs in order: a link between
    stages uses the GPU interconnect when both sides share a node, else the inter-node bandwidth."""
    per_node = gpus_per_node or spec.gpus_per_node
    sizes = sizes or vllm_partition(num_layers, pp)
    stages = [StageSpec(spec.gpu_type, spec, spec.memory_gb, tp, a, e) for a, e in layer_ranges(sizes)]
    links = [spec.interconnect_gbps if ((i + 1) * tp - 1) // per_node == ((i + 1) * tp) // per_node
             else inter_node_gbps for i in range(pp - 1)]
    return stages, links
