"""Metric names to functions, with what each measures and which way is better."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class MetricInfo:
    name: str
    function: Callable
    description: str
    higher_is_better: bool = True


METRICS: dict[str, MetricInfo] = {}


def register_metric(name: str, description: str, higher_is_better: bool = True) -> Callable:
    """Decorator: add ``function`` to :data:`METRICS` under ``name``."""

    def wrap(function: Callable) -> Callable:
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = MetricInfo(name, function, description, higher_is_better)
        return function

    return wrap
