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
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)
from pydantic import Field

from assets.automation import leaderboard
from assets.metadata import image, note_partition, related, run_totals, table, timed
from assets.partitions import day_and_strategy
from assets.plots import equity_curve_plot
from quantbot_pipelines.candles.finer import FinerBatch, fetch_minutes
from quantbot_pipelines.schemas import (
    CALLER_STRATEGY_LEADERBOARD,
    CANDLE_LEDGER,
    INTRABAR_ANSWERS,
    INTRABAR_CANDLES,
    INTRABAR_LEDGER,
    PORTFOLIO_BOOKS,
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
from quantbot_pipelines.simulation.engine import resettle
from quantbot_pipelines.simulation.pools import source_liquidity
from quantbot_pipelines.simulation.refine import ambiguous_minutes
from quantbot_pipelines.validation.overfitting import sweep_guards
from quantbot_pipelines.views import strategy_board_view
from resources.candles import CandleSourceResource
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource

PREVIEW = ["strategy", "call_ts", "caller_name", "exit_reason", "net_multiple", "net_multiple_low",
           "net_multiple_high", "size_usd", "cost_usd", "proceeds_usd", "impact_usd", "liquidity_source",
           "window_complete"]


def _execution_figures(trades: pl.DataFrame) -> dict:
    """A partition's sized-trade figures (docs/semantics.md#position-size, #price-impact, #order-bounds)."""
    entered = trades.filter(pl.col("exit_reason") != "no_entry")
    sized = entered.filter(pl.col("size_usd").is_not_null())
    out = {"ambiguous_trades": int((entered.get_column("ambiguous_candles").fill_null(0) > 0).sum())}
    if sized.height:
        out |= {
            "cost_usd": round(float(sized.get_column("cost_usd").sum()), 2),
            "proceeds_usd": round(float(sized.get_column("proceeds_usd").sum()), 2),
            "impact_usd": round(float(sized.get_column("impact_usd").fill_null(0).sum()), 2),
            "priced_without_liquidity": int((sized.get_column("liquidity_source") == "none").sum()),
            "unfilled_trades": int((sized.get_column("unfilled_share").fill_null(0) > 0).sum()),
        }
    return out


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


CALL_KEY = ["chat_id", "message_id", "chain", "address"]
REFINED = (INTRABAR_CANDLES.name, INTRABAR_LEDGER.name, INTRABAR_ANSWERS.name)


def _refine(wh, source, interval: str, day: dt.date, calls: pl.DataFrame, candles: pl.DataFrame,
            runs: dict[str, pl.DataFrame], loaded: dict) -> dict:
    """Finer candles for the day's ambiguous candles (every file's, asked once; source None: only those stored),
    and each file's trades on those calls simulated again with them (docs/semantics.md#order-bounds). Returns
    the day's figures."""
    minutes = pl.concat([ambiguous_minutes(t) for t in runs.values()]).unique()
    if minutes.height == 0:
        return {"minutes": 0, "requests": 0, "credits": 0, "settled": {}}
    if source is None:  # not fetching in this run: the finer candles the day holds
        fine = wh.read(INTRABAR_CANDLES, where=[("day", "=", day), ("interval", "=", interval)])
        batch = FinerBatch(fine, pl.DataFrame())
    else:
        anchors = calls.group_by("chain", "address").agg(pl.col("first_call_ts").min())
        batch = fetch_minutes(wh, source, minutes.join(anchors, on=["chain", "address"], how="left"), day=day,
                              interval=interval)
        fine = batch.candles.filter(pl.col("interval") == interval)
    settled = {}
    for stem, trades in runs.items():
        runs[stem], settled[stem] = resettle(trades, calls, candles, loaded[stem][0], fine)
    return {"minutes": batch.minutes, "requests": batch.requests, "credits": batch.credits, "settled": settled}


def _simulation_results(context: AssetExecutionContext, warehouse: WarehouseResource,
                        strategies: StrategyFolderResource, candle_source: CandleSourceResource):
    wh = warehouse.get()
    selected = {k.to_user_string() for k in context.selected_asset_keys}
    if SIMULATION_RESULTS.name not in selected:
        raise Failure(description=f"{', '.join(sorted(selected))} are written by the {SIMULATION_RESULTS.name} "
                                  f"step: select {SIMULATION_RESULTS.name} too")
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
    interval = candle_source.refine_interval
    # finer candles are fetched when their tables are part of the run; otherwise what they hold settles
    fetching = bool(interval) and {INTRABAR_CANDLES.name, INTRABAR_LEDGER.name} <= selected
    source = candle_source.source(log=context.log) if fetching else None
    started, kept, best = time.perf_counter(), [], None
    refined = {"minutes": 0, "requests": 0, "credits": 0, "settled": 0}
    # read once per run: a token's ledger rows may sit on another call day
    pools = source_liquidity(wh.read(CANDLE_LEDGER, columns=["chain", "address", "fetched_at",
                                                             "pool_liquidity_usd"]))
    # a day's inputs are read once for every file of the run; only a few columns of each day stay for the totals
    for day in sorted(by_day):
        calls = wh.read(TELEGRAM_CALLS, where=[("day", "=", day)])
        complete = wh.read(TOKEN_ANALYTICS, where=[("day", "=", day)], columns=[*CALL_KEY, "window_complete"])
        if complete.height:
            calls = calls.join(complete, on=CALL_KEY, how="left")
        if pools.height:
            calls = calls.join(pools, on=["chain", "address"], how="left")
        candles = wh.read(RAW_CANDLES, where=[("day", "=", day), ("interval", "=", "1m")])
        runs = {stem: simulate(calls, candles, loaded[stem][0]).with_columns(pl.lit(stem).alias("strategy_file"))
                for stem, _ in sorted(by_day[day])}
        fig = {"minutes": 0, "requests": 0, "credits": 0, "settled": {}}
        if interval:
            fig = _refine(wh, source, interval, day, calls, candles, runs, loaded)
            for k in ("minutes", "requests", "credits"):
                refined[k] += fig[k]
        for stem, key in sorted(by_day[day]):
            trades, fingerprint = runs[stem], loaded[stem][1]
            wh.write_partition(SIMULATION_RESULTS, {"day": day, "strategy_file": stem}, trades)
            top = trades.sort("net_return", descending=True, nulls_last=True).head(10)
            settled = fig["settled"].get(stem, 0)
            refined["settled"] += settled
            note_partition(context, key, {**_trade_figures(_counts(trades)), **_execution_figures(trades),
                                          "settled_by_finer_candles": settled,
                                          "strategy_fingerprint": fingerprint, "preview": table(top, PREVIEW)},
                           asset_key=SIMULATION_RESULTS.name)
            figures = {"interval": interval or "off", "minutes_asked": fig["minutes"],
                       "requests": fig["requests"], "credits": fig["credits"]}
            for name in REFINED:
                if name in selected:
                    note_partition(context, key, figures, asset_key=name)
            kept.append(_counts(trades))
            best = top if best is None else pl.concat([best, top], how="vertical_relaxed").sort(
                "net_return", descending=True, nulls_last=True).head(10)
    summary = pl.concat(kept) if kept else _counts(pl.from_arrow(SIMULATION_RESULTS.empty()))
    seconds = round(time.perf_counter() - started, 3)
    yield MaterializeResult(asset_key=SIMULATION_RESULTS.name, metadata={**run_totals(
        context, **_trade_figures(summary), seconds=seconds, settled_by_finer_candles=refined["settled"],
        preview=table(best if best is not None else pl.from_arrow(SIMULATION_RESULTS.empty()), PREVIEW)),
        "run_compute_s": seconds})
    for name in REFINED:
        if name in selected:
            yield MaterializeResult(asset_key=name, metadata=run_totals(
                context, interval=interval or "off", minutes_asked=refined["minutes"],
                requests=refined["requests"], credits=refined["credits"]))


def simulation_results(day_x_strategy: PartitionsDefinition) -> AssetsDefinition:
    deps = [TELEGRAM_CALLS.name, RAW_CANDLES.name, TOKEN_ANALYTICS.name, CANDLE_LEDGER.name]
    specs = [
        AssetSpec(SIMULATION_RESULTS.name, deps=deps, group_name="simulation", kinds={"numba", "parquet"},
                  description="One simulated trade per (call, strategy) for the strategies of one file in "
                              "strategies/: entry, fills, exit reason, net multiple after fees and slippage, and "
                              "for sized strategies what the trade paid and brought against its pool, its volume "
                              "cap, and the low-high range the same-candle order allows. Trades of calls whose "
                              "candle window is not complete yet are flagged (window_complete = false)."
                              + related("token_analytics", "intrabar_candles", "portfolio_results",
                                        "strategy_leaderboard")),
        AssetSpec(INTRABAR_CANDLES.name, deps=deps[:2], group_name="simulation", kinds={"parquet"},
                  description="Finer candles (QUANTBOT_REFINE_INTERVAL) of the minutes where a trade's stop and "
                              "take-profit were both crossed: fetched once, they settle which came first "
                              "(docs/semantics.md#order-bounds)." + related("intrabar_ledger", "simulation_results")),
        AssetSpec(INTRABAR_LEDGER.name, deps=deps[:2], group_name="simulation", kinds={"parquet"},
                  description="What was asked of the candle source for finer candles and what came back (requests, "
                              "credits): a minute is never fetched twice." + related("intrabar_candles")),
        AssetSpec(INTRABAR_ANSWERS.name, deps=deps[:2], group_name="simulation", kinds={"parquet"},
                  description="Answers for finer candles kept the moment they arrive, until their day is written."
                              + related("intrabar_ledger")),
    ]

    @multi_asset(name=SIMULATION_RESULTS.name, specs=specs, partitions_def=day_x_strategy,
                 backfill_policy=BackfillPolicy.single_run(), can_subset=True)
    def _step(context: AssetExecutionContext, warehouse: WarehouseResource, strategies: StrategyFolderResource,
              candle_source: CandleSourceResource):
        yield from _simulation_results(context, warehouse, strategies, candle_source)

    return _step


# what the boards and their plots read of each trade: a year of a sweep is ~10M trades, so the columns they
# do not use (fills, prices, ids) are left on disk
ROLLUP_COLUMNS = ["day", "strategy", "strategy_file", "caller_id", "caller_name", "repeat", "exit_reason",
                  "exit_ts", "net_return", "window_complete", "call_ts", "net_multiple", "net_multiple_low",
                  "net_multiple_high", "ambiguous_candles"]


def _rollup_input(wh, strategies: StrategyFolderResource) -> pl.DataFrame:
    # only files still in strategies/: a removed file's rows stay stored but leave the boards
    current = sorted(strategies.files())
    return wh.read(SIMULATION_RESULTS, where=[("strategy_file", "in", current)], columns=ROLLUP_COLUMNS)


class StrategyLeaderboardConfig(Config):
    pbo_blocks: int = Field(default=16, ge=2, multiple_of=2,
                            description="day blocks of the sweeps' PBO (even; docs/semantics.md#overfitting-guards)")


def _guard_metadata(guards: pl.DataFrame) -> dict:
    """The sweeps' guards as a table and their verdicts as readable lines."""
    def pct(x) -> str:
        return "" if x is None else f"{x:.0%}"

    rows = list(guards.iter_rows(named=True))
    view = pl.DataFrame([[r["strategy_file"], r["strategy"], str(r["variants"]), str(r["days"]), pct(r["dsr"]),
                          pct(r["pbo"]), r["verdict"]] for r in rows],
                        schema={c: pl.String for c in ("file", "best variant", "variants", "days", "DSR", "PBO",
                                                       "verdict")}, orient="row")
    lines = "\n".join(f"- **{r['strategy_file']}** (`{r['strategy']}`): {r['verdict']}" for r in rows)
    return {"overfitting_guards": table(view, rows=len(rows)), "overfitting_verdicts": MetadataValue.md(lines)}


@leaderboard(
    deps=[SIMULATION_RESULTS.name, PORTFOLIO_BOOKS.name],
    description="Exit strategies ranked over all simulated trades (repeats excluded): trades, win rate, mean and "
                "median return (the mean is the result of an equal-sized book), the range the same-candle order "
                "allows (a strategy whose rank depends on it is marked), profit factor, worst trade, exit reasons, "
                "the bankroll's result (book return, drawdown, Sharpe, its own rank), and on each sweep's best "
                "variant its overfitting guards (Deflated Sharpe Ratio, Probability of Backtest Overfitting). "
                "Definitions: docs/semantics.md#rollups, #order-bounds, #bankroll, #overfitting-guards."
                + related("simulation_results", "portfolio_books", "caller_strategy_leaderboard"),
)
@timed
def strategy_leaderboard(config: StrategyLeaderboardConfig, warehouse: WarehouseResource,
                         strategies: StrategyFolderResource) -> MaterializeResult:
    wh = warehouse.get()
    trades = _rollup_input(wh, strategies)
    books = wh.read(PORTFOLIO_BOOKS, where=[("strategy_file", "in", sorted(strategies.files()))])
    guards = sweep_guards(trades, blocks=config.pbo_blocks)
    board = build_strategy_leaderboard(trades, books, guards)
    wh.write_partition(STRATEGY_LEADERBOARD, {}, board)
    view = strategy_board_view(board, top=20)  # the top 20 and each sweep's best variant
    meta = {"strategies": board.height, "trades": trades.height,
            "order_sensitive": int(board.get_column("order_sensitive").fill_null(False).sum()) if board.height else 0,
            "leaderboard": table(view, rows=view.height)}
    if guards.height:
        meta |= _guard_metadata(guards)
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
