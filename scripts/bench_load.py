"""Loading a very large pool: 12 GPU types x 4,096 GPUs each (49,152 GPUs), no bandwidth file. Prints the wall time
and peak memory of `load_scenario` (targets: < 2 s, < 500 MB; a GPU x GPU matrix would need 18 GiB).

    python scripts/bench_load.py [--gpus-per-type 4096]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from solver.loaders.scenario import load_scenario, resolve_config_dir

TYPES = ["H200", "H100", "H100-PCIe", "A100", "A100-40GB", "L40S", "L40", "A10G", "A10", "L4", "A40", "V100"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpus-per-type", type=int, default=4096)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    try:
        shutil.copy(resolve_config_dir("demo-large")[0] / "config.csv", folder / "config.csv")
        (folder / "gpu_pool.csv").write_text("gpu_type,count,dollar_per_hour\n" + "".join(
            f"{gpu},{args.gpus_per_type},1.0\n" for gpu in TYPES))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        scenario = load_scenario(folder)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{len(scenario.pools)} types x {args.gpus_per_type:,} GPUs: loaded in {seconds:.3f} s, peak RSS "
              f"{peak:.0f} MB ({peak - before:+.0f} MB while loading)")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
