"""Candle rollups against chDB, and per-call analytics against one plain pass.

    python -m benchmarks.bench_analytics

Scale by env: BENCH_ANALYTICS_ROWS (1m candles to roll up, default 50,000,000), BENCH_ANALYTICS_CALLS
(default 100,000), BENCH_ANALYTICS_WINDOW (candles per call window, default 2,880), BENCH_ANALYTICS_REPEAT
(best of N timings, default 2). BENCH_ANALYTICS_SKIP_ROLLUP=1 runs only part 2 and carries the rollup figures
(table, agg_vs_chdb, their run stamp) over from the existing section of docs/benchmarks.md, labelled as such.

1. Rollup: the same synthetic 1m candles (sorted by token and time, ~20% of minutes without trades) go to
   aggregate_candles and, inserted first (not timed), to a chDB MergeTree table ordered by (chain, address,
   open_ts); the five GROUP BY queries are timed with their results materialised as Arrow tables.
2. Analytics: calls x window candles (each call its own token, a few candles before the call) in chunks of
   5,000 calls to keep memory modest. Timed: token_analytics end to end (from the DataFrames to the output
   DataFrame), its steps (call_windows: entry rule + windows; path_metrics: the numba kernel) and
   call_windows plus open times in seconds (what the simulator uses), against one numpy pass (sum of open,
   high, low, close) over the same candle arrays. All best of N per chunk, summed over chunks.
Last two lines: `kernel_vs_one_pass=<path_metrics time / one-pass time>`, then
`agg_vs_chdb=<our time / chDB time> analytics_vs_one_pass=<token_analytics end to end / one-pass time>`.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
import resource
import shutil
import tempfile
import time

import numpy as np
import polars as pl

from benchmarks._report import DOC, table, write_section
from quantbot_pipelines.analytics import aggregate_candles, path_metrics, token_analytics
from quantbot_pipelines.backtest import call_windows

ROWS = int(os.environ.get("BENCH_ANALYTICS_ROWS", "50000000"))
CALLS = int(os.environ.get("BENCH_ANALYTICS_CALLS", "100000"))
WINDOW = int(os.environ.get("BENCH_ANALYTICS_WINDOW", "2880"))
REPEAT = int(os.environ.get("BENCH_ANALYTICS_REPEAT", "2"))
SKIP_ROLLUP = os.environ.get("BENCH_ANALYTICS_SKIP_ROLLUP", "") not in ("", "0")
INTERVALS = {"5m": "5 MINUTE", "15m": "15 MINUTE", "1h": "1 HOUR", "4h": "4 HOUR", "1d": "1 DAY"}
T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
PRE = 10  # candles before each call in the analytics part
CHUNK = 5_000


def _addresses(n: int, seed: int) -> pl.Series:
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", np.uint8)
    chars = alphabet[rng.integers(0, len(alphabet), (n, 44))]
    return pl.Series("address", [bytes(r).decode() for r in chars])


def _ohlc(
    n: int, rng: np.random.Generator, out: dict[str, np.ndarray] | None = None, at: int = 0
) -> dict[str, np.ndarray]:
    """A random walk per row; written into `out` at offset `at` when given (keeps temporaries small)."""
    logp = np.cumsum(rng.normal(0, 0.01, n))
    o = np.exp(logp) * 1e-3
    c = o * np.exp(rng.normal(0, 0.01, n))
    cols = {
        "open": o,
        "close": c,
        "high": np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.01, n))),
        "low": np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.005, n))),
        "volume_usd": rng.exponential(500.0, n),
    }
    if out is None:
        return cols
    for k, v in cols.items():
        out[k][at : at + n] = v
    return out


def raw_candles(rows: int, seed: int = 7) -> pl.DataFrame:
    """~rows 1m candles over tokens of 3,000 minutes each (call day 2026-01-01), sorted by token and time."""
    rng = np.random.default_rng(seed)
    minutes = 3_000
    tokens = max(1, int(rows / (minutes * 0.8)))
    starts = T0 + rng.integers(0, 1440, tokens) * 60
    parts = []
    for lo_t in range(0, tokens, 2_000):
        hi_t = min(tokens, lo_t + 2_000)
        keep = rng.random((hi_t - lo_t) * minutes) < 0.8  # minutes without trades leave gaps
        parts.append(np.flatnonzero(keep).astype(np.int64) + lo_t * minutes)
    cell = np.concatenate(parts)[:rows]  # token * minutes + minute
    del parts
    tok = cell // minutes
    ts = (starts[tok] + (cell % minutes) * 60) * 1000
    del cell
    n = len(ts)
    cols = {k: np.empty(n) for k in ("open", "high", "low", "close", "volume_usd")}
    for at in range(0, n, 5_000_000):
        _ohlc(min(5_000_000, n - at), rng, cols, at)
    addr = _addresses(tokens, seed)[tok]
    del tok
    return pl.DataFrame(
        {
            "day": pl.Series("day", [dt.date(2026, 1, 1)]).new_from_index(0, n),
            "chain": pl.Series("chain", ["solana"]).new_from_index(0, n),
            "address": addr,
            "open_ts": pl.Series("open_ts", ts).cast(pl.Datetime("ms", "UTC")),
            **cols,
        }
    )


def best(fn, *args, repeat: int = REPEAT, **kwargs) -> tuple[float, object]:
    out, t_best = None, float("inf")
    for _ in range(repeat):
        out = None
        gc.collect()
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        t_best = min(t_best, time.perf_counter() - t)
    return t_best, out


def bench_rollup() -> tuple[list[dict], float, float]:
    """Ours first, then the polars frame is dropped before chDB loads the same rows from Parquet: the peak
    is the larger of the two engines, not their sum."""
    import chdb.session

    folder = tempfile.mkdtemp(prefix="bench_analytics_", dir="/tmp")
    try:
        raw = raw_candles(ROWS)
        parquet = os.path.join(folder, "raw.parquet")
        raw.write_parquet(parquet, row_group_size=1_000_000)  # not timed
        aggregate_candles(raw.head(10_000), "5m")  # compile / load the numba cache outside the timing
        ours: dict[str, tuple[float, int]] = {}
        for iv in INTERVALS:
            t, out = best(aggregate_candles, raw, iv)
            ours[iv] = (t, out.height)
            del out
        del raw
        gc.collect()
        sess = chdb.session.Session(os.path.join(folder, "chdb"))
        try:
            sess.query(
                "CREATE TABLE c (day Date, chain LowCardinality(String), address String, "
                "open_ts DateTime('UTC'), open Float64, high Float64, low Float64, close Float64, "
                "volume_usd Float64) ENGINE = MergeTree ORDER BY (chain, address, open_ts)"
            )
            sess.query(
                f"INSERT INTO c SELECT day, chain, address, open_ts, open, high, low, close, volume_usd "
                f"FROM file('{parquet}', Parquet)"
            )  # not timed
            sess.query("OPTIMIZE TABLE c FINAL")
            rows, ours_total, ch_total = [], 0.0, 0.0
            for iv, ch_iv in INTERVALS.items():
                sql = (
                    f"SELECT day, chain, address, toStartOfInterval(open_ts, INTERVAL {ch_iv}) AS open_ts, "
                    "argMin(open, c.open_ts) AS open, max(high) AS high, min(low) AS low, "
                    "argMax(close, c.open_ts) AS close, sum(volume_usd) AS volume_usd "
                    "FROM c GROUP BY day, chain, address, open_ts"
                )
                t_ch, res = best(sess.query, sql, "ArrowTable")
                n_ch = res.num_rows
                del res
                t_ours, n_ours = ours[iv]
                ours_total += t_ours
                ch_total += t_ch
                rows.append(
                    {
                        "interval": iv,
                        "output rows (ours)": f"{n_ours:,}",
                        "output rows (chDB)": f"{n_ch:,}",
                        "aggregate_candles s": f"{t_ours:.3f}",
                        "chDB GROUP BY s": f"{t_ch:.3f}",
                        "ratio": f"{t_ours / t_ch:.2f}",
                    }
                )
                print(rows[-1], flush=True)
        finally:
            sess.close()
        rows.append(
            {
                "interval": "total",
                "output rows (ours)": "",
                "output rows (chDB)": "",
                "aggregate_candles s": f"{ours_total:.3f}",
                "chDB GROUP BY s": f"{ch_total:.3f}",
                "ratio": f"{ours_total / ch_total:.2f}",
            }
        )
        return rows, ours_total, ch_total
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        gc.collect()


def analytics_chunk(n_calls: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """n_calls calls on distinct tokens; each token has PRE candles before its call and WINDOW after."""
    rng = np.random.default_rng(seed)
    per = PRE + WINDOW
    starts = T0 + rng.integers(0, 1440, n_calls) * 60
    tok = np.repeat(np.arange(n_calls), per)
    ts = starts[tok] + np.tile(np.arange(per, dtype=np.int64) * 60, n_calls)
    addr = _addresses(n_calls, seed)
    candles = pl.DataFrame(
        {
            "chain": pl.Series("chain", ["solana"]).new_from_index(0, len(ts)),
            "address": addr[tok],
            "interval": pl.Series("interval", ["1m"]).new_from_index(0, len(ts)),
            "open_ts": pl.Series("open_ts", ts * 1000).cast(pl.Datetime("ms", "UTC")),
            **{k: v for k, v in _ohlc(len(ts), rng).items() if k != "volume_usd"},
        }
    )
    call_ts = starts + PRE * 60 - 30  # 30 s into the candle before the entry candle
    calls = pl.DataFrame(
        {
            "day": pl.Series(np.full(n_calls, T0 // 86400, np.int32)).cast(pl.Date),
            "chat_id": "bench",
            "message_id": np.arange(n_calls, dtype=np.int64) + seed * CHUNK,
            "caller_id": pl.Series([f"user{i % 500}" for i in range(n_calls)]),
            "chain": "solana",
            "address": addr,
            "call_ts": pl.Series(call_ts * 1000).cast(pl.Datetime("ms", "UTC")),
        }
    )
    return calls, candles


def windows_in_seconds(calls: pl.DataFrame, candles: pl.DataFrame) -> np.ndarray:
    return call_windows(calls, candles).ts


def one_pass(paths) -> float:
    return float(paths.open.sum() + paths.high.sum() + paths.low.sum() + paths.close.sum())


def bench_analytics() -> tuple[list[dict], float, float, float]:
    t_e2e = t_windows = t_seconds = t_kernel = t_pass = 0.0
    visited = 0
    small_calls, small_candles = analytics_chunk(10, 999)
    token_analytics(small_calls, small_candles)  # compile outside the timing
    windows_in_seconds(small_calls, small_candles)
    for k, lo in enumerate(range(0, CALLS, CHUNK)):
        calls, candles = analytics_chunk(min(CHUNK, CALLS - lo), k)
        t, out = best(token_analytics, calls, candles, now=T0 + 10 * 86400)
        t_e2e += t
        assert (out.get_column("candles") == WINDOW).all(), "every call should see a full window"
        del out
        t, _ = best(windows_in_seconds, calls, candles)
        t_seconds += t
        t, packed = best(call_windows, calls, candles)
        t_windows += t
        del candles
        visited += int((packed.stop - packed.start).sum())
        t, _ = best(path_metrics, packed)
        t_kernel += t
        t, _ = best(one_pass, packed)
        t_pass += t
        del packed, calls
        gc.collect()

    def row(step: str, t: float) -> dict:
        return {"step": step, "s": f"{t:.3f}", "vs one pass": f"{t / t_pass:.2f}"}

    rows = [
        row("**token_analytics end to end (DataFrames in, DataFrame out)**", t_e2e),
        row("of which call_windows (entry rule + CSR windows over the frame's own arrays)", t_windows),
        row("of which path_metrics kernel (numba, one pass per window)", t_kernel),
        row("call_windows for the simulator (plus open times in seconds)", t_seconds),
        row("one plain pass: numpy sum of open, high, low, close", t_pass),
    ]
    print(f"calls={CALLS:,} window={WINDOW:,} candles visited={visited:,}", flush=True)
    for r in rows:
        print(r, flush=True)
    return rows, t_e2e, t_kernel, t_pass


_ROLLUP_TABLE = re.compile(r"(Rollup of .*?\n\n\|.*?)\n\n", re.DOTALL)


def carried_rollup() -> tuple[str, float]:
    """The rollup paragraph and table of the last full run in docs/benchmarks.md, and its agg_vs_chdb."""
    text = DOC.read_text() if DOC.exists() else ""
    sec = re.search(r"<!-- bench:analytics -->(.*?)<!-- /bench:analytics -->", text, re.DOTALL)
    body = sec.group(1) if sec else ""
    stamp = re.search(r"carried over from the run of (.*?)\.\n", body) or re.search(r"Run (.*?) on ", body)
    table_m = _ROLLUP_TABLE.search(body)
    ratio = re.search(r"agg_vs_chdb=([0-9.]+)", body)
    if not (stamp and table_m and ratio):
        raise SystemExit("BENCH_ANALYTICS_SKIP_ROLLUP: no earlier rollup figures in docs/benchmarks.md")
    note = f"Rollup not re-run in this run: figures carried over from the run of {stamp.group(1)}.\n\n"
    return note + table_m.group(1), float(ratio.group(1))


def main() -> None:
    if SKIP_ROLLUP:
        rollup_text, agg_ratio = carried_rollup()
    else:
        rollup_rows, ours, ch = bench_rollup()
        agg_ratio = ours / ch
        rollup_text = (
            f"Rollup of {ROWS:,} one-minute candles (day, chain, address, open_ts, OHLCV; sorted by token and "
            f"time, ~20% of minutes missing) to five intervals, best of {REPEAT}. chDB: MergeTree ordered by "
            "(chain, address, open_ts), inserted before timing, results materialised as Arrow.\n\n"
            + table(rollup_rows)
        )
    analytics_rows, e2e, kernel, one = bench_analytics()
    body = (
        rollup_text
        + f"\n\nAnalytics: {CALLS:,} calls x {WINDOW:,} one-minute candles (one token per call, candles sorted "
        f"by token and time as the warehouse stores them), in chunks of {CHUNK:,} calls; every step best of "
        f"{REPEAT} per chunk, summed.\n\n"
        + table(analytics_rows)
        + f"\n\nKernel alone: `kernel_vs_one_pass={kernel / one:.2f}`.\n\n"
        f"`agg_vs_chdb={agg_ratio:.2f} analytics_vs_one_pass={e2e / one:.2f}` (analytics_vs_one_pass: the whole "
        "token_analytics, DataFrames in to DataFrame out, vs one numpy pass over the same candle arrays)\n"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    body += f"\nPeak resident memory of the run: {peak:.1f} GiB.\n"
    full = (SKIP_ROLLUP or ROWS == 50_000_000) and (CALLS, WINDOW) == (100_000, 2_880)
    if full or os.environ.get("BENCH_ANALYTICS_WRITE"):
        write_section("analytics", "Aggregation and token analytics", body)
    else:
        print(f"(scaled-down run: docs/benchmarks.md left alone; peak {peak:.1f} GiB)")
    print(f"kernel_vs_one_pass={kernel / one:.2f}")
    print(f"agg_vs_chdb={agg_ratio:.2f} analytics_vs_one_pass={e2e / one:.2f}")


if __name__ == "__main__":
    main()
