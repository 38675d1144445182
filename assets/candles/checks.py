"""Checks on raw candles: candles that cannot be right (blocking), and thin coverage of the day's calls."""

import datetime as dt
import time

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    PartitionsDefinition,
    asset_check,
)

from assets.metadata import timed
from quantbot_pipelines.analytics import calls_with_candles, candle_problems
from quantbot_pipelines.candles.validate import stored_candle_problems
from quantbot_pipelines.schemas import RAW_CANDLES, TELEGRAM_CALLS
from resources.warehouse import WarehouseResource


def check_days(context: AssetCheckExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _candles_consistent(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    # a range run checks every day of its range and reports one result for the range
    now, total, problems, bad_days = int(time.time()), 0, {}, []
    for day in check_days(context):
        candles = warehouse.get().read(RAW_CANDLES, where=[("day", "=", day)])
        total += candles.height
        # prices and order, then volume and the interval grid (docs/semantics.md#valid-candles)
        found = candle_problems(candles, now=now) | stored_candle_problems(candles)
        for k, v in found.items():
            problems[k] = problems.get(k, 0) + v
        if any(found.values()):
            bad_days.append(str(day))
    return AssetCheckResult(passed=not bad_days, metadata={"candles": total, "problems": MetadataValue.json(problems),
                                                           "days_with_problems": MetadataValue.json(bad_days)})


def candles_consistent(days: PartitionsDefinition) -> AssetChecksDefinition:
    return asset_check(asset=RAW_CANDLES.name, name="candles_consistent", partitions_def=days, blocking=True,
                       description="high >= max(open, close), low <= min(open, close), prices > 0 and finite, "
                                   "volume >= 0 and finite (or null), open times on the interval grid, no duplicate "
                                   "open times, none in the future.")(timed(_candles_consistent))


def candle_coverage(days: PartitionsDefinition, min_coverage: float) -> AssetChecksDefinition:
    """Warns when fewer than `min_coverage` of the day's calls have candles (QUANTBOT_MIN_COVERAGE)."""

    def _coverage(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        wh = warehouse.get()
        n_calls = covered = 0
        for day in check_days(context):  # a day at a time: memory stays that of one day over any range
            calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)], columns=["day", "chain", "address"])
            if calls.is_empty():
                continue
            have = wh.read(RAW_CANDLES, where=[("day", "=", day)], columns=["day", "chain", "address"]).unique()
            n_calls += calls.height
            covered += calls_with_candles(calls, have)
        if not n_calls:
            return AssetCheckResult(passed=True, metadata={"calls": 0, "coverage": 1.0})
        share = covered / n_calls
        return AssetCheckResult(passed=share >= min_coverage, severity=AssetCheckSeverity.WARN,
                                metadata={"calls": n_calls, "calls_with_candles": covered,
                                          "coverage": round(share, 4), "threshold": min_coverage})

    return asset_check(asset=RAW_CANDLES.name, name="candle_coverage", partitions_def=days,
                       description=f"Share of the day's calls whose token has candles; warns below "
                                   f"{min_coverage:.0%}.")(timed(_coverage))
