"""Partitions shared by every stage: the UTC day of a call, each export file, each strategy file."""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
)

from resources.settings import SETTINGS

# tags that make one run cover a range of partitions (assets with BackfillPolicy.single_run())
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

# end_offset=1: today's calls are a partition too (their windows stay incomplete until the horizon passes)
call_days = DailyPartitionsDefinition(start_date=SETTINGS.start_date, timezone="UTC", end_offset=1)

# one partition per export in the inbox (key: ExportRef.key), added by the inbox sensor
telegram_exports_partitions = DynamicPartitionsDefinition(name="telegram_exports")

# one partition per strategy file in strategies/ (a sweep file is one partition), kept in step by a sensor
strategy_files = DynamicPartitionsDefinition(name="strategies")

day_x_strategy = MultiPartitionsDefinition({"day": call_days, "strategy": strategy_files})
