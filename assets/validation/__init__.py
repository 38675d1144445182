"""The validation stage: walk-forward folds over the call days and their stitched summary."""

from dagster import Definitions

from assets.validation.assets import FOLD_PLAN, fold_keys, walk_forward, walk_forward_summary
from quantbot_pipelines.validation import FoldPlan
from resources.settings import Settings


def fold_plan(settings: Settings) -> FoldPlan:
    train, test, step, mode = settings.walk_forward
    return FoldPlan(train_days=train, test_days=test, step_days=step, mode=mode)


def defs(settings: Settings) -> Definitions:
    plan = fold_plan(settings)
    return Definitions(assets=[walk_forward(plan), walk_forward_summary(plan)])


__all__ = ["FOLD_PLAN", "defs", "fold_keys", "fold_plan"]
