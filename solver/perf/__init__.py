"""Performance models behind one interface, chosen by name (roofline today; calibrated or profiled tomorrow)."""

from solver.perf.base import PerformanceModel, StageProfile, get_model, register
from solver.perf.pipeline import PipelineEstimate, StageSpec, evaluate_pipeline
from solver.perf.roofline import RooflineModel

__all__ = ["PerformanceModel", "StageProfile", "get_model", "register", "RooflineModel", "PipelineEstimate",
           "StageSpec", "evaluate_pipeline"]
