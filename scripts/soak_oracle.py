"""Soak the exactness proof: N random instances (default 500, the property tests' own strategy biased to hard
cases) solved by every method and compared with the brute-force oracle and the independent checker. Prints how many
passed in a row and the share of hard optima; stops at the first mismatch and prints it.

    python scripts/soak_oracle.py [--examples 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solver.loaders.catalog import load_catalog  # noqa: E402
from solver.perf import get_model  # noqa: E402
from tests.oracle import CASES  # noqa: E402
from tests.test_solver_oracle import cases, test_every_method_matches_the_oracle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    catalog, perf = load_catalog(), get_model()
    check = test_every_method_matches_the_oracle.hypothesis.inner_test

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(spec=cases)
    def soak(spec: dict) -> None:
        check(catalog, perf, spec)

    soak()
    n = CASES["instances"]
    shares = ", ".join(f"{k} {v / n:.0%}" for k, v in CASES.items() if k != "instances")
    print(f"{n} of {n} random instances in a row matched the oracle for exact, weighted, throughput and enumeration "
          f"({shares})")


if __name__ == "__main__":
    main()
