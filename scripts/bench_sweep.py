"""A 100-point sweep over variants of the older solver's medium scenario (input x output tokens x batch size x
price provider), with the local process pool and, when Ray is installed, on a local Ray. Prints wall time and
points/s of each (target: <= 60 s locally on the 2-core reference machine). Asserts nothing.

    python scripts/bench_sweep.py [--no-ray]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from solver import sweep

SPEC = """name: bench
scenarios: [medium]
grid:
  input_tokens: [512, 1024, 2048, 3584, 6144]
  output_tokens: [128, 512]
  batch_size: [16, 32, 64, 128, 256]
  price_provider: [aws, lambda]
  method: exact
time_limit_seconds: 60
"""


def timed(folder: Path, use_ray: bool) -> tuple[float, int]:
    start = time.perf_counter()
    frame = sweep(folder / "spec.yaml", folder / f"out-{use_ray}", use_ray=use_ray)
    return time.perf_counter() - start, len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    try:
        (folder / "spec.yaml").write_text(SPEC)
        seconds, points = timed(folder, False)
        print(f"local pool: {points} points in {seconds:.1f} s ({points / seconds:.2f} points/s)")
        if not args.no_ray:
            try:
                ray_seconds, ray_points = timed(folder, True)
                print(f"Ray (local): {ray_points} points in {ray_seconds:.1f} s ({ray_points / ray_seconds:.2f} "
                      f"points/s; Ray start-up and scheduling add {ray_seconds - seconds:+.1f} s)")
            except Exception as exc:  # noqa: BLE001 - Ray is optional here
                print(f"Ray: not measured ({exc})")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
