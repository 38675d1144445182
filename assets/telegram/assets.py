"""Telegram exports in, calls out.

`telegram_exports` is the step that parses one export (a dynamic partition per file) into its two staging
tables, `telegram_staged_calls` and `telegram_quarantine`; `telegram_calls` derives each UTC day's calls
from every staged export (first_call and repeat are global: docs/semantics.md#calls).
"""

import datetime as dt

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
    multi_asset,
)

from assets.metadata import day_list, note_partition, related, run_totals, table, timed
from assets.partitions import telegram_exports_partitions
from quantbot_pipelines.schemas import PAIR_TOKENS, TELEGRAM_CALLS, TELEGRAM_QUARANTINE, TELEGRAM_STAGED_CALLS
from quantbot_pipelines.telegram.staging import all_calls, inbox_exports, quarantine_on_days, stage_export
from resources.pairs import PairResolverResource
from resources.telegram import TelegramInboxResource
from resources.warehouse import WarehouseResource

PREVIEW_COLUMNS = ["call_ts", "chat_name", "caller_name", "chain", "address", "card_ticker", "card_mcap_usd",
                   "resolved_by", "first_call", "repeat"]


@multi_asset(
    name="telegram_exports",
    partitions_def=telegram_exports_partitions,
    # pair_tokens keeps each answer by rewriting its answer day's partition: two stagings at once could each
    # rewrite it without the other's answers, so staging runs one at a time (pools: default_limit 1)
    pool="pair_lookups",
    specs=[
        AssetSpec(TELEGRAM_STAGED_CALLS.name, group_name="telegram", kinds={"python", "telegram"},
                  description="The calls of one Telegram export (a result.json or an HTML export folder in the "
                              "inbox), as parsed, before calls across exports are de-duplicated. Partitioned by "
                              "export." + related(TELEGRAM_QUARANTINE.name, TELEGRAM_CALLS.name)),
        AssetSpec(TELEGRAM_QUARANTINE.name, group_name="telegram", kinds={"python", "telegram"},
                  description="Messages of one export that could hold a call but could not be read, each with a "
                              "reason code and the raw text: nothing is dropped silently."
                              + related(TELEGRAM_STAGED_CALLS.name, TELEGRAM_CALLS.name)),
        AssetSpec(PAIR_TOKENS.name, group_name="telegram", kinds={"python", "parquet"},
                  description="The token each pair (pool) address names, from the pair lookup "
                              "(QUANTBOT_PAIR_RESOLVER): asked once ever, kept the moment the answer arrives. A "
                              "partition holds what staging that export asked. Rules: docs/semantics.md#calls."
                              + related(TELEGRAM_STAGED_CALLS.name, TELEGRAM_CALLS.name)),
    ],
    description="Parse one export of the inbox into its staged calls and its quarantine, and look up the pairs "
                "its calls name.",
)
@timed
def telegram_exports(context: AssetExecutionContext, warehouse: WarehouseResource,
                     telegram_inbox: TelegramInboxResource, pair_resolver: PairResolverResource):
    ref = inbox_exports(telegram_inbox.path).get(context.partition_key)
    if ref is None:
        raise Failure(f"export {context.partition_key!r} is not in the inbox {telegram_inbox.path} any more; "
                      "its staged calls are kept as they were")
    result = stage_export(warehouse.get(), ref, tz=telegram_inbox.timezone, bot_names=telegram_inbox.bot_names,
                          pairs=pair_resolver.resolver(log=context.log))
    stats = result.stats
    mb = ref.size / 1e6
    return (
        MaterializeResult(asset_key=TELEGRAM_STAGED_CALLS.name, metadata={
            "path": MetadataValue.path(str(ref.path)),
            "format": ref.format,
            "fingerprint": ref.fingerprint,
            "size_mb": round(mb, 2),
            "messages": int(stats.get("messages", 0)),
            "calls": result.calls,
            "parse_mb_per_s": round(mb / max(float(stats.get("seconds", 0)), 1e-9), 1),
            # the inbox sensor reads this to request exactly these telegram_calls partitions
            "affected_days": day_list(result.affected_days),
        }),
        MaterializeResult(asset_key=TELEGRAM_QUARANTINE.name, metadata={
            "quarantined": result.quarantined,
            "quarantine_reasons": MetadataValue.json(result.by_reason),
        }),
        MaterializeResult(asset_key=PAIR_TOKENS.name, metadata={
            "resolver": pair_resolver.kind,
            "pairs": MetadataValue.json(result.pairs),
            "requests": result.pair_requests,
            "answers_kept": result.pair_answers,
        }),
    )


def _call_figures(rows: pl.DataFrame) -> dict:
    return {
        "rows": rows.height,
        "callers": rows.get_column("caller_id").n_unique() if rows.height else 0,
        "tokens": rows.select("chain", "address").n_unique() if rows.height else 0,
        "first_calls": int(rows.get_column("first_call").sum()) if rows.height else 0,
        "repeats": int(rows.get_column("repeat").sum()) if rows.height else 0,
        "chain_unknown": int((rows.get_column("chain") == "unknown").sum()) if rows.height else 0,
        # pair addresses no card or lookup resolved: kept, but never fetched as tokens
        "unresolved_pairs": int((rows.get_column("address_kind") == "pair").sum()) if rows.height else 0,
        "edited": int(rows.get_column("edited").sum()) if rows.height else 0,
    }


def _telegram_calls(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    wh = warehouse.get()
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    calls = all_calls(wh)
    quarantined = quarantine_on_days(wh, days)
    q_by_day = dict(quarantined.group_by(pl.col("message_ts").dt.date()).len().iter_rows()) \
        if quarantined.height else {}
    for day in days:
        rows = calls.filter(pl.col("day") == day)
        wh.write_partition(TELEGRAM_CALLS, {"day": day}, rows)
        note_partition(context, day.isoformat(), {**_call_figures(rows), "quarantined": q_by_day.get(day, 0),
                                                  "preview": table(rows.sort("call_ts"), PREVIEW_COLUMNS)})
    out = calls.filter(pl.col("day").is_in(days))
    context.log.info(f"{out.height} calls over {len(days)} day(s)")
    return MaterializeResult(metadata=run_totals(context, **_call_figures(out), quarantined=quarantined.height,
                                                 preview=table(out.sort("call_ts"), PREVIEW_COLUMNS)))


def telegram_calls(days: PartitionsDefinition) -> AssetsDefinition:
    every_export = AllPartitionMapping()
    return asset(
        name=TELEGRAM_CALLS.name,
        partitions_def=days,
        deps=[AssetDep(name, partition_mapping=every_export)
              for name in (TELEGRAM_STAGED_CALLS.name, TELEGRAM_QUARANTINE.name, PAIR_TOKENS.name)],
        backfill_policy=BackfillPolicy.single_run(),
        group_name="telegram",
        kinds={"python", "parquet"},
        description="One row per call (a person's message naming a token), by UTC day of the call, across all "
                    "staged exports, de-duplicated, with first_call and repeat. Schema: docs/schemas.md."
                    + related(TELEGRAM_STAGED_CALLS.name, "raw_candles", "token_analytics"),
    )(timed(_telegram_calls))
