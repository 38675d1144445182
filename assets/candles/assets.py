"""Raw candles around every call of the day, fetched once from the configured candle source, the coverage
ledger of what was asked, and the journal of answers not stored yet (docs/semantics.md#candles): one step
writes all three, each answer to the journal as it arrives, then candles, then ledger."""

import datetime as dt
from collections import Counter

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)

from assets.metadata import note_partition, related, run_totals, table, timed
from quantbot_pipelines.candles import CandleSourceAuthError
from quantbot_pipelines.candles.step import CandleDays
from quantbot_pipelines.schemas import CANDLE_ANSWERS, CANDLE_LEDGER, RAW_CANDLES, TELEGRAM_CALLS
from resources.candles import CandleSourceResource
from resources.warehouse import WarehouseResource

WRITTEN_TOGETHER = (RAW_CANDLES.name, CANDLE_LEDGER.name)


def _sum_stats(total: dict, stats: dict) -> None:
    for k, v in stats.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v
        elif isinstance(v, dict):
            sub = total.setdefault(k, {})
            for kk, vv in v.items():
                sub[kk] = sub.get(kk, 0) + vv


def _raw_candles(context: AssetExecutionContext, warehouse: WarehouseResource, candle_source: CandleSourceResource):
    selected = {k.to_user_string() for k in context.selected_asset_keys}
    if not set(WRITTEN_TOGETHER) <= selected:
        raise Failure(description=f"{' and '.join(WRITTEN_TOGETHER)} are written together by one step: select "
                                  f"both (and {CANDLE_ANSWERS.name}, the journal the step keeps)")
    wh = warehouse.get()
    # the source logs its long waits and give-ups through the run log
    source = candle_source.source(log=context.log)
    step = CandleDays(wh, source, interval=candle_source.interval, pre_window_s=candle_source.pre_window_s,
                      horizon_s=candle_source.horizon_s + candle_source.entry_slack_s, log=context.log)

    kept_before = [0]
    preview: list[pl.DataFrame] = []

    def on_day(day: dt.date, batch) -> None:
        s = batch.stats
        context.log.info(f"{day}: {s.get('candles', 0)} candles, {s.get('requests', 0)} requests"
                         + (f", {s['answers_recovered']} answers of an earlier run stored without a request"
                            if s.get("answers_recovered") else "")
                         + (f", {s['invalid_windows']} windows with invalid candles (asked again later)"
                            if s.get("invalid_windows") else ""))
        key = day.isoformat()
        # each day's materialization shows that day's own figures
        note_partition(context, key, {"source": source.name, **_candle_figures(s),
                                      "coverage": table(batch.coverage) if batch.coverage.height
                                      else MetadataValue.md("_no calls_")}, asset_key=RAW_CANDLES.name)
        note_partition(context, key, _ledger_figures(batch.ledger), asset_key=CANDLE_LEDGER.name)
        if CANDLE_ANSWERS.name in selected:
            note_partition(context, key, {"answers_kept": step.kept - kept_before[0],
                                          "answers_recovered": len(batch.folded)}, asset_key=CANDLE_ANSWERS.name)
        kept_before[0] = step.kept
        if sum(p.height for p in preview) < 15 and batch.coverage.height:
            preview.append(batch.coverage.head(15))

    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    try:
        step.run(days, on_day=on_day)
    except CandleSourceAuthError as e:
        # the message names the key by position only
        raise Failure(description=f"{e}. The {step.kept} answers that came before are kept in "
                                  f"{CANDLE_ANSWERS.name}: the next run stores them without asking again.",
                      metadata={"answers_kept": step.kept, "days_written": len(step.batches)}) from e

    totals: dict = {}
    asked = []
    for batch in step.batches.values():
        _sum_stats(totals, batch.stats)
        asked.append(batch.ledger.select("status"))

    fetched, failed = int(totals.get("tokens_fetched", 0)), int(totals.get("tokens_failed", 0))
    if fetched and failed >= fetched:
        # written (error rows are asked again next run), but not a success: nothing downstream should run on it
        reasons = Counter(totals.get("errors_by_detail", {}))
        listed = "; ".join(f"{n} x {d}" for d, n in reasons.most_common(5))
        raise Failure(description=f"every token asked of {source.name} failed ({failed} of {fetched}): {listed}",
                      metadata={"tokens_failed": failed, "errors_by_detail": MetadataValue.json(dict(reasons))})

    cov = pl.concat(preview, how="vertical_relaxed").head(15) if preview else pl.DataFrame()
    written = pl.concat(asked) if asked else pl.DataFrame({"status": []}, schema={"status": pl.String})
    results = {
        RAW_CANDLES.name: MaterializeResult(asset_key=RAW_CANDLES.name, metadata=run_totals(
            context, **_candle_figures(totals),
            coverage=table(cov, rows=15) if cov.height else MetadataValue.md("_no calls_"))),
        CANDLE_LEDGER.name: MaterializeResult(asset_key=CANDLE_LEDGER.name, metadata=run_totals(
            context, **_ledger_figures(written))),
        CANDLE_ANSWERS.name: MaterializeResult(asset_key=CANDLE_ANSWERS.name, metadata=run_totals(
            context, answers_kept=step.kept, answers_recovered=step.recovered, answers_forgotten=step.forgotten,
            # answers of days outside this run: they still spare requests, and are stored when their day runs
            answers_pending=step.pending)),
    }
    return tuple(results[k] for k in (RAW_CANDLES.name, CANDLE_LEDGER.name, CANDLE_ANSWERS.name) if k in selected)


def _candle_figures(s: dict) -> dict:
    """The candle step's figures of a day (its batch stats) or of a run (their sums)."""
    return {
        "candles": int(s.get("candles", 0)),
        "tokens": int(s.get("tokens", 0)),
        "requests": int(s.get("requests", 0)),
        "estimated_credits": int(s.get("credits", 0)),
        "windows_complete": int(s.get("windows_complete", 0)),
        "windows_incomplete": int(s.get("windows_incomplete", 0)),
        "skipped_unknown_chain": int(s.get("skipped_unknown_chain", 0)),
        # pair addresses nothing resolved to a token: never fetched as if they were one
        "skipped_unresolved_pair": int(s.get("skipped_unresolved_pair", 0)),
        "errors": int(s.get("errors", 0)),
        # candles dropped by the candle rules (docs/semantics.md#valid-candles), by reason
        "invalid_candles": MetadataValue.json(dict(s.get("invalid_candles", {}))),
        "invalid_windows": int(s.get("invalid_windows", 0)),
        "answers_recovered": int(s.get("answers_recovered", 0)),
        "by_status": MetadataValue.json(dict(s.get("by_status", {}))),
    }


def _ledger_figures(ledger: pl.DataFrame) -> dict:
    return {"windows": ledger.height,
            "by_status": MetadataValue.json(dict(ledger.group_by("status").len().sort("status").iter_rows()))}


def _candle_step(context: AssetExecutionContext, warehouse: WarehouseResource, candle_source: CandleSourceResource):
    # yielded, not returned: a run that selects part of the step reports only what it selected
    yield from timed(_raw_candles)(context, warehouse, candle_source)


def raw_candles(days: PartitionsDefinition) -> AssetsDefinition:
    def spec(name: str, description: str) -> AssetSpec:
        return AssetSpec(name, deps=[TELEGRAM_CALLS.name],
                         group_name="candles", kinds={"python", "parquet"}, description=description)

    return multi_asset(
        name=RAW_CANDLES.name,
        partitions_def=days,
        backfill_policy=BackfillPolicy.single_run(),
        pool="candle_api",
        # raw_candles and candle_ledger are always written together; the journal may be left out of a selection
        # (it is kept all the same: it is what makes an interrupted run cost nothing twice)
        can_subset=True,
        specs=[
            spec(RAW_CANDLES.name,
                 "Candles of every token called that day over [call - pre_window, call + horizon + entry slack], "
                 "unique per (chain, address, interval, open_ts), valid by the candle rules; young calls' windows "
                 "are filled in by later runs." + related(TELEGRAM_CALLS.name, CANDLE_LEDGER.name,
                                                         "aggregated_candles/1h", "token_analytics")),
            spec(CANDLE_LEDGER.name,
                 "Every candle window asked of the source and what came back (candles, no trades, token "
                 "unknown, invalid candles, error), so that a covered window is never requested, and paid for, "
                 "twice." + related(RAW_CANDLES.name, CANDLE_ANSWERS.name, "token_analytics")),
            spec(CANDLE_ANSWERS.name,
                 "The journal of answers paid for but not stored yet: each answer of the candle source is written "
                 "here the moment it arrives, and leaves once its day is in raw_candles and candle_ledger. Empty "
                 "after a run that finished; after a refused key, a crash or a kill it holds what came, and the "
                 "next run stores it without asking again." + related(RAW_CANDLES.name, CANDLE_LEDGER.name)),
        ],
    )(_candle_step)
