"""Calibration: measured vLLM runs in one form (from the formats people have), and the per-GPU factor fit."""
