"""Answers checked out of sample: walk-forward folds over call days, caller persistence, and the overfitting
guards of strategy sweeps. Rules: docs/semantics.md#walk-forward, #caller-persistence, #overfitting-guards.
No Dagster here.
"""

from quantbot_pipelines.validation.folds import Fold, FoldPlan
from quantbot_pipelines.validation.walk_forward import (
    PER_CALLER,
    POLICIES,
    TOP_CALLERS,
    FoldResult,
    Rules,
    Stitched,
    run_fold,
    stitch,
)

__all__ = ["PER_CALLER", "POLICIES", "TOP_CALLERS", "Fold", "FoldPlan", "FoldResult", "Rules", "Stitched",
           "run_fold", "stitch"]
