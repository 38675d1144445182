"""Walk-forward: what the boards would have chosen on each fold's train days, and what that choice then made on
its test days, beside following everyone, holding, and random callers. Rules: docs/semantics.md#walk-forward
and #caller-persistence.

Inputs are the pipeline's own tables: `token_analytics` rows (the caller board) and `simulation_results` rows
(the strategies' trades) of the fold's days; nothing of the test days is used to choose.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from quantbot_pipelines.analytics.leaderboard import caller_leaderboard
from quantbot_pipelines.schemas import (
    SIMULATION_RESULTS,
    TOKEN_ANALYTICS,
    WALK_FORWARD,
    WALK_FORWARD_SUMMARY,
    WALK_FORWARD_TRADES,
)
from quantbot_pipelines.simulation.portfolio import run_books
from quantbot_pipelines.simulation.rollups import book_trades, caller_strategy_leaderboard
from quantbot_pipelines.simulation.strategy import Strategy
from quantbot_pipelines.validation.folds import Fold, FoldPlan
from quantbot_pipelines.validation.persistence import bootstrap_interval, rank_correlation

TOP_CALLERS, PER_CALLER = "top_callers", "per_caller"
POLICIES = (TOP_CALLERS, PER_CALLER)
RANK_BY = ("mean_return", "book_return")

# what the walk-forward reads of simulation_results (the fills only for the books of the choice)
DAY = dt.timedelta(days=1)

TRADE_COLUMNS = ["day", "strategy_file", "strategy", "chat_id", "message_id", "chain", "address", "caller_id",
                 "call_ts", "repeat", "entry_ts", "entry_price", "exit_ts", "exit_reason", "fills", "net_multiple",
                 "net_return", "size_usd", "impact", "pool_usd", "liquidity_source", "window_complete"]
ANALYTICS_COLUMNS = ["day", "chat_id", "message_id", "caller_id", "caller_name", "chain", "address", "call_ts",
                     "repeat", "status", "ath_multiple", "time_to_2x_s", "time_to_5x_s", "time_to_10x_s",
                     "drawdown_before_2x", "end_multiple"]


@dataclass(frozen=True)
class Rules:
    """How a fold chooses (docs/semantics.md#walk-forward)."""

    top_n: int = 5
    min_calls: int = 5  # the caller board's minimum, on each window's calls
    rank_strategies_by: str = "mean_return"
    draws: int = 1000  # random caller sets per fold
    persistence_draws: int = 1000
    persistence_min_calls: int = 3  # calls a caller needs in each window to be paired (test windows are short)
    level: float = 0.90  # the persistence interval

    def __post_init__(self):
        if self.top_n < 1 or self.min_calls < 1 or self.draws < 1 or self.persistence_draws < 1:
            raise ValueError("top_n, min_calls, draws and persistence_draws must be >= 1")
        if self.rank_strategies_by not in RANK_BY:
            raise ValueError(f"rank_strategies_by must be one of {RANK_BY}, not {self.rank_strategies_by!r}")


@dataclass(frozen=True)
class FoldResult:
    rows: pl.DataFrame  # WALK_FORWARD, one row per policy
    trades: pl.DataFrame  # WALK_FORWARD_TRADES: the choice's test trades


def _frame(spec, data) -> pl.DataFrame:
    """Rows (dicts, missing keys null) or a frame, as the table's columns and types."""
    if isinstance(data, pl.DataFrame):
        table = data.to_arrow()
    else:
        table = pa.Table.from_pylist(data, schema=spec.schema) if data else spec.empty()
    return pl.from_arrow(spec.conform(table))


def fold_seed(key: str) -> int:
    """The fold's random draws follow its key: the same at every run and on every machine."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _in_days(days: list) -> pl.Expr:
    return pl.col("day").is_in(list(days))


# Sums here are numpy's over rows in the frame's order: polars sums a column chunk by chunk (and a group_by in
# parallel), so the same rows read from another set of partitions could differ in the last bit, and a choice
# between equal figures flip. The asset sorts its inputs by key once, so a fold's rows come in one order.
def _mean(frame: pl.DataFrame, column: str = "net_return") -> float | None:
    return float(np.mean(frame.get_column(column).to_numpy())) if frame.height else None


def in_key_order(analytics: pl.DataFrame, trades: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The inputs in one row order (by table key) whatever partitions they were read from: run_fold's figures
    are then the same to the last bit for a fold read alone or with others."""
    return analytics.sort(list(TOKEN_ANALYTICS.key)), trades.sort(list(SIMULATION_RESULTS.key))


def group_sums(frame: pl.DataFrame, key: str, column: str = "net_return") -> pl.DataFrame:
    """Per `key`: the sum of `column` and the row count, summed in row order."""
    if frame.height == 0:
        return pl.DataFrame(schema={key: frame.schema.get(key, pl.String), "sum": pl.Float64, "n": pl.Int64})
    keys, inverse = np.unique(frame.get_column(key).to_numpy().astype(str), return_inverse=True)
    sums = np.bincount(inverse, weights=frame.get_column(column).to_numpy(), minlength=len(keys))
    counts = np.bincount(inverse, minlength=len(keys))
    return pl.DataFrame({key: keys.tolist(), "sum": sums, "n": counts.astype(np.int64)},
                        schema={key: pl.String, "sum": pl.Float64, "n": pl.Int64})


def _cost_factor(s: Strategy) -> float:
    f, sl = s.fee_bps / 10_000, s.slippage_bps / 10_000
    return (1 - sl) * (1 - f) / ((1 + sl) * (1 + f))


def best_strategy(trades: pl.DataFrame, strategies: dict[str, Strategy], rank_by: str = "mean_return") -> str | None:
    """The strategy with the highest figure over counted `trades` (ties: the name), or None without trades."""
    counted = book_trades(trades)
    if counted.height == 0:
        return None
    if rank_by == "book_return":
        figures = []
        for _, rows in trades.group_by("strategy_file"):
            names = rows.get_column("strategy").unique().to_list()
            books = run_books(rows, [strategies[n] for n in sorted(names) if n in strategies]).summary
            figures.append(books.select("strategy", pl.col("book_return").alias("figure")))
        board = pl.concat(figures).filter(pl.col("figure").is_not_null())
    else:
        board = group_sums(counted, "strategy").select("strategy", (pl.col("sum") / pl.col("n")).alias("figure"))
    if board.height == 0:
        return None
    return board.sort(["figure", "strategy"], descending=[True, False]).get_column("strategy")[0]


def _random_draws(per_caller: pl.DataFrame, candidates: list[str], size: int, draws: int, seed: int):
    """Sums and counts of the test trades of `draws` random sets of `size` candidates (without replacement)."""
    stats = pl.DataFrame({"caller_id": candidates}, schema={"caller_id": pl.String}).join(
        per_caller, on="caller_id", how="left").fill_null(0)
    sums = stats.get_column("sum").to_numpy().astype(np.float64)
    counts = stats.get_column("n").to_numpy().astype(np.int64)
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random((draws, len(candidates))), axis=1)[:, :size]
    return sums[idx].sum(axis=1), counts[idx].sum(axis=1)


def percentile_among(value: float | None, means: np.ndarray) -> float | None:
    """Share of `means` below `value`, ties counting half (docs/semantics.md#walk-forward)."""
    if value is None or len(means) == 0:
        return None
    # equal to rounding: the same trades summed in another order must tie, not fall either side
    eps = 1e-12 * max(1.0, abs(value))
    tied = np.abs(means - value) <= eps
    return float(((means < value) & ~tied).sum() + 0.5 * tied.sum()) / len(means)


def _draw_figures(value: float | None, sums: np.ndarray, counts: np.ndarray) -> dict:
    ok = counts > 0
    means = sums[ok] / counts[ok]
    if len(means) == 0:
        return dict.fromkeys(("random_p05", "random_median", "random_p95", "random_percentile"))
    p05, med, p95 = np.quantile(means, [0.05, 0.5, 0.95])
    return {"random_p05": float(p05), "random_median": float(med), "random_p95": float(p95),
            "random_percentile": percentile_among(value, means)}


def persistence(train_board: pl.DataFrame, test_board: pl.DataFrame, *, min_calls: int = 3, draws: int = 1000,
                level: float = 0.90, seed: int = 0) -> dict:
    """Rank correlation of the scores of the callers with at least `min_calls` calls on both boards, with its
    bootstrap interval (docs/semantics.md#caller-persistence)."""
    pairs = (train_board.filter(pl.col("calls") >= min_calls).select("caller_id", pl.col("score").alias("x"))
             .join(test_board.filter(pl.col("calls") >= min_calls).select("caller_id", pl.col("score").alias("y")),
                   on="caller_id"))
    out = {"persistence_callers": pairs.height, "persistence_rho": None, "persistence_low": None,
           "persistence_high": None}
    if pairs.height >= 3:
        x, y = pairs.get_column("x").to_numpy(), pairs.get_column("y").to_numpy()
        rho = rank_correlation(x, y)
        if rho is not None and not np.isnan(rho):
            lo, hi = bootstrap_interval(x, y, draws=draws, level=level, seed=seed)
            out.update(persistence_rho=float(rho), persistence_low=lo, persistence_high=hi)
    return out


def _book(trades: pl.DataFrame, strategy: Strategy) -> dict:
    if trades.height == 0:
        return {"oos_book_return": None, "oos_book_max_drawdown": None}
    summary = run_books(trades, [strategy]).summary
    return {"oos_book_return": summary.get_column("book_return")[0],
            "oos_book_max_drawdown": summary.get_column("book_max_drawdown")[0]}


def run_fold(fold: Fold, analytics: pl.DataFrame, trades: pl.DataFrame, strategies: dict[str, Strategy],
             rules: Rules = Rules(), *, mode: str = "rolling") -> FoldResult:
    """One fold: the choice on the train days, its trades and baselines on the test days.

    analytics: token_analytics rows, trades: simulation_results rows (TRADE_COLUMNS), both covering at least the
    fold's days; strategies: every strategy of the trades by name (its costs and book)."""
    train, test = fold.train_days, fold.test_days
    a_train, a_test = analytics.filter(_in_days(train)), analytics.filter(_in_days(test))
    board_train = caller_leaderboard(a_train, min_calls=rules.min_calls)
    board_test = caller_leaderboard(a_test, min_calls=rules.min_calls)
    ranked = board_train.filter(pl.col("rank").is_not_null()).sort("rank")
    candidates = ranked.get_column("caller_id").to_list()
    chosen = candidates[:rules.top_n]
    counted = book_trades(trades.filter(pl.col("caller_id").is_not_null()))
    t_train, t_test = counted.filter(_in_days(train)), counted.filter(_in_days(test))
    mine_train = t_train.filter(pl.col("caller_id").is_in(chosen))
    rows_train = trades.filter(_in_days(train), pl.col("caller_id").is_in(chosen))
    best = best_strategy(rows_train if rules.rank_strategies_by == "book_return" else mine_train, strategies,
                         rules.rank_strategies_by) if chosen else None
    base = {
        "fold": fold.key, "fold_index": fold.index, "mode": mode,
        "train_start": fold.train_start, "train_end": fold.train_end - DAY,
        "test_start": fold.test_start, "test_end": fold.test_end - DAY,
        "test_days": a_test.get_column("day").n_unique() if a_test.height else 0,
        "candidates": len(candidates),
        **persistence(board_train, board_test, min_calls=rules.persistence_min_calls,
                      draws=rules.persistence_draws, level=rules.level, seed=fold_seed(fold.key)),
    }
    if best is None:
        rows = [{**base, "policy": p, "callers": "[]", "random_draws": 0} for p in POLICIES]
        return FoldResult(_frame(WALK_FORWARD, rows), _frame(WALK_FORWARD_TRADES, []))

    # per_caller: each chosen caller's best caller x strategy score on the train days
    named = mine_train if "caller_name" in mine_train.columns else mine_train.with_columns(
        pl.lit(None, pl.String).alias("caller_name"))
    scores = caller_strategy_leaderboard(named).filter(pl.col("score").is_not_null())
    own = (scores.sort(["caller_id", "score", "strategy"], descending=[False, True, False])
           .group_by("caller_id", maintain_order=True).first().select("caller_id", "strategy"))
    own = dict(own.iter_rows())
    plan = {TOP_CALLERS: dict.fromkeys(chosen, best), PER_CALLER: {c: own.get(c, best) for c in chosen}}

    everyone = t_test.filter(pl.col("strategy") == best)
    per_caller = group_sums(everyone, "caller_id")
    sums, counts = _random_draws(per_caller, candidates, len(chosen), rules.draws, fold_seed(fold.key))
    factor = _cost_factor(strategies[best]) if best in strategies else 1.0
    held = a_test.filter(pl.col("status") == "ok", ~pl.col("repeat").fill_null(False),
                         pl.col("caller_id").is_in(chosen), pl.col("end_multiple").is_not_null())
    hold = _mean(held, "end_multiple") * factor - 1 if held.height else None

    rows, kept = [], []
    for policy, pick in plan.items():
        pairs = pl.DataFrame({"caller_id": list(pick), "strategy": list(pick.values())},
                             schema={"caller_id": pl.String, "strategy": pl.String})
        is_t = t_train.join(pairs, on=["caller_id", "strategy"], how="semi")
        oos = t_test.join(pairs, on=["caller_id", "strategy"], how="semi").sort("call_ts", "chat_id", "message_id")
        is_mean, oos_mean = _mean(is_t), _mean(oos)
        row = {
            **base, "policy": policy, "callers": json.dumps(chosen),
            "strategy": best if policy == TOP_CALLERS else json.dumps(pick, sort_keys=True),
            "is_trades": is_t.height, "is_mean_return": is_mean,
            "oos_trades": oos.height, "oos_mean_return": oos_mean,
            "oos_median_return": oos.get_column("net_return").median() if oos.height else None,
            "oos_win_rate": (oos.get_column("net_return") > 0).mean() if oos.height else None,
            "decay": None if is_mean is None or oos_mean is None else is_mean - oos_mean,
            "all_callers_trades": everyone.height, "all_callers_mean_return": _mean(everyone),
            "hold_calls": held.height, "hold_mean_return": hold,
            "random_draws": rules.draws, "random_sums": json.dumps(sums.tolist()),
            "random_counts": json.dumps(counts.tolist()), **_draw_figures(oos_mean, sums, counts),
        }
        if policy == TOP_CALLERS and best in strategies:
            row |= _book(oos, strategies[best])
        rows.append(row)
        kept.append(oos.with_columns(pl.lit(fold.key).alias("fold"), pl.lit(policy).alias("policy")))
    return FoldResult(_frame(WALK_FORWARD, rows), _frame(WALK_FORWARD_TRADES, pl.concat(kept, how="diagonal_relaxed")))


@dataclass(frozen=True)
class Stitched:
    summary: pl.DataFrame  # WALK_FORWARD_SUMMARY, one row per policy
    equity: pl.DataFrame  # the top_callers book fold after fold: (fold, ts, equity)
    folds: pl.DataFrame  # per fold and policy: the figures the plots show


def stitch(plan: FoldPlan, first_day, folds: pl.DataFrame, trades: pl.DataFrame,
           strategies: dict[str, Strategy]) -> Stitched:
    """Every fold together (docs/semantics.md#walk-forward, "Stitched over the folds"): folds: WALK_FORWARD rows,
    trades: WALK_FORWARD_TRADES rows."""
    folds = folds.sort("fold_index", "policy")
    keep = {}
    for key in folds.get_column("fold").unique().to_list():
        fold = plan.fold_of(key, first_day)
        keep[key] = plan.contributed_days(fold)
    contributed = pl.concat([pl.DataFrame({"fold": [k] * len(d), "day": d}, schema={"fold": pl.String,
                                                                                   "day": pl.Date})
                             for k, d in keep.items()]) if keep else pl.DataFrame(schema={"fold": pl.String,
                                                                                          "day": pl.Date})
    trades = trades.join(contributed, on=["fold", "day"], how="semi") if trades.height else trades
    rows, curves = [], []
    for policy in POLICIES:
        f = folds.filter(pl.col("policy") == policy)
        t = trades.filter(pl.col("policy") == policy) if trades.height else trades
        chose = f.filter(pl.col("callers") != "[]")
        oos = t.get_column("net_return") if t.height else pl.Series([], dtype=pl.Float64)
        row = {"policy": policy, "folds": f.height, "folds_with_choice": chose.height,
               "first_test_day": f.get_column("test_start").min() if f.height else None,
               "last_test_day": f.get_column("test_end").max() if f.height else None,
               "oos_trades": len(oos), "oos_mean_return": float(np.mean(oos.to_numpy())) if len(oos) else None,
               "oos_median_return": oos.median() if len(oos) else None,
               "oos_win_rate": (oos > 0).mean() if len(oos) else None}
        row |= _pooled(chose, "is_trades", "is_mean_return")
        row |= _pooled(chose, "all_callers_trades", "all_callers_mean_return")
        row |= _pooled(chose, "hold_calls", "hold_mean_return")
        row |= _stitched_draws(chose, row["oos_mean_return"])
        row["decay"] = (None if row["is_mean_return"] is None or row["oos_mean_return"] is None
                        else row["is_mean_return"] - row["oos_mean_return"])
        rho = f.get_column("persistence_rho").drop_nulls().to_numpy() if f.height else np.array([])
        row |= _mean_interval(rho)
        if policy == TOP_CALLERS:
            book, curve = _stitched_book(chose, t, strategies)
            row |= book
            curves.append(curve)
        row["verdict"] = verdict(row)
        rows.append(row)
    equity = pl.concat(curves) if curves else pl.DataFrame(schema={"fold": pl.String, "ts": pl.Datetime("us", "UTC"),
                                                                    "equity": pl.Float64})
    return Stitched(_frame(WALK_FORWARD_SUMMARY, rows), equity, folds)


def _pooled(folds: pl.DataFrame, count: str, mean: str) -> dict:
    """The folds' means pooled over their counts, under the same column names."""
    f = folds.filter(pl.col(mean).is_not_null())
    n = int(f.get_column(count).sum()) if f.height else 0
    total = float((f.get_column(count) * f.get_column(mean)).sum()) if f.height else 0.0
    return {count: n, mean: total / n if n else None}


def _stitched_draws(folds: pl.DataFrame, value: float | None) -> dict:
    """Draw j of every fold together: pooled sums over pooled counts."""
    if folds.height == 0:
        return _draw_figures(None, np.array([]), np.array([]))
    sums = [np.array(json.loads(s)) for s in folds.get_column("random_sums").to_list() if s]
    counts = [np.array(json.loads(s)) for s in folds.get_column("random_counts").to_list() if s]
    size = min(len(s) for s in sums) if sums else 0
    if not size:
        return _draw_figures(None, np.array([]), np.array([]))
    return _draw_figures(value, sum(s[:size] for s in sums), sum(c[:size] for c in counts))


def _mean_interval(rho: np.ndarray, draws: int = 1000, level: float = 0.90, seed: int = 0) -> dict:
    """Mean of the folds' persistence and its interval from resampling the folds."""
    if len(rho) == 0:
        return {"persistence_rho": None, "persistence_low": None, "persistence_high": None, "persistence_folds": 0}
    means = np.random.default_rng(seed).choice(rho, size=(draws, len(rho)), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"persistence_rho": float(rho.mean()), "persistence_low": float(lo), "persistence_high": float(hi),
            "persistence_folds": len(rho)}


def _stitched_book(folds: pl.DataFrame, trades: pl.DataFrame, strategies: dict[str, Strategy]):
    """The top_callers book fold after fold, each starting with the equity the previous one ended with."""
    equity, peak, worst = None, None, 0.0
    start = None
    curves = []
    for fold, strategy in folds.select("fold", "strategy").iter_rows():
        s = strategies.get(strategy)
        t = trades.filter(pl.col("fold") == fold) if trades.height else trades
        if s is None:
            continue
        if equity is None:
            equity = start = s.book.bankroll_usd
        if t.height == 0:
            continue
        s = dataclasses.replace(s, book=dataclasses.replace(s.book, bankroll_usd=equity))
        out = run_books(t, [s])
        curve = out.equity.sort("ts")
        values = curve.get_column("equity").to_numpy()
        for v in values:
            peak = v if peak is None else max(peak, v)
            worst = max(worst, 1 - v / peak) if peak > 0 else worst
        equity = float(out.summary.get_column("final_equity_usd")[0])
        curves.append(curve.select(pl.lit(fold).alias("fold"), "ts", "equity"))
    figures = {"book_start_usd": start, "book_final_usd": equity,
               "book_return": None if start is None else equity / start - 1,
               "book_max_drawdown": None if start is None else worst}
    curve = pl.concat(curves) if curves else pl.DataFrame(schema={"fold": pl.String,
                                                                   "ts": pl.Datetime("us", "UTC"),
                                                                   "equity": pl.Float64})
    return figures, curve


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f}%"


def verdict(row: dict) -> str:
    """One plain sentence of what the stitched figures say."""
    if not row.get("oos_trades"):
        return "No fold chose callers with trades on its test days yet: nothing out of sample to show."
    p = row.get("random_percentile")
    beat = "" if p is None else f", better than {p * 100:.0f}% of random caller picks"
    return (f"Chosen on past days, followed on the next: {_pct(row['oos_mean_return'])} a trade out of sample "
            f"against {_pct(row.get('is_mean_return'))} in sample, {_pct(row.get('all_callers_mean_return'))} "
            f"following every caller{beat}.")
