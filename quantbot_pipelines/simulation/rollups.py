"""Rollups of simulated trades: per strategy and per caller x strategy, plus a markdown rendering.

Definitions: docs/semantics.md#rollups. A trade is a non-repeat call with an entry
(repeat calls and no_entry rows are left out; a null `repeat` counts as not a repeat).
- win_rate: share of trades with net return > 0; mean and median net return side by side (single tokens run
  to 1,000x, so the mean alone misleads);
- profit_factor: sum of gains / sum of losses (inf with gains and no losses, null with neither);
- total_return: equal-sized, non-compounding book: the capital is split equally over the trades, so the book
  returns sum(net_return) / trades (= the mean return; STRATEGY_LEADERBOARD's definition);
- exit_reason_shares: JSON {reason: share of trades}; incomplete_trades: trades whose window is not complete.

Ranking: strategies by total_return (all strategies see the same calls, so no adjustment is needed).
Callers within a strategy by a confidence-adjusted figure, so that one lucky call cannot top the board:
    score = mean_return - CALLER_Z x sd(net_return) / sqrt(trades)
(the mean one standard error down: a single 100x among few calls raises the mean and the standard error
alike), ranked only with at least MIN_CALLER_TRADES trades; rank is null below that.
"""

from __future__ import annotations

import math

import polars as pl

from quantbot_pipelines.schemas import CALLER_STRATEGY_LEADERBOARD, STRATEGY_LEADERBOARD

MIN_CALLER_TRADES = 5
CALLER_Z = 1.0


def _trades_only(trades: pl.DataFrame) -> pl.DataFrame:
    return trades.filter(~pl.col("repeat").fill_null(False), pl.col("exit_reason") != "no_entry",
                         pl.col("net_return").is_not_null())


def _rollup(trades: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    t = _trades_only(trades)
    r = pl.col("net_return")
    stats = t.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("trades"),
        (r > 0).mean().alias("win_rate"),
        r.mean().alias("mean_return"),
        r.median().alias("median_return"),
        r.filter(r > 0).sum().alias("_gains"),
        (-r.filter(r < 0)).sum().alias("_losses"),
        (r.sum() / pl.len()).alias("total_return"),
        r.min().alias("worst_trade"),
        r.max().alias("best_trade"),
        (pl.col("window_complete") == False).sum().cast(pl.Int64).alias("incomplete_trades"),
        r.std(ddof=1).alias("_sd"),
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
           .with_columns(pl.col("trades", "incomplete_trades").fill_null(0)))
    return out


def strategy_leaderboard(trades: pl.DataFrame) -> pl.DataFrame:
    """STRATEGY_LEADERBOARD rows: one per strategy, rank 1 = highest total return of an equal-size book."""
    if trades.height == 0:
        return pl.from_arrow(STRATEGY_LEADERBOARD.empty())
    board = _rollup(trades, ["strategy"]).sort(["total_return", "strategy"], descending=[True, False],
                                               nulls_last=True)
    board = board.with_columns(
        pl.when(pl.col("trades") > 0).then(pl.int_range(1, pl.len() + 1)).cast(pl.Int64).alias("rank"))
    return board.select(STRATEGY_LEADERBOARD.columns)


def caller_strategy_leaderboard(trades: pl.DataFrame) -> pl.DataFrame:
    """CALLER_STRATEGY_LEADERBOARD rows: one per (caller, strategy), ranked within the strategy by
    score = mean - CALLER_Z x standard error, among callers with >= MIN_CALLER_TRADES trades."""
    if trades.height == 0:
        return pl.from_arrow(CALLER_STRATEGY_LEADERBOARD.empty())
    trades = trades.filter(pl.col("caller_id").is_not_null())
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


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x * 100:+.1f}%"


def _short_shares(shares: str | None) -> str:
    import json

    if not shares:
        return ""
    items = sorted(json.loads(shares).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v * 100:.0f}%" for k, v in items[:3])


def leaderboard_markdown(board: pl.DataFrame, top: int = 20) -> str:
    """A markdown table of either leaderboard (returns in %), best first, at most `top` rows."""
    if board.height == 0:
        return "_no trades yet_"
    has_caller = "caller_id" in board.columns
    rows = board.sort(["rank", "total_return"], descending=[False, True], nulls_last=True).head(top)
    head = ["rank", "strategy"] + (["caller"] if has_caller else []) + [
        "trades", "win rate", "mean", "median", "profit factor", "total (equal book)", "worst", "best", "exits",
        "incomplete"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows.iter_rows(named=True):
        pf = r["profit_factor"]
        cells = [str(r["rank"]) if r["rank"] is not None else "–", r["strategy"]]
        if has_caller:
            cells.append(r.get("caller_name") or r["caller_id"])
        cells += [str(r["trades"]),
                  f"{r['win_rate'] * 100:.0f}%" if r["win_rate"] is not None else "",
                  _pct(r["mean_return"]), _pct(r["median_return"]),
                  "" if pf is None else ("∞" if math.isinf(pf) else f"{pf:.2f}"),
                  _pct(r["total_return"]), _pct(r["worst_trade"]), _pct(r["best_trade"]),
                  _short_shares(r["exit_reason_shares"]), str(r["incomplete_trades"] or 0)]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    if board.height > top:
        lines.append(f"\n_{board.height - top} more rows not shown._")
    return "\n".join(lines)
