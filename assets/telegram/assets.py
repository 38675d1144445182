"""Telegram exports in, calls out.

`telegram_exports` parses one export (a dynamic partition per file) into staging tables;
`telegram_calls` derives each UTC day's calls from every staged export (first_call/repeat are global).
"""

import datetime as dt

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.metadata import day_list, preview, related, timed
from assets.partitions import call_days, telegram_exports_partitions
from quantbot_pipelines.schemas import TELEGRAM_CALLS
from quantbot_pipelines.telegram.staging import all_calls, inbox_exports, quarantine_on_days, stage_export
from resources.telegram import TelegramInboxResource
from resources.warehouse import WarehouseResource

PREVIEW_COLUMNS = ["call_ts", "chat_name", "caller_name", "chain", "address", "card_ticker", "card_mcap_usd",
                   "resolved_by", "first_call", "repeat"]


@asset(
    partitions_def=telegram_exports_partitions,
    group_name="telegram",
    kinds={"python", "telegram"},
    description="One Telegram export (a result.json or an HTML export folder in the inbox), parsed into "
                "telegram_staged_calls and telegram_quarantine. Unreadable messages are quarantined with a "
                "reason; see the `quarantined` metadata." + related("telegram_calls"),
)
@timed
def telegram_exports(context: AssetExecutionContext, warehouse: WarehouseResource,
                     telegram_inbox: TelegramInboxResource) -> MaterializeResult:
    ref = inbox_exports(telegram_inbox.path).get(context.partition_key)
    if ref is None:
        raise Failure(f"export {context.partition_key!r} is not in the inbox {telegram_inbox.path} any more; "
                      "its staged calls are kept as they were")
    result = stage_export(warehouse.get(), ref, tz=telegram_inbox.timezone, bot_names=telegram_inbox.bot_names)
    stats = result.stats
    mb = ref.size / 1e6
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(ref.path)),
        "format": ref.format,
        "fingerprint": ref.fingerprint,
        "size_mb": round(mb, 2),
        "messages": int(stats.get("messages", 0)),
        "calls": result.calls,
        "quarantined": result.quarantined,
        "quarantine_reasons": MetadataValue.json(result.by_reason),
        "parse_mb_per_s": round(mb / max(float(stats.get("seconds", 0)), 1e-9), 1),
        # the inbox sensor reads this to request exactly these telegram_calls partitions
        "affected_days": day_list(result.affected_days),
    })


@asset(
    partitions_def=call_days,
    deps=[AssetDep(telegram_exports, partition_mapping=AllPartitionMapping())],
    backfill_policy=BackfillPolicy.single_run(),
    group_name="telegram",
    kinds={"python", "parquet"},
    description="One row per call (a person's message naming a token), by UTC day of the call, across all "
                "staged exports, de-duplicated, with first_call and repeat. Schema: docs/schemas.md."
                + related("telegram_exports", "raw_candles", "token_analytics"),
)
@timed
def telegram_calls(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    wh = warehouse.get()
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    calls = all_calls(wh)
    written = []
    for day in days:
        rows = calls.filter(pl.col("day") == day)
        wh.write_partition(TELEGRAM_CALLS, {"day": day}, rows)
        written.append(rows)
    out = pl.concat(written) if written else calls.head(0)
    quarantined = quarantine_on_days(wh, days)
    context.log.info(f"{out.height} calls over {len(days)} day(s)")
    return MaterializeResult(metadata={
        "rows": out.height,
        "callers": out.get_column("caller_id").n_unique() if out.height else 0,
        "tokens": out.select("chain", "address").n_unique() if out.height else 0,
        "first_calls": int(out.get_column("first_call").sum()) if out.height else 0,
        "repeats": int(out.get_column("repeat").sum()) if out.height else 0,
        "chain_unknown": int((out.get_column("chain") == "unknown").sum()) if out.height else 0,
        "edited": int(out.get_column("edited").sum()) if out.height else 0,
        "quarantined": quarantined.height,
        "preview": preview(out.sort("call_ts"), PREVIEW_COLUMNS),
    })
