"""Typed domain entities, no I/O: the model architecture, the workload and settings, the hardware, a scenario,
stages and placements, and the Solution contract. Import the submodule you need; nothing is imported here so
that light callers (the CLI's --help) stay light."""
