"""Rollups of simulated trades: per strategy and per caller x strategy.

Definitions: docs/semantics.md#rollups. A trade is a non-repeat call with an entry
(repeat calls and no_entry rows are left out; a null `repeat` counts as not a repeat).
- win_rate: share of trades with net return > 0; mean and median net return side by side (single tokens run
  to 1,000x, so the mean alone misleads);
- profit_factor: sum of gains / sum of losses (inf with gains and no losses, null with neither);
- the equal-sized, non-compounding book (capital split equally over the trades) returns sum(net_return) /
  trades, which is the mean return: it is not stored twice;
- exit_reason_shares: JSON {reason: share of trades}; incomplete_trades: trades whose window is not complete.

Ranking: strategies by mean return, i.e. the equal-sized book's result (all strategies see the same calls, so no adjustment is needed).
Callers within a strategy by a confidence-adjusted figure, so that one lucky call cannot top the board:
    score = mean_return - CALLER_Z x sd(net_return) / sqrt(trades)
(the mean one standard error down: a single 100x among few calls raises the mean and the standard error
alike), ranked only with at least MIN_CALLER_TRADES trades; rank is null below that.
A sweep's overfitting guards (DSR, PBO; computed by validation.overfitting.sweep_guards) sit on the row of
its best variant: docs/semantics.md#overfitting-guards.
"""

from __future__ import annotations

import math

import polars as pl

from quantbot_pipelines.schemas import CALLER_STRATEGY_LEADERBOARD, STRATEGY_LEADERBOARD

MIN_CALLER_TRADES = 5
CALLER_Z = 1.0


def book_trades(trades: pl.DataFrame) -> pl.DataFrame:
    """The rows that count as trades of the book: non-repeat calls with an entry and a result."""
    return trades.filter(~pl.col("repeat").fill_null(False), pl.col("exit_reason") != "no_entry",
                         pl.col("net_return").is_not_null())


def _rollup(trades: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    t = book_trades(trades)
    r = pl.col("net_return")
    stats = t.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("trades"),
        (r > 0).mean().alias("win_rate"),
        r.mean().alias("mean_return"),
        r.median().alias("median_return"),
        r.filter(r > 0).sum().alias("_gains"),
        (-r.filter(r < 0)).sum().alias("_losses"),
        r.min().alias("worst_trade"),
        r.max().alias("best_trade"),
        (pl.col("window_complete") == False).sum().cast(pl.Int64).alias("incomplete_trades"),
        r.std(ddof=1).alias("_sd"),
        *(_bound_mean(c) for c in ("low", "high")),
        (pl.col("ambiguous_candles").fill_null(0) > 0).sum().cast(pl.Int64).alias("ambiguous_trades"),
    ).with_columns(
        pl.when(pl.col("_losses") > 0).then(pl.col("_gains") / pl.col("_losses"))
        .when(pl.col("_gains") > 0).then(pl.lit(math.inf)).otherwise(None).alias("profit_factor"))
    shares = (t.group_by([*keys, "exit_reason"]).len()
              .with_columns((pl.col("len") / pl.col("len").sum().over(keys)).alias("share"))
              .sort([*keys, "exit_reason"])
              .group_by(keys, maintain_order=True)
              .agg(pl.concat_str([pl.lit('"'), pl.col("exit_reason"), pl.lit('":'),
                                  pl.col("share").cast(pl.String)]).str.join(",").alias("_shares"))
              .with_columns(pl.concat_str([pl.lit("{"), pl.col("_shares"), pl.lit("}")])
                            .alias("exit_reason_shares")))
    # every strategy (and caller) present keeps a row, with trades = 0 when all its calls had no entry
    universe = trades.filter(~pl.col("repeat").fill_null(False)).select(keys).unique()
    out = (universe.join(stats, on=keys, how="left", nulls_equal=True)
           .join(shares.select(*keys, "exit_reason_shares"), on=keys, how="left", nulls_equal=True)
           .with_columns(pl.col("trades", "incomplete_trades", "ambiguous_trades").fill_null(0)))
    return out


def _bound_mean(which: str) -> pl.Expr:
    """Mean of net_multiple_<which> - 1 (docs/semantics.md#order-bounds); a row without the bound counts with
    its own result."""
    return ((pl.col(f"net_multiple_{which}").fill_null(pl.col("net_multiple")) - 1.0).mean()
            .alias(f"mean_return_{which}"))


def _with_bound_columns(trades: pl.DataFrame) -> pl.DataFrame:
    """Trades written before the order bounds existed count as unambiguous."""
    missing = [pl.lit(None, pl.Float64).alias(c) for c in ("net_multiple_low", "net_multiple_high")
               if c not in trades.columns]
    if "net_multiple" not in trades.columns:
        missing.append((pl.col("net_return") + 1.0).alias("net_multiple"))
    if "ambiguous_candles" not in trades.columns:
        missing.append(pl.lit(None, pl.Int64).alias("ambiguous_candles"))
    return trades.with_columns(missing) if missing else trades


def _ranked(board: pl.DataFrame, by: str, name: str) -> pl.DataFrame:
    """`name` = 1, 2, 3, ... by `by` (high first, ties by strategy name); null without trades."""
    order = board.sort([by, "strategy"], descending=[True, False], nulls_last=True).select(
        "strategy", pl.when(pl.col("trades") > 0).then(pl.int_range(1, pl.len() + 1)).cast(pl.Int64).alias(name))
    return board.join(order, on="strategy", how="left")


def strategy_leaderboard(trades: pl.DataFrame, books: pl.DataFrame | None = None,
                         guards: pl.DataFrame | None = None) -> pl.DataFrame:
    """STRATEGY_LEADERBOARD rows: one per strategy, rank 1 = highest mean return (the result of an
    equal-sized book); rank_low / rank_high under the two same-candle readings, order_sensitive when they
    differ (docs/semantics.md#order-bounds); book_* from `books` (portfolio.run_books(...).summary), ranked
    by book_return (docs/semantics.md#bankroll); sweep_* from `guards` (validation.overfitting.sweep_guards)
    on each sweep's best variant (docs/semantics.md#overfitting-guards)."""
    if trades.height == 0:
        return pl.from_arrow(STRATEGY_LEADERBOARD.empty())
    board = _rollup(_with_bound_columns(trades), ["strategy"])
    board = _ranked(_ranked(_ranked(board, "mean_return", "rank"), "mean_return_low", "rank_low"),
                    "mean_return_high", "rank_high")
    board = board.with_columns(
        pl.when(pl.col("rank").is_not_null())
        .then((pl.col("rank_low") != pl.col("rank")) | (pl.col("rank_high") != pl.col("rank")))
        .alias("order_sensitive"))
    book_cols = [c for c in STRATEGY_LEADERBOARD.columns if c.startswith("book_") and c != "book_rank"]
    if books is not None and books.height:
        board = board.join(books.select("strategy", *book_cols), on="strategy", how="left")
        board = _ranked(board.with_columns(pl.when(pl.col("book_trades") > 0).then(pl.col("book_return"))
                                           .alias("_book")), "_book", "book_rank")
        board = board.with_columns(pl.when(pl.col("_book").is_not_null()).then(pl.col("book_rank"))
                                   .alias("book_rank"))
    else:
        board = board.with_columns(pl.lit(None, pl.Int64).alias("book_rank"),
                                   *(pl.lit(None).alias(c) for c in book_cols))
    board = _with_guards(board, guards)
    return (board.sort(["rank", "strategy"], nulls_last=True)
            .select(STRATEGY_LEADERBOARD.columns))


# board column: (column of sweep_guards, type)
_GUARD_COLUMNS = {"sweep_variants": ("variants", pl.Int64), "sweep_days": ("days", pl.Int64),
                  "sweep_dsr": ("dsr", pl.Float64), "sweep_pbo": ("pbo", pl.Float64),
                  "sweep_verdict": ("verdict", pl.String)}


def _with_guards(board: pl.DataFrame, guards: pl.DataFrame | None) -> pl.DataFrame:
    """The sweep guards on the row of each sweep's best variant (`guards.strategy`); null elsewhere."""
    if guards is None or guards.height == 0:
        return board.with_columns(pl.lit(None, t).alias(c) for c, (_, t) in _GUARD_COLUMNS.items())
    rows = guards.select("strategy", *(pl.col(src).cast(t).alias(c) for c, (src, t) in _GUARD_COLUMNS.items()))
    return board.join(rows, on="strategy", how="left")


def caller_strategy_leaderboard(trades: pl.DataFrame) -> pl.DataFrame:
    """CALLER_STRATEGY_LEADERBOARD rows: one per (caller, strategy), ranked within the strategy by
    score = mean - CALLER_Z x standard error, among callers with >= MIN_CALLER_TRADES trades."""
    if trades.height == 0:
        return pl.from_arrow(CALLER_STRATEGY_LEADERBOARD.empty())
    trades = _with_bound_columns(trades.filter(pl.col("caller_id").is_not_null()))
    # the name the caller used last (names change; ids do not)
    names = (trades.sort("call_ts") if "call_ts" in trades.columns else trades).group_by(
        "caller_id").agg(pl.col("caller_name").drop_nulls().last())
    board = _rollup(trades, ["strategy", "caller_id"]).join(names, on="caller_id", how="left")
    score = pl.col("mean_return") - CALLER_Z * pl.col("_sd").fill_null(0.0) / pl.col("trades").sqrt()
    board = (board.with_columns(pl.when(pl.col("trades") >= MIN_CALLER_TRADES).then(score).alias("score"))
             .sort(["strategy", "score", "caller_id"], descending=[False, True, False], nulls_last=True)
             .with_columns(pl.when(pl.col("score").is_not_null())
                           .then(pl.int_range(1, pl.len() + 1).over("strategy")).cast(pl.Int64).alias("rank")))
    return board.select(CALLER_STRATEGY_LEADERBOARD.columns)

