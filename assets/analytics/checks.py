"""Checks on aggregated candles: every interval equals a direct rollup of the raw candles."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetKey,
    PartitionsDefinition,
    asset_check,
)

from assets.candles.checks import check_days
from assets.metadata import timed
from quantbot_pipelines.analytics import rollup_mismatches
from quantbot_pipelines.schemas import AGGREGATED_CANDLES, RAW_CANDLES
from resources.warehouse import WarehouseResource


def aggregates_match_raw(days: PartitionsDefinition, interval: str) -> AssetChecksDefinition:
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        wh = warehouse.get()
        mismatches, rows = 0, 0
        for day in check_days(context):
            raw = wh.read(RAW_CANDLES, where=[("day", "=", day)])
            agg = wh.read(AGGREGATED_CANDLES, where=[("day", "=", day), ("interval", "=", interval)])
            mismatches += rollup_mismatches(raw, agg, interval, sample=200)
            rows += agg.height
        return AssetCheckResult(passed=mismatches == 0, metadata={"mismatched_candles": mismatches,
                                                                  "aggregated_rows": rows})

    return asset_check(asset=AssetKey([AGGREGATED_CANDLES.name, interval]), name="aggregates_match_raw",
                       partitions_def=days, description="Aggregated candles equal a direct rollup of the raw "
                                                        "candles, on a sample of tokens.")(timed(_check))
