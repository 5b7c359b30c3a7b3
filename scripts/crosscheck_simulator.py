"""Cross-check the capacity simulator against a real vLLM server (the CPU build, serving a tiny random-weight Llama
with --load-format dummy): the same Poisson arrival rate and request shape, TTFT/TPOT percentiles side by side.
Writes results/capacity/simulator_vs_vllm.json (with the vLLM version and every benchmark's raw result beside it)
and prints the table. Needs `make install-vllm`. Asserts nothing.

    python scripts/crosscheck_simulator.py [--rate 1.5] [--requests 200] [--max-num-seqs 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solver.vllm.crosscheck import cross_check  # noqa: E402
from tests.tiny_llama import SMALL_ARCH, free_port, write_tiny_llama  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1.5, help="requests/s (Poisson)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-num-seqs", type=int, default=8)
    parser.add_argument("--input-tokens", type=int, default=256)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "capacity")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = write_tiny_llama(Path(tempfile.mkdtemp()) / "model", SMALL_ARCH)
    result = cross_check(str(model), SMALL_ARCH["num_hidden_layers"], args.input_tokens, args.output_tokens,
                         args.max_num_seqs, args.rate, args.requests, args.output, sys.executable, free_port(),
                         ["--load-format", "dummy"], lambda line: print(line, file=sys.stderr))
    (args.output / "simulator_vs_vllm.json").write_text(result.to_json() + "\n")
    print(f"vLLM {result.vllm_version}, {args.rate:g} requests/s Poisson, {args.input_tokens}/{args.output_tokens} "
          f"tokens, --max-num-seqs {args.max_num_seqs}, {args.requests} requests; step times {result.step_times}")
    print(f"{'figure':<22}{'vLLM':>10}{'simulated':>12}{'difference':>12}")
    for key, measured in result.measured.items():
        simulated = result.simulated.get(key, float("nan"))
        print(f"{key:<22}{measured:>10.2f}{simulated:>12.2f}{(simulated - measured) / measured:>+12.0%}")


if __name__ == "__main__":
    main()
