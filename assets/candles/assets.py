"""Raw candles around every call of the day, fetched once from the configured candle source, and the coverage
ledger of what was asked (docs/semantics.md#candles): one step writes both, candles first."""

import datetime as dt

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)

from assets.automation import follows_updated_days
from assets.metadata import related, table, timed
from quantbot_pipelines.candles import collect_candles
from quantbot_pipelines.candles.store import stored_candles
from quantbot_pipelines.schemas import CANDLE_LEDGER, RAW_CANDLES, TELEGRAM_CALLS
from resources.candles import CandleSourceResource
from resources.warehouse import WarehouseResource


def _sum_stats(total: dict, stats: dict) -> None:
    for k, v in stats.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v
        elif isinstance(v, dict):
            sub = total.setdefault(k, {})
            for kk, vv in v.items():
                sub[kk] = sub.get(kk, 0) + vv


def _raw_candles(context: AssetExecutionContext, warehouse: WarehouseResource, candle_source: CandleSourceResource):
    wh = warehouse.get()
    source = candle_source.source()
    ledger = wh.read(CANDLE_LEDGER, where=[("source", "=", source.name)])
    totals: dict = {}
    coverage, candles_out, asked = [], [], []
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
        batch = collect_candles(
            calls, day=day, source=source, ledger=ledger, read_stored=lambda r: stored_candles(wh, r),
            interval=candle_source.interval, pre_window_s=candle_source.pre_window_s,
            horizon_s=candle_source.horizon_s + candle_source.entry_slack_s)
        # candles before ledger: a ledger row must never claim candles that are not stored
        wh.write_partition(RAW_CANDLES, {"day": day}, batch.candles)
        wh.write_partition(CANDLE_LEDGER, {"day": day}, batch.ledger)
        ledger = pl.concat([ledger.filter(pl.col("day") != day), batch.ledger.select(ledger.columns)],
                           how="vertical_relaxed")
        _sum_stats(totals, batch.stats)
        asked.append(batch.ledger.select("status"))
        coverage.append(batch.coverage)
        candles_out.append(batch.candles.height)
        context.log.info(f"{key}: {batch.candles.height} candles, {batch.stats.get('requests', 0)} requests")
    cov = pl.concat(coverage, how="vertical_relaxed") if coverage else pl.DataFrame()
    candles_meta = MaterializeResult(asset_key=RAW_CANDLES.name, metadata={
        "source": source.name,
        "candles": sum(candles_out),
        "tokens": int(totals.get("tokens", 0)),
        "requests": int(totals.get("requests", 0)),
        "estimated_credits": int(totals.get("credits", 0)),
        "windows_complete": int(totals.get("windows_complete", 0)),
        "windows_incomplete": int(totals.get("windows_incomplete", 0)),
        "skipped_unknown_chain": int(totals.get("skipped_unknown_chain", 0)),
        # pair addresses nothing resolved to a token: never fetched as if they were one
        "skipped_unresolved_pair": int(totals.get("skipped_unresolved_pair", 0)),
        "errors": int(totals.get("errors", 0)),
        "by_status": MetadataValue.json(totals.get("by_status", {})),
        "coverage": table(cov, rows=15) if cov.height else MetadataValue.md("_no calls_"),
    })
    written = pl.concat(asked) if asked else pl.DataFrame({"status": []}, schema={"status": pl.String})
    ledger_meta = MaterializeResult(asset_key=CANDLE_LEDGER.name, metadata={
        "windows": written.height,
        "by_status": MetadataValue.json(dict(written.group_by("status").len().sort("status").iter_rows())),
    })
    return candles_meta, ledger_meta


def raw_candles(days: PartitionsDefinition) -> AssetsDefinition:
    def spec(name: str, description: str) -> AssetSpec:
        return AssetSpec(name, deps=[TELEGRAM_CALLS.name], automation_condition=follows_updated_days,
                         group_name="candles", kinds={"python", "parquet"}, description=description)

    return multi_asset(
        name=RAW_CANDLES.name,
        partitions_def=days,
        backfill_policy=BackfillPolicy.single_run(),
        pool="candle_api",
        specs=[
            spec(RAW_CANDLES.name,
                 "Candles of every token called that day over [call - pre_window, call + horizon + entry slack], "
                 "unique per (chain, address, interval, open_ts); young calls' windows are filled in by later "
                 "runs." + related(TELEGRAM_CALLS.name, CANDLE_LEDGER.name, "aggregated_candles/1h",
                                   "token_analytics")),
            spec(CANDLE_LEDGER.name,
                 "Every candle window asked of the source and what came back (candles, no trades, token "
                 "unknown, error), so that a covered window is never requested, and paid for, twice."
                 + related(RAW_CANDLES.name, "token_analytics")),
        ],
    )(timed(_raw_candles))
