"""Performance models behind one registry, chosen by name (`--perf-model`; the Vidur pattern: predictors behind
one interface). Built-in models are imported only when asked for, so naming one costs nothing until it runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from solver.domain.choices import DEFAULT_PERF_MODEL
from solver.domain.errors import UserError

if TYPE_CHECKING:
    from solver.perf.base import PerformanceModel

BUILTIN = {"roofline": "solver.perf.roofline"}  # name -> module that registers it
_REGISTRY: dict[str, Callable[[], PerformanceModel]] = {}


def register(name: str) -> Callable:
    """Class decorator: make a performance model available under `name`."""
    def wrap(cls):
        _REGISTRY[name] = cls
        return cls
    return wrap


def model_names() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTRY))


def get_model(name: str = DEFAULT_PERF_MODEL) -> PerformanceModel:
    """A fresh instance of the performance model registered as `name`."""
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTRY:
        raise UserError(f"unknown performance model '{name}'. Fix: use one of {', '.join(model_names())}.")
    return _REGISTRY[name]()
