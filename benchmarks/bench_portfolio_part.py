"""The bankroll's speed: CALLS calls x STRATEGIES strategies of random trades (seeded), about 3 fills each.

Times, warm (kernels compiled beforehand; best of 3): (a) parsing the `fills` JSON of every row, (b) the book
engine (one event loop per strategy, strategies over numba's threads; also on one thread), and for
information (c) `prepare` (sorting, token codes, and the parse of (a)) and (d) `run_books` end to end, once
each. Goal: (b) under 10 s.

    python -m benchmarks.bench_portfolio_part
    BENCH_BOOK_CALLS=10000 python -m benchmarks.bench_portfolio_part    # small, while developing
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time

import numba
import numpy as np
import polars as pl

from quantbot_pipelines.simulation.portfolio import parse_fills, prepare, run_books, run_engine
from quantbot_pipelines.simulation.strategy import Book, Strategy

CALLS = int(os.environ.get("BENCH_BOOK_CALLS", "100000"))
STRATEGIES = int(os.environ.get("BENCH_BOOK_STRATEGIES", "100"))
TOKENS = 20_000
SEED = 11
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
MAX_SELLS = 3


def make_strategies(n: int) -> list[Strategy]:
    """Books of every kind: unit size, sized without impact, sized on the pool; fixed and equity-share
    stakes; tight and loose limits."""
    out = []
    for j in range(n):
        sized = j % 4
        book = Book(bankroll_usd=float(1000 + 500 * (j % 7)), sizing="equity_share" if j % 2 else "fixed",
                    stake_usd=None if j % 3 else 150.0, equity_share=0.02 + 0.01 * (j % 5),
                    max_open=5 + 5 * (j % 10), max_per_token=1 + j % 2)
        out.append(Strategy(name=f"s{j:03d}", fee_bps=100, slippage_bps=50, book=book,
                            size_usd=None if sized == 0 else 500.0,
                            impact="xyk" if sized >= 2 else "none",
                            fee_fixed_usd=0.0 if sized == 0 else 0.25,
                            dex_fee_bps=None if sized != 3 else 30.0))
    return out


def _fill_str(ts: pl.Expr, px: pl.Expr, fr: pl.Expr, reason: pl.Expr) -> pl.Expr:
    stamp = pl.from_epoch(ts, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return pl.concat_str([pl.lit('["'), stamp, pl.lit('",'), px.cast(pl.String), pl.lit(","),
                          fr.cast(pl.String), pl.lit(',"'), reason, pl.lit('"]')])


def _epoch(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="s").dt.replace_time_zone("UTC")


def make_trades(calls: int, strategies: list[Strategy]) -> pl.DataFrame:
    """SIMULATION_RESULTS-like rows, every (call, strategy): 5 % without entry, 10 % repeats, holds of
    minutes to two days, 1 to 3 sells (sized rows open with one "entry" part)."""
    rng = np.random.default_rng(SEED)
    ns = len(strategies)
    call_ts = np.sort(rng.integers(0, 365 * 86400, calls)) + int(T0.timestamp())
    token = rng.integers(0, TOKENS, calls)
    repeat = rng.random(calls) < 0.10
    n = calls * ns
    c = np.repeat(np.arange(calls), ns)
    s = np.tile(np.arange(ns), calls)
    entry = call_ts[c] + 60
    no_entry = rng.random(n) < 0.05
    sized = np.array([st.size_usd is not None for st in strategies])[s]
    n_sells = rng.integers(1, MAX_SELLS + 1, n)
    hold = np.exp(rng.normal(np.log(3 * 3600), 1.2, (n, MAX_SELLS))).astype(np.int64) // MAX_SELLS
    sell_ts = entry[:, None] + np.cumsum(hold, axis=1)
    mult = np.exp(rng.normal(-0.05, 0.5, (n, MAX_SELLS)))
    share = rng.dirichlet(np.ones(MAX_SELLS), n)
    present = np.arange(MAX_SELLS)[None, :] < n_sells[:, None]
    share = np.where(present, share, 0.0)
    share /= share.sum(axis=1, keepdims=True)
    entry_price = np.exp(rng.normal(np.log(1e-4), 2.0, n))
    gross = (share * mult).sum(axis=1)
    net = gross * 0.97044
    exit_ts = np.take_along_axis(sell_ts, (n_sells - 1)[:, None], axis=1)[:, 0]
    pool = np.exp(rng.normal(np.log(30_000), 1.0, n))
    cols = {f"t{k}": sell_ts[:, k] for k in range(MAX_SELLS)}
    cols |= {f"p{k}": entry_price * mult[:, k] for k in range(MAX_SELLS)}
    cols |= {f"f{k}": share[:, k] for k in range(MAX_SELLS)}
    cols |= {f"on{k}": present[:, k] for k in range(MAX_SELLS)}
    df = pl.DataFrame({
        "day": pl.from_epoch(pl.Series(call_ts[c]), time_unit="s").dt.date(),
        "strategy_file": "bench",
        "strategy": pl.Series([st.name for st in strategies]).gather(s),
        "chat_id": pl.Series([f"chat{k}" for k in range(40)]).gather(c % 40),
        "message_id": c.astype(np.int64),
        "caller_id": pl.Series([f"user{k}" for k in range(500)]).gather(c % 500),
        "chain": "solana",
        "address": pl.Series([f"Tok{k:040d}" for k in range(TOKENS)]).gather(token[c]),
        "_call": call_ts[c], "_entry": entry, "_exit": exit_ts, "repeat": repeat[c], "_no": no_entry,
        "_sized": sized, "_impact": pl.Series([st.impact for st in strategies]).gather(s),
        "entry_price": entry_price, "net_multiple": net, "pool_usd": pool,
        **cols,
    })
    reasons = ["take_profit"] * (MAX_SELLS - 1) + ["time_exit"]
    sells = [pl.when(pl.col(f"on{k}")).then(_fill_str(pl.col(f"t{k}"), pl.col(f"p{k}"), pl.col(f"f{k}"),
                                                       pl.lit(reasons[k])))
             for k in range(MAX_SELLS)]
    buy = pl.when(pl.col("_sized")).then(_fill_str(pl.col("_entry"), pl.col("entry_price"), pl.lit(1.0),
                                                   pl.lit("entry")))
    has = ~pl.col("_no")
    return df.with_columns(
        _epoch("_call").alias("call_ts"),
        pl.when(has).then(_epoch("_entry")).alias("entry_ts"),
        pl.when(has).then(_epoch("_exit")).alias("exit_ts"),
        pl.when(has).then(pl.lit("take_profit")).otherwise(pl.lit("no_entry")).alias("exit_reason"),
        pl.when(has).then(pl.concat_str([pl.lit("["), pl.concat_str([buy, *sells], separator=",",
                                                                    ignore_nulls=True),
                                         pl.lit("]")])).alias("fills"),
        pl.when(has).then(pl.col("net_multiple")).alias("net_multiple"),
        pl.when(has).then(pl.col("net_multiple") - 1.0).alias("net_return"),
        pl.when(pl.col("_sized")).then(pl.lit(500.0)).alias("size_usd"),
        pl.when(pl.col("_sized")).then(pl.col("_impact")).alias("impact"),
        pl.when(pl.col("_sized")).then(pl.col("pool_usd")).alias("pool_usd"),
        pl.lit("card").alias("liquidity_source"),
        pl.when(pl.col("_sized")).then(pl.lit(1.0)).alias("entry_fill_share"),
    ).drop("_call", "_entry", "_exit", "_no", "_sized", "_impact", *cols)


def _best(fn, repeat: int = 3):
    """(best time of `repeat` runs, the last result)."""
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_portfolio(calls: int = CALLS, n_strategies: int = STRATEGIES) -> dict:
    """Figures of one run (seconds; engine's trades per second)."""
    strategies = make_strategies(n_strategies)
    small = make_trades(200, strategies[:8])
    run_books(small, strategies[:8])  # compile (or load the cached kernels) outside the timings
    run_books(small, strategies[:8], parallel=False)
    t = time.perf_counter()
    trades = make_trades(calls, strategies)
    gen_s = time.perf_counter() - t
    fills = trades["fills"]
    parse_s, parsed = _best(lambda: parse_fills(fills))
    prep_s, (inputs, _, _) = _best(lambda: prepare(trades, strategies), repeat=1)
    engine_s, _ = _best(lambda: run_engine(inputs))
    serial_s, _ = _best(lambda: run_engine(inputs, parallel=False), repeat=1)
    t = time.perf_counter()
    books = run_books(trades, strategies)
    total_s = time.perf_counter() - t
    return {
        "calls": calls, "strategies": n_strategies, "rows": trades.height, "book_trades": inputs.n_trades,
        "fills": len(parsed.ts), "threads": numba.get_num_threads(), "generate_s": round(gen_s, 2),
        "parse_s": round(parse_s, 3), "prepare_s": round(prep_s, 3), "engine_s": round(engine_s, 3),
        "engine_serial_s": round(serial_s, 3),
        "run_books_s": round(total_s, 3), "engine_trades_per_s": round(inputs.n_trades / engine_s),
        "taken": int(books.summary["book_trades"].sum()), "skipped": int(books.summary["book_skipped"].sum()),
    }


if __name__ == "__main__":
    for key, value in bench_portfolio().items():
        print(f"{key}={value}")
