"""Leaderboards as a reader sees them: best first, numbers formatted (percent, multiples, h:mm), as DataFrames
of strings that the metadata tables, the demo, the bot and a notebook show as they are. The formatters are the
one definition of how a figure is written (docs/semantics.md#reading-figures); the dashboard's script follows
them. The boards themselves (numbers, ranks) are built by the library; this module chooses columns and formats."""

from __future__ import annotations

import json
import math

import polars as pl


def hmm(seconds) -> str:
    if seconds is None or math.isnan(seconds):
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def share(x) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def multiple(x) -> str:
    return "" if x is None else (f"{x:,.0f}x" if x >= 100 else f"{x:.2f}x")


def signed_pct(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x * 100:+.1f}%"


def profit_factor(pf) -> str:
    return "" if pf is None else ("∞" if math.isinf(pf) else f"{pf:.2f}")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def usd(x) -> str:
    """A size in dollars (market cap, liquidity): $12.34, $12.3K, $1.23M, $1.23B; the sign first."""
    if _missing(x):
        return ""
    sign, a = ("-" if x < 0 else ""), abs(x)
    for unit, scale, digits in (("B", 1e9, 2), ("M", 1e6, 2), ("K", 1e3, 1)):
        if a >= scale:
            return f"{sign}${a / scale:.{digits}f}{unit}"
    return f"{sign}${a:.2f}"


def money(x) -> str:
    """An amount of cash (bankroll, equity, cost): $18,246.40; the sign first."""
    return "" if _missing(x) else f"{'-' if x < 0 else ''}${abs(x):,.2f}"


def price(x) -> str:
    """A token price: four decimals from 1 (two from 1,000), else four significant digits written out
    (0.000000361, never 3.61e-07)."""
    if _missing(x):
        return ""
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1:
        return f"{x:,.{2 if a >= 1000 else 4}f}"
    return f"{x:.{min(100, 3 - math.floor(math.log10(a)))}f}".rstrip("0").rstrip(".")


def top_exits(shares: str | None) -> str:
    if not shares:
        return ""
    items = sorted(json.loads(shares).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v * 100:.0f}%" for k, v in items[:3])


def _strings(rows: list[list[str]], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")


CALLER_COLUMNS = ["#", "caller", "calls", "2x", "5x", "10x", "median ATH", "mean ATH", "median time to 2x", "score"]


def caller_board_view(board: pl.DataFrame, top: int = 20) -> pl.DataFrame:
    """The top ranked callers (unranked ones fill up when fewer are ranked); docs/semantics.md#leaderboard-scores."""
    rows = board.sort(pl.col("rank").is_null(), "rank", pl.col("score"),
                      descending=[False, False, True], nulls_last=True).head(top)
    return _strings([[
        "" if r["rank"] is None else str(r["rank"]),
        (r["caller_name"] or r["caller_id"]).replace("\n", " "),
        str(r["calls"]),
        share(r["hit_rate_2x"]), share(r["hit_rate_5x"]), share(r["hit_rate_10x"]),
        multiple(r["median_ath_multiple"]), multiple(r["mean_ath_multiple"]),
        hmm(r["median_time_to_2x_s"]),
        "" if r["score"] is None else f"{r['score']:.3f}",
    ] for r in rows.iter_rows(named=True)], CALLER_COLUMNS)


def return_range(lo, hi) -> str:
    """A low-high range of returns (docs/semantics.md#order-bounds); one figure when the two agree."""
    if lo is None or hi is None:
        return ""
    return signed_pct(lo) if abs(hi - lo) < 5e-4 else f"{signed_pct(lo)} .. {signed_pct(hi)}"


def strategy_board_view(board: pl.DataFrame, top: int = 20) -> pl.DataFrame:
    """Either strategy board (per strategy, or per caller x strategy), best first; returns in percent, with
    the range the same-candle order allows and, on the strategy board, the book's figures and the sweep's
    overfitting guards on its best variant (docs/semantics.md#overfitting-guards), whose row is shown even
    below the top."""
    has_caller = "caller_id" in board.columns
    has_book = "book_return" in board.columns
    has_guard = "sweep_dsr" in board.columns
    columns = ["rank", "strategy"] + (["caller"] if has_caller else []) + [
        "trades", "win rate", "mean", "mean low .. high", "median", "profit factor", "worst", "best", "exits",
        "incomplete"] + (["order", "book", "book max DD", "book Sharpe", "book rank"] if has_book else []) + (
        ["DSR", "PBO", "sweep guard"] if has_guard else [])
    ordered = board.sort(["rank", "mean_return"], descending=[False, True], nulls_last=True)
    rows = ordered.head(top)
    if has_guard:
        # a sweep's best variant by Sharpe can rank low by mean return; its verdict must still be seen
        rows = pl.concat([rows, ordered.slice(top).filter(pl.col("sweep_verdict").is_not_null())])
    out = []
    for r in rows.iter_rows(named=True):
        cells = [str(r["rank"]) if r["rank"] is not None else "–", r["strategy"]]
        if has_caller:
            cells.append(r.get("caller_name") or r["caller_id"])
        cells += [str(r["trades"]),
                  f"{r['win_rate'] * 100:.0f}%" if r["win_rate"] is not None else "",
                  signed_pct(r["mean_return"]), return_range(r.get("mean_return_low"), r.get("mean_return_high")),
                  signed_pct(r["median_return"]), profit_factor(r["profit_factor"]),
                  signed_pct(r["worst_trade"]), signed_pct(r["best_trade"]),
                  top_exits(r["exit_reason_shares"]), str(r["incomplete_trades"] or 0)]
        if has_book:
            cells += ["rank depends on it" if r.get("order_sensitive") else "",
                      signed_pct(r["book_return"]),
                      "" if r["book_max_drawdown"] is None else f"{r['book_max_drawdown'] * 100:.1f}%",
                      "" if r["book_sharpe"] is None else f"{r['book_sharpe']:.2f}",
                      "" if r["book_rank"] is None else str(r["book_rank"])]
        if has_guard:
            cells += [share(r["sweep_dsr"]), share(r["sweep_pbo"]), r["sweep_verdict"] or ""]
        out.append(cells)
    return _strings(out, columns)


CALLER_STATS_COLUMNS = ["#", "caller", "calls", "median X", "mean X", "2x", "5x", "10x", "rugs", "points",
                        "points/call", "median time to peak", "score"]


def points(x) -> str:
    return "" if x is None else f"{x:+,.0f}" if x == int(x) else f"{x:+,.1f}"


def caller_stats_view(board: pl.DataFrame, top: int = 20) -> pl.DataFrame:
    """One caller board (a window and scope of caller_boards), by rank: the figures from the call price beside
    our score; docs/semantics.md#caller-stats."""
    rows = board.sort("rank", nulls_last=True).head(top)
    return _strings([[
        "" if r["rank"] is None else str(r["rank"]),
        (r["caller_name"] or r["caller_id"]).replace("\n", " "),
        str(r["calls"]),
        multiple(r["median_x"]), multiple(r["mean_x"]),
        share(r["hit_rate_2x"]), share(r["hit_rate_5x"]), share(r["hit_rate_10x"]),
        f"{r['rugs']} ({share(r['rug_rate'])})",
        points(r["points"]), "" if r["points_per_call"] is None else f"{r['points_per_call']:+.2f}",
        hmm(r["median_time_to_peak_s"]),
        "" if r["score"] is None else f"{r['score']:.3f}",
    ] for r in rows.iter_rows(named=True)], CALLER_STATS_COLUMNS)


WALK_FORWARD_COLUMNS = ["test days", "chosen callers", "strategy", "in sample", "out of sample", "trades",
                        "every caller", "hold", "vs random", "persistence"]


def walk_forward_view(folds: pl.DataFrame, names: dict[str, str] | None = None,
                      policy: str = "top_callers") -> pl.DataFrame:
    """Each fold as a reader sees it: whom and how the past chose, and what it then made, beside every caller
    and random callers (docs/semantics.md#walk-forward)."""
    names = names or {}
    return _strings([[
        r["fold"],
        ", ".join(names.get(c) or c for c in json.loads(r["callers"] or "[]")) or "(none)",
        r["strategy"] or "",
        signed_pct(r["is_mean_return"]), signed_pct(r["oos_mean_return"]), str(r["oos_trades"] or 0),
        signed_pct(r["all_callers_mean_return"]), signed_pct(r["hold_mean_return"]),
        share(r["random_percentile"]),
        "" if r["persistence_rho"] is None else f"{r['persistence_rho']:+.2f}",
    ] for r in folds.filter(pl.col("policy") == policy).sort("fold_index").iter_rows(named=True)],
        WALK_FORWARD_COLUMNS)
