"""Asset checks: candles that cannot be right, thin coverage, aggregates that disagree with the raw rows."""

from __future__ import annotations

import datetime as dt
import os
import time

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from assets.analytics.assets import _day_interval, aggregated_candles
from assets.candles.assets import raw_candles
from assets.partitions import call_days, day_x_interval
from quantbot_pipelines.analytics import candle_problems, rollup_mismatches
from quantbot_pipelines.schemas import AGGREGATED_CANDLES, RAW_CANDLES, TELEGRAM_CALLS
from resources.warehouse import WarehouseResource

# below this share of calls with candles the coverage check warns (QUANTBOT_MIN_COVERAGE overrides)
MIN_COVERAGE = float(os.environ.get("QUANTBOT_MIN_COVERAGE", "0.8"))


@asset_check(asset=raw_candles, partitions_def=call_days, blocking=True,
             description="high >= max(open, close), low <= min(open, close), prices > 0, "
                         "no duplicate open times, none in the future.")
def candles_consistent(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    day = dt.date.fromisoformat(context.partition_key)
    candles = warehouse.get().read(RAW_CANDLES, where=[("day", "=", day)])
    problems = candle_problems(candles, now=int(time.time()))
    bad = {k: v for k, v in problems.items() if v}
    return AssetCheckResult(passed=not bad, metadata={"candles": candles.height,
                                                      "problems": MetadataValue.json(problems)})


@asset_check(asset=raw_candles, partitions_def=call_days,
             description=f"Share of the day's calls whose token has candles; warns below {MIN_COVERAGE:.0%}.")
def candle_coverage(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    wh = warehouse.get()
    day = dt.date.fromisoformat(context.partition_key)
    calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)], columns=["chain", "address"])
    if calls.is_empty():
        return AssetCheckResult(passed=True, metadata={"calls": 0, "coverage": 1.0})
    have = wh.read(RAW_CANDLES, where=[("day", "=", day)], columns=["chain", "address"]).unique()
    covered = calls.join(have, on=["chain", "address"], how="semi").height
    share = covered / calls.height
    return AssetCheckResult(passed=share >= MIN_COVERAGE, severity=AssetCheckSeverity.WARN,
                            metadata={"calls": calls.height, "calls_with_candles": covered,
                                      "coverage": round(share, 4), "threshold": MIN_COVERAGE})


@asset_check(asset=aggregated_candles, partitions_def=day_x_interval,
             description="Aggregated candles equal a direct rollup of the raw candles, on a sample of tokens.")
def aggregates_match_raw(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    wh = warehouse.get()
    day, interval = _day_interval(context.partition_key)
    raw = wh.read(RAW_CANDLES, where=[("day", "=", day)])
    agg = wh.read(AGGREGATED_CANDLES, where=[("day", "=", day), ("interval", "=", interval)])
    mismatches = rollup_mismatches(raw, agg, interval, sample=200)
    return AssetCheckResult(passed=mismatches == 0, metadata={"mismatched_candles": mismatches,
                                                              "aggregated_rows": agg.height})
