"""The daily refresh: calls younger than the horizon get their missing candles until their windows are complete.

Only days that still have an incomplete window are requested (from token_analytics.window_complete), one run per
run of consecutive days; downstream partitions of those days follow through automation.
"""

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.partitions import day_ranges, range_tags
from quantbot_pipelines.schemas import CANDLE_ANSWERS, CANDLE_LEDGER, RAW_CANDLES, TOKEN_ANALYTICS
from resources.warehouse import WarehouseResource

CANDLE_STEP = [AssetKey(RAW_CANDLES.name), AssetKey(CANDLE_LEDGER.name), AssetKey(CANDLE_ANSWERS.name)]


def incomplete_days(warehouse) -> list[str]:
    rows = warehouse.read(TOKEN_ANALYTICS, where=[("window_complete", "=", False)], columns=["day"])
    return sorted({str(d) for d in rows.get_column("day").to_list()})


@schedule(cron_schedule="0 1 * * *", execution_timezone="UTC", target=CANDLE_STEP,
          default_status=DefaultScheduleStatus.RUNNING,
          description="Daily at 01:00 UTC: refresh the candles of days whose call windows are still incomplete.")
def refresh_incomplete_windows(context: ScheduleEvaluationContext, warehouse: WarehouseResource):
    days = incomplete_days(warehouse.get())
    if not days:
        return SkipReason("every call window is complete")
    tick = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [RunRequest(run_key=f"refresh:{tick}:{first}:{last}", asset_selection=CANDLE_STEP,
                       tags=range_tags(first, last)) for first, last in day_ranges(days)]
