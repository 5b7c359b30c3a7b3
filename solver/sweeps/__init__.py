"""Nightly cost sweeps: a spec (scenarios x a grid of inputs), points run in parallel (local processes or Ray),
one Parquet row per finished point (so a killed sweep resumes without loss), history, diffs and reports over nights.
"""
