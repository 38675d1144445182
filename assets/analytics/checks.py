"""Asset checks: candles that cannot be right, thin coverage, aggregates that disagree with the raw rows."""

import datetime as dt
import time

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetsDefinition,
    MetadataValue,
    asset_check,
)

from assets.analytics.assets import aggregated_candles
from assets.candles.assets import raw_candles
from assets.metadata import timed
from assets.partitions import call_days
from quantbot_pipelines.analytics import calls_with_candles, candle_problems, rollup_mismatches
from quantbot_pipelines.schemas import AGGREGATED_CANDLES, RAW_CANDLES, TELEGRAM_CALLS
from resources.settings import SETTINGS
from resources.warehouse import WarehouseResource

# below this share of calls with candles the coverage check warns (QUANTBOT_MIN_COVERAGE)
MIN_COVERAGE = SETTINGS.min_coverage


def _days(context: AssetCheckExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


@asset_check(asset=raw_candles, partitions_def=call_days, blocking=True,
             description="high >= max(open, close), low <= min(open, close), prices > 0, "
                         "no duplicate open times, none in the future.")
@timed
def candles_consistent(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    # a range run checks every day of its range and reports one result for the range
    now, total, problems, bad_days = int(time.time()), 0, {}, []
    for day in _days(context):
        candles = warehouse.get().read(RAW_CANDLES, where=[("day", "=", day)])
        total += candles.height
        found = candle_problems(candles, now=now)
        for k, v in found.items():
            problems[k] = problems.get(k, 0) + v
        if any(found.values()):
            bad_days.append(str(day))
    return AssetCheckResult(passed=not bad_days, metadata={"candles": total, "problems": MetadataValue.json(problems),
                                                           "days_with_problems": MetadataValue.json(bad_days)})


@asset_check(asset=raw_candles, partitions_def=call_days,
             description=f"Share of the day's calls whose token has candles; warns below {MIN_COVERAGE:.0%}.")
@timed
def candle_coverage(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    wh = warehouse.get()
    days = _days(context)
    calls = wh.read(TELEGRAM_CALLS, where=[("day", "in", days)], columns=["day", "chain", "address"])
    if calls.is_empty():
        return AssetCheckResult(passed=True, metadata={"calls": 0, "coverage": 1.0})
    have = wh.read(RAW_CANDLES, where=[("day", "in", days)], columns=["day", "chain", "address"])
    covered = calls_with_candles(calls, have)
    share = covered / calls.height
    return AssetCheckResult(passed=share >= MIN_COVERAGE, severity=AssetCheckSeverity.WARN,
                            metadata={"calls": calls.height, "calls_with_candles": covered,
                                      "coverage": round(share, 4), "threshold": MIN_COVERAGE})


def _rollup_check(asset: AssetsDefinition, interval: str) -> AssetChecksDefinition:
    @asset_check(asset=asset, name="aggregates_match_raw", partitions_def=call_days,
                 description="Aggregated candles equal a direct rollup of the raw candles, on a sample of tokens.")
    @timed
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        wh = warehouse.get()
        mismatches, rows = 0, 0
        for day in _days(context):
            raw = wh.read(RAW_CANDLES, where=[("day", "=", day)])
            agg = wh.read(AGGREGATED_CANDLES, where=[("day", "=", day), ("interval", "=", interval)])
            mismatches += rollup_mismatches(raw, agg, interval, sample=200)
            rows += agg.height
        return AssetCheckResult(passed=mismatches == 0, metadata={"mismatched_candles": mismatches,
                                                                  "aggregated_rows": rows})

    return _check


aggregates_match_raw = [_rollup_check(a, i) for a, i in zip(aggregated_candles, SETTINGS.intervals, strict=True)]
