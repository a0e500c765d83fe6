"""Pure measurement functions over arrays, registered by name."""

from metrics.registry import METRICS, MetricInfo, register_metric
from metrics import (  # noqa: F401  (modules register their metrics)
    clustering,
    dci,
    heldout,
    mig,
    modularity,
    mutual_info,
    quality,
    sap,
    traversal,
    vae_scores,
)

__all__ = ["METRICS", "MetricInfo", "register_metric"]
