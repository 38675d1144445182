"""From candles to answers: aggregated intervals, per-call token analytics and the leaderboards.

Every figure is defined in docs/semantics.md; the library implements it.
"""

import datetime as dt
import time

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
)
from pydantic import Field

from assets.automation import day_stage, leaderboard
from assets.boards import caller_board_view
from assets.metadata import image, related, table, timed
from assets.plots import ath_distribution_plot
from quantbot_pipelines.analytics import aggregate_candles
from quantbot_pipelines.analytics import (
    caller_leaderboard as build_caller_leaderboard,
)
from quantbot_pipelines.analytics import (
    token_analytics as compute_token_analytics,
)
from quantbot_pipelines.analytics import (
    token_leaderboard as build_token_leaderboard,
)
from quantbot_pipelines.backtest import DEFAULT_HORIZON_S, DEFAULT_MAX_ENTRY_GAP_S
from quantbot_pipelines.schemas import (
    AGGREGATED_CANDLES,
    CALLER_LEADERBOARD,
    CANDLE_LEDGER,
    RAW_CANDLES,
    TELEGRAM_CALLS,
    TOKEN_ANALYTICS,
    TOKEN_LEADERBOARD,
)
from resources.warehouse import WarehouseResource


def aggregated_candles(days: PartitionsDefinition, interval: str) -> AssetsDefinition:
    """One asset per interval of the settings (QUANTBOT_INTERVALS)."""

    @day_stage(
        key=[AGGREGATED_CANDLES.name, interval],
        partitions_def=days,
        deps=[RAW_CANDLES.name],
        group_name="analytics",
        kinds={"polars", "parquet"},
        description=f"raw_candles rolled up to {interval} (first open, max high, min low, last close, summed "
                    "volume), buckets aligned to UTC epoch multiples; gaps stay gaps. One asset per interval, "
                    "day-partitioned like its input, so a day range runs every interval in the same run as "
                    "raw_candles (a day x interval multi-partition is split into one run per interval).",
    )
    @timed
    def _aggregate(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        wh = warehouse.get()
        rows, started = 0, time.perf_counter()
        for key in context.partition_keys:
            day = dt.date.fromisoformat(key)
            raw = wh.read(RAW_CANDLES, where=[("day", "=", day)])
            rows += wh.write_partition(AGGREGATED_CANDLES, {"day": day, "interval": interval},
                                       aggregate_candles(raw, interval))
        return MaterializeResult(metadata={"rows": rows, "days": len(context.partition_keys),
                                           "seconds": round(time.perf_counter() - started, 3)})

    return _aggregate


class AnalyticsConfig(Config):
    entry_delay_s: int = Field(default=0, description="seconds after the call before entering")
    max_entry_gap_s: int = Field(default=DEFAULT_MAX_ENTRY_GAP_S,
                                 description="no candle within this after the call: no_entry")
    horizon_s: int = Field(default=DEFAULT_HORIZON_S, description="window length after entry")


def _token_analytics(context: AssetExecutionContext, config: AnalyticsConfig,
                     warehouse: WarehouseResource) -> MaterializeResult:
    wh = warehouse.get()
    now = int(time.time())
    out = []
    # what the ledger knows is the same for every day of the range: read it once
    coverage = wh.read(CANDLE_LEDGER, where=[("status", "in", ["ok", "no_trades"])],
                       columns=["chain", "address", "interval", "start_ts", "end_ts"])
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
        candles = wh.read(RAW_CANDLES, where=[("day", "=", day), ("interval", "=", "1m")])
        rows = compute_token_analytics(calls, candles, coverage=coverage, entry_delay_s=config.entry_delay_s,
                                       max_entry_gap_s=config.max_entry_gap_s, horizon_s=config.horizon_s, now=now)
        wh.write_partition(TOKEN_ANALYTICS, {"day": day}, rows)
        out.append(rows)
    df = pl.concat(out, how="vertical_relaxed") if out else pl.from_arrow(TOKEN_ANALYTICS.empty())
    status = dict(df.group_by("status").len().iter_rows()) if df.height else {}
    ok = df.filter(pl.col("status") == "ok")
    return MaterializeResult(metadata={
        "calls": df.height,
        "status": MetadataValue.json(status),
        "windows_incomplete": int((~df.get_column("window_complete")).sum()) if df.height else 0,
        "median_ath_multiple": float(ok.get_column("ath_multiple").median() or 0) if ok.height else 0.0,
        "preview": table(df.sort("ath_multiple", descending=True, nulls_last=True),
                         ["call_ts", "caller_name", "card_ticker", "status", "entry_price", "ath_multiple",
                          "time_to_2x_s", "min_multiple", "end_multiple", "window_complete"]),
    })


def token_analytics(days: PartitionsDefinition) -> AssetsDefinition:
    return day_stage(
        name=TOKEN_ANALYTICS.name,
        partitions_def=days,
        deps=[TELEGRAM_CALLS.name, RAW_CANDLES.name, CANDLE_LEDGER.name],
        group_name="analytics",
        kinds={"numba", "parquet"},
        description="One row per call: entry, ATH multiple and time, time to 1.5/2/3/5/10x, minimum multiple, "
                    "drawdown before 2x, end multiple, window_complete, status (ok, no_entry, no_candles). "
                    "Recomputed when the day's candles grow."
                    + related("raw_candles", "candle_ledger", "caller_leaderboard", "simulation_results"),
    )(timed(_token_analytics))


class LeaderboardConfig(Config):
    min_calls: int = Field(default=5, description="callers with fewer non-repeat calls are listed without rank")
    include_repeats: bool = Field(default=False, description="count repeat calls too")


@leaderboard(
    deps=[TOKEN_ANALYTICS.name],
    description="Callers ranked by a confidence-adjusted score over their non-repeat calls (definition: "
                "docs/semantics.md#leaderboard-scores), with hit rates, median and mean ATH multiple."
                + related("token_analytics", "caller_strategy_leaderboard"),
)
@timed
def caller_leaderboard(config: LeaderboardConfig, warehouse: WarehouseResource) -> MaterializeResult:
    wh = warehouse.get()
    analytics = wh.read(TOKEN_ANALYTICS)
    board = build_caller_leaderboard(analytics, min_calls=config.min_calls, include_repeats=config.include_repeats)
    wh.write_partition(CALLER_LEADERBOARD, {}, board)
    top = board.filter(pl.col("rank").is_not_null()).sort("rank").head(5).get_column("caller_id").to_list()
    meta = {
        "callers": board.height,
        "ranked": int(board.get_column("rank").is_not_null().sum()) if board.height else 0,
        "leaderboard": table(caller_board_view(board, top=20), rows=20),
    }
    if top:
        meta["ath_distribution"] = image(ath_distribution_plot(analytics, top), "ATH multiples of the top callers")
    return MaterializeResult(metadata=meta)


@leaderboard(
    deps=[TOKEN_ANALYTICS.name],
    description="Tokens by how far they ran after their first call." + related("token_analytics"),
)
@timed
def token_leaderboard(warehouse: WarehouseResource) -> MaterializeResult:
    wh = warehouse.get()
    board = build_token_leaderboard(wh.read(TOKEN_ANALYTICS))
    wh.write_partition(TOKEN_LEADERBOARD, {}, board)
    return MaterializeResult(metadata={
        "tokens": board.height,
        "leaderboard": table(board.sort("rank"), ["rank", "ticker", "chain", "address", "calls", "callers",
                                                   "first_caller_name", "ath_multiple", "end_multiple"], rows=20),
    })
