"""Search over the placement MILP: the cost/throughput frontier C(tau), the methods' objectives on it (exact
$/token, weighted, throughput, the older solver's enumeration), and the sweep over batch sizes, replicas and the
exact and single-GPU-type baselines."""
