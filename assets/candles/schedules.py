"""The daily refresh: calls younger than the horizon get their missing candles until their windows are complete.

Only the range of days that still have an incomplete window is requested (from token_analytics.window_complete):
one run over [first, last] such day through the candle step and every day stage after it, tagged as a wave of
its own (`quantbot/refresh=<date>`); the follow-through sensor then simulates those days (assets/waves.py).
"""

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.partitions import range_tags
from assets.waves import REFRESH, WAVE, call_days_job, clip_days, day_partitions, next_stage, wave_id
from quantbot_pipelines.schemas import CANDLE_ANSWERS, CANDLE_LEDGER, RAW_CANDLES, TOKEN_ANALYTICS
from resources.warehouse import WarehouseResource

CANDLE_STEP = [AssetKey(RAW_CANDLES.name), AssetKey(CANDLE_LEDGER.name), AssetKey(CANDLE_ANSWERS.name)]


def incomplete_days(warehouse) -> list[str]:
    rows = warehouse.read(TOKEN_ANALYTICS, where=[("window_complete", "=", False)], columns=["day"])
    return sorted({str(d) for d in rows.get_column("day").to_list()})


@schedule(cron_schedule="0 1 * * *", execution_timezone="UTC", job=call_days_job,
          default_status=DefaultScheduleStatus.RUNNING,
          description="Daily at 01:00 UTC: refresh the candles of days whose call windows are still incomplete, "
                      "and every day stage after them.")
def refresh_incomplete_windows(context: ScheduleEvaluationContext, warehouse: WarehouseResource):
    graph = context.repository_def.asset_graph
    days = clip_days(incomplete_days(warehouse.get()), day_partitions(graph), context.log.warning, "refresh")
    if not days:
        return SkipReason("every call window is complete")
    tick = context.scheduled_execution_time.strftime("%Y-%m-%d")
    _, after = next_stage(graph, CANDLE_STEP)
    keys = sorted({*CANDLE_STEP, *after}, key=lambda k: k.to_user_string())
    return RunRequest(run_key=f"refresh:{tick}", asset_selection=keys,
                      tags={**range_tags(days[0], days[-1]), REFRESH: tick, WAVE: wave_id(f"refresh:{tick}")})
