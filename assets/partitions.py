"""Partitions shared by every stage: the UTC day of a call, each export file, each strategy file; and the
helpers that turn lists of days into run ranges.

The day partitions start at QUANTBOT_START_DATE when it is set, else at the first day the data holds: the
earliest `telegram_calls` partition in the warehouse (a listing, no rows read) or the earliest message of an
export in the inbox (a peek at its head, quantbot_pipelines/telegram/first_day.py), whichever comes first;
today (UTC) with neither. The start is fixed when the definitions are built, so an export older than it needs
a reload of the code location before its days are partitions.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from quantbot_pipelines.schemas import TELEGRAM_CALLS
from quantbot_pipelines.telegram.first_day import inbox_first_days
from resources.settings import EARLIEST_START, Settings

log = logging.getLogger(__name__)

# the warehouse is asked at every load of the code location (and in every run process): a ClickHouse server
# that does not answer in this time is left out rather than holding the load up
WAREHOUSE_LISTING_TIMEOUT_S = 5.0

# tags that make one run cover a range of partitions (assets with BackfillPolicy.single_run())
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

# one partition per export in the inbox (key: ExportRef.key), added by the inbox sensor
telegram_exports_partitions = DynamicPartitionsDefinition(name="telegram_exports")

# one partition per strategy file in strategies/ (a sweep file is one partition), kept in step by a sensor
strategy_files = DynamicPartitionsDefinition(name="strategies")

# one partition per walk-forward fold, keyed by its test window (quantbot_pipelines/validation/folds.py), kept
# in step with the call days by the follow-through sensor and the pipeline runner
walk_forward_folds = DynamicPartitionsDefinition(name="walk_forward_folds")


@dataclass(frozen=True)
class CallDays:
    """The day partitions, built when the definitions are (so their start follows the settings and the data)."""

    days: DailyPartitionsDefinition
    day_x_strategy: MultiPartitionsDefinition
    start_source: str = ""  # what set the first day (shown in the code location's log)

    @classmethod
    def from_settings(cls, settings: Settings) -> CallDays:
        start, source = call_days_start(settings)
        # end_offset=1: today's calls are a partition too (their windows stay incomplete until the horizon passes)
        days = DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)
        return cls(days=days, day_x_strategy=MultiPartitionsDefinition({"day": days, "strategy": strategy_files}),
                   start_source=source)


def call_days_start(settings: Settings, *, today: dt.date | None = None) -> tuple[dt.date, str]:
    """(first day partition, what set it): QUANTBOT_START_DATE, else the earliest of the warehouse's first
    `telegram_calls` day and the inbox exports' first days, else today (UTC). Never raises on bad data."""
    today = today or dt.datetime.now(dt.UTC).date()
    if settings.start_date is not None:
        return dt.date.fromisoformat(settings.start_date), "QUANTBOT_START_DATE"
    found: dict[str, dt.date] = {}
    day = _warehouse_first_day(settings)
    if day is not None:
        found[f"{TELEGRAM_CALLS.name} in the warehouse"] = day
    try:
        found |= {f"export {key}": d for key, d in inbox_first_days(settings.inbox, tz=settings.export_tz).items()}
    except Exception as exc:  # noqa: BLE001 - an unreadable inbox is the inbox sensor's to report
        log.warning("day partitions: the inbox %s could not be listed (%s: %s)", settings.inbox,
                    type(exc).__name__, exc)
    if not found:
        log.info("day partitions start today (%s): no calls in the warehouse, no exports in the inbox", today)
        return today, "no calls or exports yet"
    source, first = min(found.items(), key=lambda kv: (kv[1], kv[0]))
    # a stray date (an epoch 0, a clock in the future) must not open decades of partitions or none at all
    start = min(max(first, EARLIEST_START), today)
    log.info("day partitions start at %s (%s)", start, source)
    return start, source


def _warehouse_first_day(settings: Settings) -> dt.date | None:
    """The first `telegram_calls` day partition in the warehouse, or None (none yet, or not reachable)."""
    scheme, _, rest = settings.warehouse_url.strip().partition("://")
    embedded = scheme.lower() in ("parquet", "chdb")
    if embedded and not Path(rest.strip()).exists():
        return None  # nothing stored yet (and opening chDB would create its folder)
    from resources import build_resources

    resource = build_resources(settings)["warehouse"]
    answer: list[dt.date | None] = []

    def listing() -> None:
        warehouse = None
        try:
            warehouse = resource.get()
            days = [p["day"] for p in warehouse.partitions(TELEGRAM_CALLS)]
            answer.append(min(days) if days else None)
        except Exception as exc:  # noqa: BLE001 - a warehouse that cannot answer now leaves the inbox to decide
            log.warning("day partitions: %s partitions could not be listed (%s)", TELEGRAM_CALLS.name,
                        type(exc).__name__)
        finally:
            # chDB allows one process per data folder: the code server must not keep it from the runs
            if warehouse is not None and scheme.lower() == "chdb":
                warehouse.close()

    if embedded:
        # local files or the in-process engine: nothing to wait for, and chDB is let go before the load goes on
        listing()
    else:
        # daemon: a server that never answers neither holds the load up nor keeps the process from exiting
        worker = threading.Thread(target=listing, name="quantbot-first-day", daemon=True)
        worker.start()
        worker.join(WAREHOUSE_LISTING_TIMEOUT_S)
        if worker.is_alive():
            log.warning("day partitions: the warehouse did not list %s within %.0f s", TELEGRAM_CALLS.name,
                        WAREHOUSE_LISTING_TIMEOUT_S)
            return None
    day = answer[0] if answer else None
    if isinstance(day, dt.datetime):
        day = day.date()
    elif isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return day


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


def fold_changes(held: list[str], planned: list[str]) -> tuple[list[str], list[str]]:
    """(fold keys to add, fold keys to delete) to make the instance's fold partitions the planned ones, in the
    plan's order: when a held key would come after a new earlier one (the first call day moved), every held key
    is deleted and all are added again, so a range of folds is always a span of consecutive test windows."""
    keep = [k for k in held if k in set(planned)]
    new = [k for k in planned if k not in set(held)]
    if keep and new and min(new) < max(keep) or keep != sorted(keep):
        return list(planned), list(held)
    return new, [k for k in held if k not in set(planned)]
