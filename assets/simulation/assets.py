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
from assets.metadata import image, related, table, timed
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
from quantbot_pipelines.simulation import StrategyError, simulate
from quantbot_pipelines.simulation import (
    caller_strategy_leaderboard as build_caller_strategy_leaderboard,
)
from quantbot_pipelines.simulation import (
    strategy_leaderboard as build_strategy_leaderboard,
)
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource


def _simulation_results(context: AssetExecutionContext, warehouse: WarehouseResource,
                        strategies: StrategyFolderResource) -> MaterializeResult:
    wh = warehouse.get()
    by_file: dict[str, list[dt.date]] = {}
    for key in context.partition_keys:
        day, stem = day_and_strategy(key)
        by_file.setdefault(stem, []).append(day)
    started, trades_out = time.perf_counter(), []
    for stem, days in sorted(by_file.items()):
        path = strategies.file(stem)
        if not path.exists():
            raise Failure(f"strategy file {path} is gone; the strategies sensor removes its partitions")
        try:
            variants = strategies.load(path)  # within the folder's variant cap
        except StrategyError as exc:
            raise Failure(str(exc)) from exc
        for day in sorted(days):
            calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
            complete = wh.read(TOKEN_ANALYTICS, where=[("day", "=", day)],
                               columns=["chat_id", "message_id", "chain", "address", "window_complete"])
            if complete.height:
                calls = calls.join(complete, on=["chat_id", "message_id", "chain", "address"], how="left")
            candles = wh.read(RAW_CANDLES, where=[("day", "=", day), ("interval", "=", "1m")])
            trades = simulate(calls, candles, variants).with_columns(pl.lit(stem).alias("strategy_file"))
            wh.write_partition(SIMULATION_RESULTS, {"day": day, "strategy_file": stem}, trades)
            trades_out.append(trades)
    trades = pl.concat(trades_out, how="vertical_relaxed") if trades_out else pl.from_arrow(SIMULATION_RESULTS.empty())
    return MaterializeResult(metadata={
        "trades": trades.height,
        "strategies": trades.get_column("strategy").n_unique() if trades.height else 0,
        "seconds": round(time.perf_counter() - started, 3),
        "exit_reasons": MetadataValue.json(dict(trades.group_by("exit_reason").len().iter_rows())
                                           if trades.height else {}),
        "preview": table(trades.sort("net_return", descending=True, nulls_last=True),
                         ["strategy", "call_ts", "caller_name", "exit_reason", "net_multiple", "window_complete"]),
    })


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


def _rollup_input(wh, strategies: StrategyFolderResource) -> pl.DataFrame:
    # only files still in strategies/: a removed file's rows stay stored but leave the boards
    current = sorted(strategies.files())
    return wh.read(SIMULATION_RESULTS, where=[("strategy_file", "in", current)], columns=[
        "strategy", "caller_id", "caller_name", "repeat", "exit_reason", "exit_ts", "net_return",
        "window_complete", "day", "strategy_file", "chat_id", "message_id", "chain", "address", "call_ts",
        "entry_ts", "entry_price", "net_multiple", "fills"])


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
