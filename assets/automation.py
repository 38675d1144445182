"""How downstream partitions follow their inputs without anyone clicking.

Declarative automation rather than hand-written sensors: Dagster already tracks, per partition, which inputs
changed since an asset last ran, and the automation sensor submits what it requests as backfills that honour
each asset's single-run backfill policy, so one new export becomes one wave of runs for the touched days.

`eager()` is not used as is: it only looks at the latest day, and it also fires for *missing* partitions, so
each new strategy file or calendar day would request every day at once (a storm). `follows_updated_days`
fires only for partitions whose own inputs were updated, on any day.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    BackfillPolicy,
    DefaultSensorStatus,
    asset,
)

from resources.settings import Settings

follows_updated_days = (
    AutomationCondition.any_deps_updated().since(
        AutomationCondition.newly_requested() | AutomationCondition.newly_updated()
        | AutomationCondition.initial_evaluation())
    & ~AutomationCondition.any_deps_missing()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("follows_updated_days")

# rollups over all partitions: re-run once whenever any input partition changed, after the wave settles.
# (eager() would wait for *every* day partition of the inputs to exist, and days without calls never do.)
follows_any_update = (
    AutomationCondition.any_deps_updated().since(
        AutomationCondition.newly_requested() | AutomationCondition.newly_updated())
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("follows_any_update")



def day_stage(**asset_args):
    """`@asset` of a day-partitioned stage: a day range is one run (single-run backfills), and a day re-runs
    when one of its own inputs was updated."""
    return asset(backfill_policy=BackfillPolicy.single_run(), automation_condition=follows_updated_days,
                 **asset_args)


def leaderboard(*, deps: list[str], description: str):
    """`@asset` of a board over every partition of its input, rebuilt once per wave of updates."""
    return asset(deps=deps, automation_condition=follows_any_update, group_name="leaderboards", kinds={"polars"},
                 description=description)


def automation_sensor(settings: Settings) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "quantbot_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=max(5, settings.sensor_interval_s // 2),
        description="Evaluates the assets' automation conditions: day partitions follow updated inputs, "
                    "leaderboards follow any update.",
    )
