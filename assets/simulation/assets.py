"""Exit strategies over every call: per-trade results by call day x strategy file, and their rollups.

Fill and cost rules: docs/semantics.md#fills, implemented in
quantbot_pipelines/simulation. Strategy files live in strategies/ (QUANTBOT_STRATEGIES); the strategies
sensor keeps the dynamic `strategy` dimension in step with that folder.
"""

import datetime as dt
import time

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
)

from assets.automation import day_stage, leaderboard
from assets.boards import strategy_board_view
from assets.metadata import image, note_partition, related, run_totals, table, timed
from assets.partitions import day_and_strategy
from assets.plots import equity_curve_plot
from quantbot_pipelines.schemas import (
    CALLER_STRATEGY_LEADERBOARD,
    RAW_CANDLES,
    SIMULATION_RESULTS,
    STRATEGY_LEADERBOARD,
    TELEGRAM_CALLS,
    TOKEN_ANALYTICS,
)
from quantbot_pipelines.simulation import StrategyError, simulate, strategy_file_fingerprint
from quantbot_pipelines.simulation import (
    caller_strategy_leaderboard as build_caller_strategy_leaderboard,
)
from quantbot_pipelines.simulation import (
    strategy_leaderboard as build_strategy_leaderboard,
)
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource

PREVIEW = ["strategy", "call_ts", "caller_name", "exit_reason", "net_multiple", "window_complete"]


def _counts(trades: pl.DataFrame) -> pl.DataFrame:
    """Trades by (strategy, exit reason): all a run keeps of a day's trades for its totals."""
    return trades.group_by("strategy", "exit_reason").agg(pl.len().cast(pl.Int64).alias("n"))


def _trade_figures(counts: pl.DataFrame) -> dict:
    return {
        "trades": int(counts.get_column("n").sum()) if counts.height else 0,
        "strategies": counts.get_column("strategy").n_unique() if counts.height else 0,
        "exit_reasons": MetadataValue.json(dict(counts.group_by("exit_reason").agg(pl.col("n").sum())
                                                .sort("exit_reason").iter_rows()) if counts.height else {}),
    }


def _simulation_results(context: AssetExecutionContext, warehouse: WarehouseResource,
                        strategies: StrategyFolderResource) -> MaterializeResult:
    wh = warehouse.get()
    by_day: dict[dt.date, list[tuple[str, str]]] = {}
    for key in context.partition_keys:
        day, stem = day_and_strategy(key)
        by_day.setdefault(day, []).append((stem, key))
    loaded: dict[str, tuple[list, str]] = {}
    for stem in sorted({stem for pairs in by_day.values() for stem, _ in pairs}):
        path = strategies.file(stem)
        if not path.exists():
            raise Failure(f"strategy file {path} is gone; the strategies sensor removes its partitions")
        try:
            # within the folder's variant cap; the fingerprint lets the sensor see what these results were run on
            loaded[stem] = (strategies.load(path), strategy_file_fingerprint(path))
        except StrategyError as exc:
            raise Failure(str(exc)) from exc
    started, kept, best = time.perf_counter(), [], None
    # a day's inputs are read once for every file of the run; only a few columns of each day stay for the totals
    for day in sorted(by_day):
        calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
        complete = wh.read(TOKEN_ANALYTICS, where=[("day", "=", day)],
                           columns=["chat_id", "message_id", "chain", "address", "window_complete"])
        if complete.height:
            calls = calls.join(complete, on=["chat_id", "message_id", "chain", "address"], how="left")
        candles = wh.read(RAW_CANDLES, where=[("day", "=", day), ("interval", "=", "1m")])
        for stem, key in sorted(by_day[day]):
            variants, fingerprint = loaded[stem]
            trades = simulate(calls, candles, variants).with_columns(pl.lit(stem).alias("strategy_file"))
            wh.write_partition(SIMULATION_RESULTS, {"day": day, "strategy_file": stem}, trades)
            top = trades.sort("net_return", descending=True, nulls_last=True).head(10)
            note_partition(context, key, {**_trade_figures(_counts(trades)), "strategy_fingerprint": fingerprint,
                                          "preview": table(top, PREVIEW)})
            kept.append(_counts(trades))
            best = top if best is None else pl.concat([best, top], how="vertical_relaxed").sort(
                "net_return", descending=True, nulls_last=True).head(10)
    summary = pl.concat(kept) if kept else _counts(pl.from_arrow(SIMULATION_RESULTS.empty()))
    return MaterializeResult(metadata=run_totals(
        context, **_trade_figures(summary), seconds=round(time.perf_counter() - started, 3),
        preview=table(best if best is not None else pl.from_arrow(SIMULATION_RESULTS.empty()), PREVIEW)))


def simulation_results(day_x_strategy: PartitionsDefinition) -> AssetsDefinition:
    return day_stage(
        name=SIMULATION_RESULTS.name,
        partitions_def=day_x_strategy,
        deps=[TELEGRAM_CALLS.name, RAW_CANDLES.name, TOKEN_ANALYTICS.name],
        group_name="simulation",
        kinds={"numba", "parquet"},
        description="One simulated trade per (call, strategy) for the strategies of one file in strategies/: "
                    "entry, fills, exit reason, net multiple after fees and slippage. Trades of calls whose candle "
                    "window is not complete yet are flagged (window_complete = false)."
                    + related("token_analytics", "strategy_leaderboard", "caller_strategy_leaderboard"),
    )(timed(_simulation_results))


# what the boards and their plots read of each trade: a year of a sweep is ~10M trades, so the columns they
# do not use (fills, prices, ids) are left on disk
ROLLUP_COLUMNS = ["strategy", "strategy_file", "caller_id", "caller_name", "repeat", "exit_reason", "exit_ts",
                  "net_return", "window_complete", "call_ts"]


def _rollup_input(wh, strategies: StrategyFolderResource) -> pl.DataFrame:
    # only files still in strategies/: a removed file's rows stay stored but leave the boards
    current = sorted(strategies.files())
    return wh.read(SIMULATION_RESULTS, where=[("strategy_file", "in", current)], columns=ROLLUP_COLUMNS)


@leaderboard(
    deps=[SIMULATION_RESULTS.name],
    description="Exit strategies ranked over all simulated trades (repeats excluded): trades, win rate, mean and "
                "median return (the mean is the result of an equal-sized book), profit factor, worst trade, exit "
                "reasons. Definitions: docs/semantics.md#rollups."
                + related("simulation_results", "caller_strategy_leaderboard"),
)
@timed
def strategy_leaderboard(warehouse: WarehouseResource, strategies: StrategyFolderResource) -> MaterializeResult:
    wh = warehouse.get()
    trades = _rollup_input(wh, strategies)
    board = build_strategy_leaderboard(trades)
    wh.write_partition(STRATEGY_LEADERBOARD, {}, board)
    meta = {"strategies": board.height, "trades": trades.height,
            "leaderboard": table(strategy_board_view(board, top=20), rows=20)}
    top = board.sort("rank").head(5).get_column("strategy").to_list() if board.height else []
    if top:
        meta["equity_curves"] = image(equity_curve_plot(trades, top), "equity curves of the top strategies")
    return MaterializeResult(metadata=meta)


@leaderboard(
    deps=[SIMULATION_RESULTS.name],
    description="Every caller under every strategy: which exit rule suits whom."
    + related("strategy_leaderboard", "caller_leaderboard"),
)
@timed
def caller_strategy_leaderboard(warehouse: WarehouseResource,
                                strategies: StrategyFolderResource) -> MaterializeResult:
    wh = warehouse.get()
    board = build_caller_strategy_leaderboard(_rollup_input(wh, strategies))
    wh.write_partition(CALLER_STRATEGY_LEADERBOARD, {}, board)
    best = board.filter(pl.col("rank") == 1) if board.height else board
    return MaterializeResult(metadata={
        "rows": board.height,
        "best_caller_per_strategy": table(strategy_board_view(best, top=30), rows=30),
    })
