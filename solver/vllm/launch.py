"""Turn a placement into the vLLM launch that realises it: one TP degree, PP = number of stages, the layer split as
VLLM_PP_LAYER_PARTITION, and for pipelines spanning nodes the Ray cluster steps vLLM documents. An expert-parallel
stage launches as --data-parallel-size N --enable-expert-parallel (vLLM's default all-to-all backend), each of the
N engines taking its share of the requests (--max-num-seqs is per engine).

Facts respected (vLLM docs and vllm/distributed/utils.py): the partition lists layer counts per stage, sums to the
model's layers and must be identical on every node (Ray workers inherit it from the `ray start` environment);
embeddings sit on the first stage, norm + LM head on the last; one --gpu-memory-utilization applies to every GPU
and the KV cache is sized to the tightest stage, which the planner's per-stage memory check already mirrors.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field

from solver.domain.placement import Placement, engines_of
from solver.domain.solution import Solution
from solver.perf.deployment import vllm_partition

RAY_PORT = 6379


@dataclass(frozen=True)
class NodeGroup:
    """GPUs of one type on one machine and the pipeline stages they run."""

    gpu_type: str
    gpus: int
    stages: list[int]


@dataclass
class LaunchPlan:
    model: str
    tp: int
    pp: int
    layer_partition: list[int]
    max_num_seqs: int
    max_model_len: int
    gpu_memory_utilization: float
    nodes: list[NodeGroup]  # of one replica
    dp: int = 1  # data-parallel engines of an expert-parallel stage
    replicas: int = 1  # identical servers behind a load balancer (or vLLM's --data-parallel-size)
    problems: list[str] = field(default_factory=list)  # why vLLM cannot launch it as is
    notes: list[str] = field(default_factory=list)

    @property
    def deployable(self) -> bool:
        return not self.problems

    @property
    def gpus(self) -> int:
        """GPUs of one replica: TP x PP, or TP x DP engines of an expert-parallel stage."""
        return self.tp * self.pp * self.dp

    @property
    def layout(self) -> str:
        """How the replica splits the work, as the launch plan and the start-up progress line name it."""
        return f"DP {self.dp} x TP {self.tp}, expert parallel" if self.dp > 1 else f"TP {self.tp} x PP {self.pp}"

    @property
    def env(self) -> dict[str, str]:
        """VLLM_PP_LAYER_PARTITION only where the split differs from vLLM's default."""
        if self.pp > 1 and self.layer_partition != vllm_partition(sum(self.layer_partition), self.pp):
            return {"VLLM_PP_LAYER_PARTITION": ",".join(map(str, self.layer_partition))}
        return {}

    def serve_args(self) -> list[str]:
        """Engine arguments shared by `vllm serve` and `python -m vllm.entrypoints.openai.api_server`."""
        args = ["--tensor-parallel-size", str(self.tp), "--pipeline-parallel-size", str(self.pp)]
        if self.dp > 1:
            args += ["--data-parallel-size", str(self.dp), "--enable-expert-parallel"]
        args += ["--max-num-seqs", str(self.max_num_seqs), "--max-model-len", str(self.max_model_len),
                 "--gpu-memory-utilization", f"{self.gpu_memory_utilization:g}"]
        if len(self.nodes) > 1:
            args += ["--distributed-executor-backend", "ray"]
        return args

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(deployable=self.deployable, env=self.env, serve_args=self.serve_args(),
                    commands=self.commands())
        return data

    def commands(self) -> list[str]:
        """The shell steps, in order, as plain strings (also what launch.sh runs)."""
        exports = [f"export {k}={shlex.quote(v)}" for k, v in self.env.items()]
        serve = " ".join(["vllm", "serve", shlex.quote(self.model), *self.serve_args(), "--port", "${PORT:-8000}"])
        if len(self.nodes) == 1:
            return exports + [serve]
        head, *workers = self.nodes
        steps = [f"# on every node, before ray start: {e}" for e in exports]
        steps.append(f"# head node ({head.gpus}x {head.gpu_type}, stages {head.stages}): ray start --head "
                     f"--port={RAY_PORT}")
        steps += [f"# worker node ({n.gpus}x {n.gpu_type}, stages {n.stages}): ray start "
                  f"--address=$HEAD_IP:{RAY_PORT}" for n in workers]
        return steps + [f"# head node, once `ray status` shows {self.gpus} GPUs: {serve}"]


def nodes_of(placement: Placement, gpus_per_node: dict[str, int]) -> list[NodeGroup]:
    """Pack consecutive stages of one GPU type onto nodes of that type's size, in pipeline order."""
    nodes: list[NodeGroup] = []
    for i, stage in enumerate(placement.stages):
        last = nodes[-1] if nodes else None
        per_node = gpus_per_node.get(stage.gpu_type, 8)
        if last and last.gpu_type == stage.gpu_type and last.gpus + stage.gpus <= per_node:
            nodes[-1] = NodeGroup(last.gpu_type, last.gpus + stage.gpus, last.stages + [i])
        else:
            nodes.append(NodeGroup(stage.gpu_type, stage.gpus, [i]))
    return nodes


def max_model_len(input_tokens: int, output_tokens: int) -> int:
    """Prompt + output, plus slack for re-tokenisation of benchmark prompts, rounded to vLLM's 16-token blocks."""
    total = input_tokens + output_tokens
    return 16 * math.ceil((total + max(64, total // 20)) / 16)


def launch_plan(placement: Placement, model: str, input_tokens: int, output_tokens: int,
                gpu_memory_utilization: float, gpus_per_node: dict[str, int]) -> LaunchPlan:
    """The vLLM launch of `placement`, with what (if anything) stops vLLM from running it as planned."""
    degrees = sorted({s.tp for s in placement.stages})
    problems, notes = [], []
    if len(degrees) > 1:
        problems.append(f"stages use TP degrees {degrees}, but vLLM runs one TP degree for every pipeline stage; "
                        "re-solve with --vllm-deployable")
    if placement.pipeline_stages > 1 and any(s.dp > 1 for s in placement.stages):
        problems.append("expert-parallel stages are launched as one stage holding the whole model, not chained "
                        "into a pipeline")
    types = list(dict.fromkeys(s.gpu_type for s in placement.stages))
    if len(types) > 1:
        notes.append(f"stages run on different GPU types ({', '.join(types)}): vLLM starts such pipelines "
                     "(not officially supported), sizing the KV cache to the tightest stage")
    if placement.replicas > 1:
        notes.append(f"run {placement.replicas} identical copies of this server on separate GPUs behind a load "
                     "balancer; the demand needs all of them")
    dp = engines_of(placement.stages)
    return LaunchPlan(model=model, tp=degrees[-1], pp=placement.pipeline_stages, dp=dp,
                      layer_partition=[s.layers for s in placement.stages],
                      max_num_seqs=math.ceil(placement.requests_in_flight / dp),
                      max_model_len=max_model_len(input_tokens, output_tokens),
                      gpu_memory_utilization=gpu_memory_utilization,
                      nodes=nodes_of(placement, gpus_per_node), replicas=placement.replicas, problems=problems,
                      notes=notes)


def launch_script(plan: LaunchPlan, header: list[str]) -> str:
    """launch.sh: `serve` on one node; `head`, `worker HEAD_IP` and `serve` roles across nodes."""
    exports = [f"export {k}={shlex.quote(v)}  # every node must see the same value" for k, v in plan.env.items()]
    serve = " ".join(['vllm serve "$MODEL"', *plan.serve_args(), '--port "${PORT:-8000}"'])
    lines = ["#!/usr/bin/env bash", *(f"# {h}" for h in header), "set -euo pipefail",
             f'MODEL="${{MODEL:-{plan.model}}}"', *exports]
    if len(plan.nodes) == 1:
        return "\n".join(lines + [serve]) + "\n"
    roles = [f"#   node {i}: {n.gpus}x {n.gpu_type}, stages {n.stages}" for i, n in enumerate(plan.nodes)]
    lines += ["# Multi-node (Ray): run `launch.sh head` on node 0, `launch.sh worker HEAD_IP` on the others,",
              "# then `launch.sh serve` on node 0.", *roles,
              'case "${1:-serve}" in',
              f"  head) ray start --head --port={RAY_PORT} ;;",
              f'  worker) ray start --address="${{2:?usage: launch.sh worker HEAD_IP}}:{RAY_PORT}" ;;',
              f"  serve) {serve} ;;",
              '  *) echo "usage: launch.sh head | worker HEAD_IP | serve" >&2; exit 2 ;;',
              "esac"]
    return "\n".join(lines) + "\n"


def plan_of_solution(solution: Solution, placement: Placement, model: str | None = None) -> LaunchPlan:
    """The launch of one placement of a solution; vLLM loads `model`, else the config's HF id, else its name."""
    return launch_plan(placement, model or solution.model.hf_name or solution.model.name,
                       solution.workload.input_tokens, solution.workload.output_tokens,
                       solution.settings.gpu_memory_utilization, solution.gpus_per_node)
