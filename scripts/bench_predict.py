"""Batch prediction speed: 1,000 points (models x GPUs x TP x batch sizes x prompt lengths) through
`tokenop-solve predict --points`, wall time of the whole command including start-up (target <= 3 s). Prints
figures, asserts nothing.

    python scripts/bench_predict.py
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["llama-3.1-8b", "qwen2.5-7b", "mixtral-8x7b", "qwen3-235b-a22b", "gpt-oss-120b"]
GPUS = ["H100", "A100", "L40S", "L4", "H200"]
SHAPES = [(1, 128, 128), (8, 2048, 256), (32, 512, 512), (64, 8192, 128), (256, 1024, 1024)]
TPS = [1, 2, 4, 8]
PPS = [1, 2]


def main() -> None:
    rows = [f"{m},{g},{tp},{pp},{b},{i},{o}" for m, g, tp, pp, (b, i, o) in
            itertools.product(MODELS, GPUS, TPS, PPS, SHAPES)][:1000]
    with tempfile.TemporaryDirectory() as folder:
        points = Path(folder) / "points.csv"
        points.write_text("model,gpu,tp,pp,batch_size,input_tokens,output_tokens\n" + "\n".join(rows) + "\n")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "solver", "predict", "--points", str(points), "--output",
                               str(Path(folder) / "out.csv")], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr)
            sys.exit(1)
        print(f"{len(rows)} points predicted in {seconds:.2f} s, start-up included "
              f"({len(rows) / seconds:,.0f} points/s)")


if __name__ == "__main__":
    main()
