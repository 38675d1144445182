"""Simulation engine vs vectorbt, and vs one pass over the candle arrays.

Grid 1: CALLS calls x BARS one-minute candles x 50 take-profit/stop-loss strategies (fees 1 %), run by our
kernel and by vectorbt's Portfolio.from_signals, warm (JIT compiled beforehand for both), aligned as
docs/semantics.md#comparing-with-vectorbt says; the net multiples must agree.
Grid 2: 50 strategies with trailing stops and 3-level ladders (ours only), timed against one pass over the
candle arrays (a numba loop reading every open/high/low/close once).

    python -m benchmarks.bench_simulation            # full size: 2000 calls x 1440 candles
    BENCH_SIM_CALLS=200 python -m benchmarks.bench_simulation   # small, while developing

Grid 3: grid 2 as sized trades (500 USD, impact xyk against pools of 5k-100k USD, at most 20 % of a candle's
volume) through the kernel and the execution pass (docs/semantics.md#price-impact, #volume-caps), order bounds
included, timed against grid 2 plain (unit size, bounds included) in the same run: `impact_vs_plain`. The
bankroll: every strategy of a 100-strategy file as a book over 100,000 calls (benchmarks/bench_portfolio_part.py):
`portfolio_s`.

Last line: vs_vectorbt=<vectorbt time / our time> max_abs_diff=<x> vs_one_pass=<ratio>
impact_vs_plain=<ratio> portfolio_s=<s>, where vs_one_pass is
the time to simulate the WHOLE of grid 2 (all 50 strategies, all calls) over the time of one pass over the
candle arrays (goal: <= 5). The line before it gives the same per strategy (grid 2 time / 50 / one
pass), extra information only. Our kernel runs calls on numba's threads (NUMBA_NUM_THREADS); the serial
kernel's time is reported too.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numba
import numpy as np
import polars as pl

from benchmarks._report import table, write_section
from benchmarks.bench_portfolio_part import bench_portfolio
from quantbot_pipelines.backtest import CallWindows
from quantbot_pipelines.simulation import Strategy
from quantbot_pipelines.simulation.engine import execute, execution_arrays, run_block, strategy_arrays
from quantbot_pipelines.simulation.kernels import one_pass
from quantbot_pipelines.simulation.pools import Pools

CALLS = int(os.environ.get("BENCH_SIM_CALLS", "2000"))
BARS = int(os.environ.get("BENCH_SIM_BARS", "1440"))
SEED = 5


def make_paths(calls: int, bars: int) -> tuple[np.ndarray, ...]:
    """Memecoin-like one-minute paths after a call: 2.5 %/min volatility, slow bleed; opens at the previous
    close (1m candles of a traded token rarely gap)."""
    rng = np.random.default_rng(SEED)
    ret = rng.normal(-0.0004, 0.025, (calls, bars))
    close = np.exp(np.cumsum(ret, axis=1))
    o = np.concatenate([np.ones((calls, 1)), close[:, :-1]], axis=1)
    h = np.maximum(o, close) * np.exp(np.abs(rng.normal(0, 0.012, (calls, bars))))
    lo = np.minimum(o, close) * np.exp(-np.abs(rng.normal(0, 0.012, (calls, bars))))
    return o, h, lo, close


def packed(o, h, lo, c) -> CallWindows:
    calls, bars = o.shape
    start = np.arange(calls, dtype=np.int64) * bars
    every = np.ones(calls, bool)
    return CallWindows(ts_raw=np.tile(np.arange(bars, dtype=np.int64) * 60, calls), per=1, open=o.ravel(),
                       high=h.ravel(), low=lo.ravel(), close=c.ravel(), start=start, stop=start + bars,
                       entry_ts=np.zeros(calls, np.int64), entry_price=o[:, 0].copy(), ok=every,
                       has_any=every, last_ts=np.full(calls, (bars - 1) * 60, np.int64))


TPS = (1.1, 1.2, 1.3, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)
SLS = (0.5, 0.6, 0.7, 0.8, 0.9)
GRID1 = [Strategy(name=f"tp{tp}_sl{sl}", take_profit=((tp, 1.0),), stop_loss=sl, fee_bps=100) for tp in TPS
         for sl in SLS]
LADDERS = (((1.5, 0.33), (2.0, 0.33), (3.0, 0.34)), ((2.0, 0.33), (3.0, 0.33), (5.0, 0.34)),
           ((2.0, 0.5), (5.0, 0.25), (10.0, 0.25)), ((1.3, 0.25), (1.6, 0.25), (2.0, 0.25)),
           ((3.0, 0.33), (5.0, 0.33), (10.0, 0.34)))
GRID2 = [Strategy(name=f"l{i}_a{a}_d{d}", take_profit=lad, stop_loss=0.5, trailing_stop=(a, d), break_even=0.0,
                  fee_bps=100, slippage_bps=50)
         for i, lad in enumerate(LADDERS) for a in (1.2, 1.5) for d in (0.1, 0.15, 0.2, 0.25, 0.3)]


GRID3 = [dataclasses.replace(s, name=s.name + "_500", size_usd=500.0, impact="xyk", max_volume_share=0.2)
         for s in GRID2]


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_ours(paths: CallWindows, strategies: list[Strategy], parallel: bool | None = None):
    return run_block(paths, strategy_arrays(strategies), strategies[0].horizon_s, 0, paths.n_calls,
                     parallel=parallel)


def market(paths: CallWindows) -> tuple[CallWindows, Pools]:
    """The paths with a traded volume per candle (lognormal around 2,000 USD a minute) and a pool per call."""
    rng = np.random.default_rng(SEED + 1)
    volume = np.exp(rng.normal(np.log(2_000), 1.0, paths.open.shape[0]))
    pools = Pools(pool_usd=np.exp(rng.uniform(np.log(5_000), np.log(100_000), paths.n_calls)),
                  on_curve=np.zeros(paths.n_calls, np.bool_), source=pl.Series(["card"] * paths.n_calls))
    return dataclasses.replace(paths, volume=volume), pools


def run_sized(paths: CallWindows, pools: Pools, strategies: list[Strategy]):
    """Kernel, then the execution pass for the trades and for their other same-candle reading."""
    t = run_ours(paths, strategies)
    ex = execution_arrays(strategies)
    hi = paths.n_calls
    execute(paths, ex, pools, 0, hi, t.exit_i, t.n_fills, t.fill_i, t.fill_px, t.fill_frac, t.fill_reason)
    execute(paths, ex, pools, 0, hi, np.where(t.ambiguous > 0, t.exit_i, -1), t.alt_n_fills, t.alt_fill_i,
            t.alt_fill_px, t.alt_fill_frac, t.alt_fill_reason)
    return t


def run_vectorbt(o, h, lo, c):
    """One from_signals per strategy over all calls (columns); returns exit bars and 1 + total return."""
    import pandas as pd
    import vectorbt as vbt

    calls, bars = o.shape
    e = o[:, :1]
    frame = lambda a: pd.DataFrame(np.concatenate([e, a], axis=1).T)  # extra bar: close = entry
    close, opn, high, low = frame(c), frame(o), frame(h), frame(lo)
    entries = np.zeros((bars + 1, calls), bool)
    entries[0] = True
    exits = np.zeros((bars + 1, calls), bool)
    exits[-1] = True
    mult = np.empty((len(GRID1), calls))
    for j, s in enumerate(GRID1):
        pf = vbt.Portfolio.from_signals(close, entries, exits, open=opn, high=high, low=low, init_cash=100.0,
                                        tp_stop=s.take_profit[0][0] - 1, sl_stop=1 - s.stop_loss,
                                        fees=s.fee_bps / 1e4)
        mult[j] = 1.0 + pf.total_return().to_numpy()
    return mult


def end_to_end(o, h, lo, c) -> float:
    """Seconds for simulate() with grid 1 on the same paths given as TELEGRAM_CALLS / RAW_CANDLES frames."""
    import datetime as dt

    import polars as pl

    from quantbot_pipelines.simulation import simulate

    calls, bars = o.shape
    t0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    addr = [f"T{i}" for i in range(calls)]
    call_frame = pl.DataFrame({"day": [t0.date()] * calls, "chat_id": ["c"] * calls,
                               "message_id": np.arange(calls), "caller_id": ["u"] * calls,
                               "caller_name": ["u"] * calls, "chain": ["solana"] * calls, "address": addr,
                               "call_ts": [t0] * calls, "repeat": [False] * calls})
    epoch = int(t0.timestamp())
    candle_frame = pl.DataFrame({
        "chain": pl.Series(["solana"]).extend_constant("solana", calls * bars - 1),
        "address": np.repeat(np.array(addr), bars), "interval": "1m",
        "open_ts": np.tile(epoch + np.arange(bars, dtype=np.int64) * 60, calls),
        "open": o.ravel(), "high": h.ravel(), "low": lo.ravel(), "close": c.ravel(),
    }).with_columns(pl.from_epoch("open_ts", time_unit="s").dt.replace_time_zone("UTC"))
    simulate(call_frame.head(2), candle_frame.head(2 * bars), GRID1)
    t = time.perf_counter()
    out = simulate(call_frame, candle_frame, GRID1)
    assert out.height == calls * len(GRID1)
    return time.perf_counter() - t


def main() -> None:
    o, h, lo, c = make_paths(CALLS, BARS)
    paths = packed(o, h, lo, c)
    candles = CALLS * BARS

    # grid 1: ours (warm) vs vectorbt (warm: a small run compiles its kernels first)
    small = packed(*(a[:4, :50] for a in (o, h, lo, c)))
    for parallel in (True, False):  # compile / load both kernels (and start the thread pool) untimed
        run_ours(small, GRID1, parallel)
        run_ours(small, GRID2, parallel)
    t_ours = best_of(lambda: run_ours(paths, GRID1))
    res = run_ours(paths, GRID1)
    ours_mult = res.net_multiple.reshape(CALLS, len(GRID1)).T
    evaluated = int(((res.exit_i.reshape(CALLS, -1).T - paths.start) + 1).sum())
    try:
        import vectorbt  # noqa: F401
        have_vbt = True
    except ImportError:
        have_vbt = False
    if have_vbt:
        run_vectorbt(*(a[:4, :50] for a in (o, h, lo, c)))
        t = time.perf_counter()
        vbt_mult = run_vectorbt(o, h, lo, c)
        t_vbt = time.perf_counter() - t
        max_abs_diff = float(np.abs(vbt_mult - ours_mult).max())
        vs_vbt = t_vbt / t_ours
    else:
        t_vbt, max_abs_diff, vs_vbt = float("nan"), float("nan"), float("nan")

    # grid 2: trailing stops and ladders, against one pass over the candle arrays
    t_grid2 = best_of(lambda: run_ours(paths, GRID2), repeat=5)
    t_grid2_serial = best_of(lambda: run_ours(paths, GRID2, parallel=False), repeat=5)
    res2 = run_ours(paths, GRID2)
    evaluated2 = int(((res2.exit_i.reshape(CALLS, -1).T - paths.start) + 1).sum())
    one_pass(paths.open[:10], paths.high[:10], paths.low[:10], paths.close[:10])
    t_pass = best_of(lambda: one_pass(paths.open, paths.high, paths.low, paths.close), repeat=5)
    vs_one_pass = t_grid2 / t_pass  # the whole grid: all strategies, all calls
    per_strategy = vs_one_pass / len(GRID2)

    t_e2e = end_to_end(o, h, lo, c)  # before the bankroll's 10M trades take the memory

    # grid 3: the same strategies as sized trades with impact, volume caps and order bounds
    real, pools = market(paths)
    run_sized(market(small)[0], market(small)[1], GRID3)
    # alternated, best of many: the two are compared, so they see the same moments of the machine
    plain, sized = [], []
    for _ in range(15):
        plain.append(best_of(lambda: run_ours(real, GRID2), repeat=1))
        sized.append(best_of(lambda: run_sized(real, pools, GRID3), repeat=1))
    t_plain, t_sized = min(plain), min(sized)
    impact_vs_plain = t_sized / t_plain
    book = bench_portfolio()
    portfolio_s = book["engine_s"]
    bar_evals = candles * len(GRID1)
    rows = [
        {"run": "grid 1: ours (kernel)", "strategies": len(GRID1), "seconds": f"{t_ours:.4f}",
         "bar-evaluations/s (full windows)": f"{bar_evals / t_ours:,.0f}",
         "candles actually read": f"{evaluated:,}"},
        {"run": "grid 1: vectorbt from_signals", "strategies": len(GRID1), "seconds": f"{t_vbt:.3f}",
         "bar-evaluations/s (full windows)": f"{bar_evals / t_vbt:,.0f}" if have_vbt else "n/a",
         "candles actually read": f"{bar_evals:,}"},
        {"run": "grid 2: ours, trailing + 3-level ladders", "strategies": len(GRID2), "seconds": f"{t_grid2:.4f}",
         "bar-evaluations/s (full windows)": f"{candles * len(GRID2) / t_grid2:,.0f}",
         "candles actually read": f"{evaluated2:,}"},
        {"run": "grid 2: ours, serial kernel (1 thread)", "strategies": len(GRID2),
         "seconds": f"{t_grid2_serial:.4f}",
         "bar-evaluations/s (full windows)": f"{candles * len(GRID2) / t_grid2_serial:,.0f}",
         "candles actually read": f"{evaluated2:,}"},
        {"run": "grid 2: plain (unit size), same run as grid 3", "strategies": len(GRID2),
         "seconds": f"{t_plain:.4f}", "bar-evaluations/s (full windows)": f"{candles * len(GRID2) / t_plain:,.0f}",
         "candles actually read": f"{evaluated2:,}"},
        {"run": "grid 3: grid 2 at 500 USD, xyk impact, 20 % volume cap, order bounds", "strategies": len(GRID3),
         "seconds": f"{t_sized:.4f}", "bar-evaluations/s (full windows)": f"{candles * len(GRID3) / t_sized:,.0f}",
         "candles actually read": "-"},
        {"run": "one pass over the candle arrays", "strategies": "-", "seconds": f"{t_pass:.4f}",
         "bar-evaluations/s (full windows)": f"{candles / t_pass:,.0f}", "candles actually read": f"{candles:,}"},
    ]
    body = (f"{CALLS:,} calls x {BARS:,} one-minute candles (random walks, 2.5 %/min), warm (JIT excluded for "
            f"both engines). Ours: `simulation.engine.run_block` (numba kernel on {numba.get_num_threads()} "
            f"thread(s), calls in parallel; quiet stretches of candles skipped via per-call block summaries; "
            f"exits early once a position is closed). \"candles actually read\" counts each trade's candles "
            f"from entry to exit (what a candle-by-candle loop would read). vectorbt {_vbt_version()}: `Portfolio.from_signals`, one call per "
            f"strategy over all calls as columns, aligned per the semantics page (extra bar whose close is the "
            f"entry price; exit signal on the last bar).\n\n{table(rows)}\n\n"
            f"- vs_vectorbt (vectorbt time / ours, grid 1): **{vs_vbt:.0f}x**; max |net multiple difference| "
            f"over {CALLS * len(GRID1):,} trades: **{max_abs_diff:.2e}**\n"
            f"- vs_one_pass (the whole of grid 2, all {len(GRID2)} strategies x {CALLS:,} calls / one pass over "
            f"the candles): **{vs_one_pass:.2f}** (serial kernel: {t_grid2_serial / t_pass:.2f}); per strategy: "
            f"{per_strategy:.3f}\n"
            f"- end-to-end `simulate()` on the same data as polars frames (entry packing, kernel, "
            f"{CALLS * len(GRID1):,} SIMULATION_RESULTS rows with fills JSON): {t_e2e:.2f} s\n"
            f"- impact_vs_plain (grid 3 / grid 2 plain, same run; goal <= 3): **{impact_vs_plain:.2f}**\n"
            f"- bankroll: {book['calls']:,} calls x {book['strategies']} strategies as books: fills parsed in "
            f"{book['parse_s']:.2f} s, books run in **{portfolio_s:.2f} s** (goal < 10 s)\n")
    last = (f"vs_vectorbt={vs_vbt:.1f} max_abs_diff={max_abs_diff:.3g} vs_one_pass={vs_one_pass:.2f} "
            f"impact_vs_plain={impact_vs_plain:.2f} portfolio_s={portfolio_s:.2f}")
    write_section("simulation", "Simulation engine (bench_simulation)", body + f"\nLast line: `{last}`\n")
    print(body)
    print(f"per_strategy_vs_one_pass={per_strategy:.3f} serial_vs_one_pass={t_grid2_serial / t_pass:.2f}")
    print(last)


def _vbt_version() -> str:
    try:
        import vectorbt

        return vectorbt.__version__
    except ImportError:
        return "(not installed)"


if __name__ == "__main__":
    main()
