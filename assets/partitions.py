"""Partitions shared by every stage: the UTC day of a call, each export file, each strategy file; and the
helpers that turn lists of days into run ranges."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from resources.settings import Settings

# tags that make one run cover a range of partitions (assets with BackfillPolicy.single_run())
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

# one partition per export in the inbox (key: ExportRef.key), added by the inbox sensor
telegram_exports_partitions = DynamicPartitionsDefinition(name="telegram_exports")

# one partition per strategy file in strategies/ (a sweep file is one partition), kept in step by a sensor
strategy_files = DynamicPartitionsDefinition(name="strategies")


@dataclass(frozen=True)
class CallDays:
    """The day partitions, built from the settings' start date (so the start is not fixed at import)."""

    days: DailyPartitionsDefinition
    day_x_strategy: MultiPartitionsDefinition

    @classmethod
    def from_settings(cls, settings: Settings) -> CallDays:
        # end_offset=1: today's calls are a partition too (their windows stay incomplete until the horizon passes)
        days = DailyPartitionsDefinition(start_date=settings.start_date, timezone="UTC", end_offset=1)
        return cls(days=days, day_x_strategy=MultiPartitionsDefinition({"day": days, "strategy": strategy_files}))


def day_and_strategy(key: str | MultiPartitionKey) -> tuple[dt.date, str]:
    """(day, strategy file stem) of a day x strategy partition key."""
    if not isinstance(key, MultiPartitionKey):
        day, stem = key.split("|", 1)  # MultiPartitionKey's string form: dimensions in name order
        return dt.date.fromisoformat(day), stem
    dims = key.keys_by_dimension
    return dt.date.fromisoformat(dims["day"]), dims["strategy"]


def day_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) ranges: one run per range, and no untouched day in between."""
    out: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if out and dt.date.fromisoformat(day) - dt.date.fromisoformat(out[-1][1]) == dt.timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}
