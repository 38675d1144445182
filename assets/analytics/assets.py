"""From candles to answers: aggregated intervals, per-call token analytics and the leaderboards.

Every figure is defined in docs/semantics.md; the library implements it.
"""

import datetime as dt
import time
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)
from pydantic import Field

from assets.automation import day_stage, leaderboard
from assets.metadata import image, note_partition, related, run_totals, table, timed
from assets.plots import ath_distribution_plot
from quantbot_pipelines.analytics import (
    DEFAULT_WINDOWS,
    PointsLadder,
    aggregate_candles,
    board_list,
    rollup_mismatches,
)
from quantbot_pipelines.analytics import (
    caller_boards as build_caller_boards,
)
from quantbot_pipelines.analytics import (
    caller_leaderboard as build_caller_leaderboard,
)
from quantbot_pipelines.analytics import (
    token_analytics as compute_token_analytics,
)
from quantbot_pipelines.analytics import (
    token_leaderboard as build_token_leaderboard,
)
from quantbot_pipelines.analytics.caller_stats import ALL
from quantbot_pipelines.backtest import DEFAULT_HORIZON_S, DEFAULT_MAX_ENTRY_GAP_S
from quantbot_pipelines.schemas import (
    AGGREGATED_CANDLES,
    CALLER_BOARDS,
    CALLER_LEADERBOARD,
    CANDLE_LEDGER,
    RAW_CANDLES,
    TELEGRAM_CALLS,
    TOKEN_ANALYTICS,
    TOKEN_LEADERBOARD,
)
from quantbot_pipelines.views import caller_board_view, caller_stats_view
from resources.downloads import DownloadsResource
from resources.warehouse import WarehouseResource

CHECKED_TOKENS = 25  # tokens of each day and interval compared with a direct rollup: a year checks ~45,000


def aggregated_candles(days: PartitionsDefinition, intervals: tuple[str, ...]) -> AssetsDefinition:
    """One asset per interval of the settings (QUANTBOT_INTERVALS), all written by one step: each day's raw
    candles are read once and rolled up to every interval, and each interval's check runs on what is in
    memory (the check compares with an independent direct rollup, docs/semantics.md#aggregated-candles)."""
    key_of = {i: AssetKey([AGGREGATED_CANDLES.name, i]) for i in intervals}
    specs = [AssetSpec(
        key_of[i], deps=[RAW_CANDLES.name], group_name="analytics", kinds={"polars", "parquet"},
        description=f"raw_candles rolled up to {i} (first open, max high, min low, last close, summed volume), "
                    "buckets aligned to UTC epoch multiples; gaps stay gaps. One asset per interval, day-"
                    "partitioned like its input; one step writes every interval from a single read of the day's "
                    "raw candles." + related("raw_candles", "token_analytics"))
        for i in intervals]
    checks = [AssetCheckSpec("aggregates_match_raw", asset=key_of[i],
                             description="Aggregated candles equal a direct rollup of the raw candles, on "
                                         f"{CHECKED_TOKENS} tokens of each day picked evenly.") for i in intervals]

    def _aggregate(context: AssetExecutionContext, warehouse: WarehouseResource) -> list:
        wh = warehouse.get()
        chosen = [i for i in intervals if key_of[i] in context.selected_asset_keys]
        rows = dict.fromkeys(chosen, 0)
        mismatches = dict.fromkeys(chosen, 0)
        bad_days: dict[str, list[str]] = {i: [] for i in chosen}
        started = time.perf_counter()
        for key in context.partition_keys:
            day = dt.date.fromisoformat(key)
            raw = wh.read(RAW_CANDLES, where=[("day", "=", day)])
            for i in chosen:
                agg = aggregate_candles(raw, i)
                n = wh.write_partition(AGGREGATED_CANDLES, {"day": day, "interval": i}, agg)
                off = rollup_mismatches(raw, agg, i, sample=CHECKED_TOKENS)
                rows[i] += n
                mismatches[i] += off
                if off:
                    bad_days[i].append(key)
                note_partition(context, key, {"rows": n, "tokens": agg.select("chain", "address").n_unique()
                                              if agg.height else 0}, asset_key=key_of[i])
        seconds = round(time.perf_counter() - started, 3)
        out: list = [MaterializeResult(asset_key=key_of[i], metadata=run_totals(context, rows=rows[i],
                                                                                seconds=seconds))
                     for i in chosen]
        for i in chosen:
            if AssetCheckKey(key_of[i], "aggregates_match_raw") in context.selected_asset_check_keys:
                out.append(AssetCheckResult(asset_key=key_of[i], check_name="aggregates_match_raw",
                                       passed=mismatches[i] == 0,
                                       metadata={"mismatched_candles": mismatches[i], "aggregated_rows": rows[i],
                                                 "days_with_mismatches": MetadataValue.json(bad_days[i])}))
        return out

    @multi_asset(name=AGGREGATED_CANDLES.name, specs=specs, check_specs=checks, partitions_def=days,
                 backfill_policy=BackfillPolicy.single_run(), can_subset=True)
    def _step(context: AssetExecutionContext, warehouse: WarehouseResource):
        # yielded, not returned: a run that selects part of the step reports only what it selected
        yield from timed(_aggregate)(context, warehouse)

    return _step


class AnalyticsConfig(Config):
    entry_delay_s: int = Field(default=0, description="seconds after the call before entering")
    max_entry_gap_s: int = Field(default=DEFAULT_MAX_ENTRY_GAP_S,
                                 description="no candle within this after the call: no_entry")
    horizon_s: int = Field(default=DEFAULT_HORIZON_S, description="window length after entry")


PREVIEW = ["call_ts", "caller_name", "card_ticker", "status", "entry_price", "ath_multiple", "time_to_2x_s",
           "min_multiple", "end_multiple", "window_complete"]


def _analytics_figures(rows: pl.DataFrame) -> dict:
    """What a day's (or a run's) token analytics look like in the UI."""
    ok = rows.filter(pl.col("status") == "ok")
    return {
        "calls": rows.height,
        "status": MetadataValue.json(dict(rows.group_by("status").len().sort("status").iter_rows())),
        "windows_incomplete": int((~rows.get_column("window_complete")).sum()) if rows.height else 0,
        "median_ath_multiple": float(ok.get_column("ath_multiple").median() or 0) if ok.height else 0.0,
    }


def _token_analytics(context: AssetExecutionContext, config: AnalyticsConfig,
                     warehouse: WarehouseResource) -> MaterializeResult:
    wh = warehouse.get()
    now = int(time.time())
    # what the ledger knows is the same for every day of the range: read it once (each day narrows it to its
    # own tokens by a join)
    coverage = wh.read(CANDLE_LEDGER, where=[("status", "in", ["ok", "no_trades"])],
                       columns=["chain", "address", "interval", "start_ts", "end_ts"])
    # the run keeps a few columns of each day for its totals and its best rows, never a whole day's frame
    kept, best = [], None
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
        candles = wh.read(RAW_CANDLES, where=[("day", "=", day), ("interval", "=", "1m")])
        rows = compute_token_analytics(calls, candles, coverage=coverage, entry_delay_s=config.entry_delay_s,
                                       max_entry_gap_s=config.max_entry_gap_s, horizon_s=config.horizon_s, now=now)
        wh.write_partition(TOKEN_ANALYTICS, {"day": day}, rows)
        top = rows.sort("ath_multiple", descending=True, nulls_last=True).head(10)
        note_partition(context, key, {**_analytics_figures(rows), "preview": table(top, PREVIEW)})
        kept.append(rows.select("status", "window_complete", "ath_multiple"))
        best = top if best is None else pl.concat([best, top]).sort(
            "ath_multiple", descending=True, nulls_last=True).head(10)
    summary = pl.concat(kept) if kept else pl.from_arrow(TOKEN_ANALYTICS.empty()).select(
        "status", "window_complete", "ath_multiple")
    return MaterializeResult(metadata=run_totals(context, **_analytics_figures(summary), preview=table(
        best if best is not None else pl.from_arrow(TOKEN_ANALYTICS.empty()), PREVIEW)))


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


_LADDER = PointsLadder()
BOARD_FOLDER = "caller_boards"  # subfolder of the downloads folder holding one CSV per board


class CallerBoardsConfig(Config):
    min_calls: int = Field(default=5, ge=1, description="callers with fewer counted calls are left off a board")
    min_x: float = Field(default=0.0, ge=0, description="callers whose median X from the call is below this are "
                                                        "left off a board")
    rug_level: float = Field(default=0.10, ge=0, lt=1, description="a rug: the price falls to this share of the "
                                                                   "call price or lower before 2x from the call")
    windows: list[str] = Field(default=list(DEFAULT_WINDOWS), description="trailing call-day windows (<N>d) "
                                                                          "and/or all")
    points: dict[str, float] = Field(default={f"{x:g}x": p for x, p in _LADDER.levels},
                                     description="points ladder: level (multiple from the call, 2x) -> points "
                                                 "of a call whose highest level reached is that one")
    rug_points: float = Field(default=_LADDER.rug, description="points of a rug")
    miss_points: float = Field(default=_LADDER.miss, description="points of a call below the ladder's lowest level")


def _csv_name(window: str, chat_id: str | None) -> str:
    return f"{window}-all" if chat_id is None else f"{window}-chat-{chat_id}"


@leaderboard(
    deps=[TOKEN_ANALYTICS.name],
    description="Caller stats from the price at the call (X from the call, 2x/5x/10x hit rates, rugs, points) "
                "beside our score, one board per time window (7d, 30d, 90d, all) and scope (all chats, each "
                "chat); each board also as a CSV in the downloads folder (definition: "
                "docs/semantics.md#caller-stats)." + related("token_analytics", "caller_leaderboard"),
)
@timed
def caller_boards(config: CallerBoardsConfig, warehouse: WarehouseResource,
                  downloads: DownloadsResource) -> MaterializeResult:
    wh = warehouse.get()
    analytics = wh.read(TOKEN_ANALYTICS)
    ladder = PointsLadder.from_mapping(config.points, rug=config.rug_points, miss=config.miss_points)
    board = build_caller_boards(analytics, windows=config.windows, min_calls=config.min_calls, min_x=config.min_x,
                                rug_level=config.rug_level, points=ladder)
    wh.write_partition(CALLER_BOARDS, {}, board)
    parts = board.partition_by(["window", "scope"], as_dict=True)
    empty = board.head(0)
    files: dict[str, str] = {}
    for window, scope, chat_id in board_list(analytics, windows=config.windows).select(
            "window", "scope", "chat_id").iter_rows():
        rows = parts.get((window, scope), empty)
        path = downloads.write(_csv_name(window, chat_id), rows.write_csv(), sub=BOARD_FOLDER, suffix=".csv")
        files[f"{window}/{scope}"] = str(path)
    # a board that is gone (a chat without counted calls any more) leaves no stale file behind
    downloads.prune(BOARD_FOLDER, [*map(Path, files.values())], "*.csv")
    meta: dict = {
        "boards": len(files),
        "rows": board.height,
        "downloads": MetadataValue.path(str(downloads.folder(BOARD_FOLDER).resolve())),
        "csv_files": MetadataValue.json(files),
    }
    for window in config.windows:
        top = parts.get((window, ALL), empty)
        meta[f"top_{window}"] = table(caller_stats_view(top, top=20), rows=20)
        if f"{window}/{ALL}" in files:
            meta[f"csv_{window}"] = MetadataValue.path(files[f"{window}/{ALL}"])
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
