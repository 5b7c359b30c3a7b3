"""Reports: the typed Solution built from a search outcome, rich tables for people, JSON and CSV for machines.
Every number carries its unit."""
