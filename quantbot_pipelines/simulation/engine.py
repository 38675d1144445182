"""simulate(): one trade per (call, strategy), as SIMULATION_RESULTS rows.

Entry and window: docs/semantics.md#entry-and-window, via quantbot_pipelines.backtest.call_windows
(once per distinct (entry_delay, max_entry_gap, horizon) among the strategies). Fills and costs: the
same page ("Trades"), implemented in kernels.simulate_block (serial) / simulate_block_parallel (calls over
threads). Calls are processed in chunks whose size also shrinks with the number of strategies, so the working
arrays stay bounded (about PAIR_BUDGET trades at a time) whatever the call count; `iter_simulate` yields the
chunks for callers that stream them to storage.

Fill times: a fill is stamped with the open time of the candle it happened in (a time exit or end-of-window
sale at that candle's close too); `exit_ts` is the stamp of the last fill.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from quantbot_pipelines.backtest import CallWindows, ExitReason, Intrabar, call_windows
from quantbot_pipelines.schemas import SIMULATION_RESULTS
from quantbot_pipelines.simulation import kernels as K
from quantbot_pipelines.simulation.strategy import Strategy

_REASON_CODES = [int(r) for r in ExitReason]
_REASON_LABELS = [r.label for r in ExitReason]
PARALLEL_MIN_CALLS = 64  # below this, thread start-up costs more than it saves
PARALLEL_SLICES = 8  # runs of calls per thread: evens out threads whose calls hold longer trades
# one parallel kernel at a time per process: numba's workqueue threading layer must not be entered from two
# Python threads at once; a caller that finds it busy runs the serial kernel (same results)
_PARALLEL_LOCK = threading.Lock()
PAIR_BUDGET = 1_000_000  # trades per kernel call: ~40 MB of fill arrays with 3-level ladders
_CALL_COLS = ("day", "chat_id", "message_id", "caller_id", "caller_name", "chain", "address", "call_ts", "repeat")


@dataclass(frozen=True)
class StrategyArrays:
    """Strategies as flat arrays for the kernel (nan / -1 = rule absent)."""

    sl: np.ndarray
    tr_act: np.ndarray
    tr_dist: np.ndarray
    be: np.ndarray
    time_s: np.ndarray
    policy: np.ndarray
    cost_factor: np.ndarray
    n_levels: np.ndarray
    tp_mult: np.ndarray
    tp_frac: np.ndarray

    @property
    def max_fills(self) -> int:
        return self.tp_mult.shape[1] + 1


def strategy_arrays(strategies: list[Strategy]) -> StrategyArrays:
    n = len(strategies)
    width = max([len(s.take_profit) for s in strategies] + [1])
    tp_mult = np.full((n, width), np.inf)
    tp_frac = np.zeros((n, width))
    for j, s in enumerate(strategies):
        for i, (m, f) in enumerate(s.take_profit):
            tp_mult[j, i], tp_frac[j, i] = m, f
    fee = np.array([s.fee_bps for s in strategies], float) / 1e4
    slip = np.array([s.slippage_bps for s in strategies], float) / 1e4
    nan = float("nan")
    return StrategyArrays(
        sl=np.array([nan if s.stop_loss is None else s.stop_loss for s in strategies], float),
        tr_act=np.array([nan if s.trailing_stop is None else s.trailing_stop[0] for s in strategies], float),
        tr_dist=np.array([nan if s.trailing_stop is None else s.trailing_stop[1] for s in strategies], float),
        be=np.array([nan if s.break_even is None else s.break_even for s in strategies], float),
        time_s=np.array([-1 if s.time_exit_s is None else s.time_exit_s for s in strategies], np.int64),
        policy=np.array([Intrabar[s.intrabar] for s in strategies], np.int64),
        # the page's cost formula: (1 - s)(1 - fee) / ((1 + s)(1 + fee)), the same factor for every fill
        cost_factor=(1 - slip) * (1 - fee) / ((1 + slip) * (1 + fee)),
        n_levels=np.array([len(s.take_profit) for s in strategies], np.int64),
        tp_mult=tp_mult, tp_frac=tp_frac,
    )


@dataclass(frozen=True)
class TradeArrays:
    """Kernel output for calls [lo, hi) x S strategies; pair p = (call - lo) * S + strategy."""

    exit_i: np.ndarray  # candle index of the last fill, -1 without entry
    reason: np.ndarray  # ExitReason code
    net_multiple: np.ndarray
    n_fills: np.ndarray
    fill_i: np.ndarray  # pairs x max_fills candle indices
    fill_px: np.ndarray
    fill_frac: np.ndarray
    fill_reason: np.ndarray


def run_block(paths: CallWindows, arrays: StrategyArrays, horizon_s: int, lo: int, hi: int, *,
              parallel: bool | None = None) -> TradeArrays:
    """Run the kernel for calls [lo, hi) of `paths` against every strategy of `arrays`.

    parallel: None = over numba's threads (NUMBA_NUM_THREADS, or numba.set_num_threads) when there are at
    least PARALLEL_MIN_CALLS calls and more than one thread. Output is identical either way: each
    (call, strategy) pair has its own output slots.
    """
    pairs = (hi - lo) * len(arrays.sl)
    width = arrays.max_fills
    out = TradeArrays(np.empty(pairs, np.int64), np.empty(pairs, np.int8), np.empty(pairs, np.float64),
                      np.empty(pairs, np.int8), np.empty((pairs, width), np.int64),
                      np.empty((pairs, width), np.float64), np.empty((pairs, width), np.float64),
                      np.empty((pairs, width), np.int8))
    args = (paths.ts, paths.open, paths.high, paths.low, paths.close, paths.start, paths.stop, paths.entry_price,
            lo, hi, arrays.sl, arrays.tr_act, arrays.tr_dist, arrays.be, arrays.time_s, np.int64(horizon_s),
            arrays.policy, arrays.cost_factor, arrays.n_levels, arrays.tp_mult, arrays.tp_frac, out.exit_i,
            out.reason, out.net_multiple, out.n_fills, out.fill_i, out.fill_px, out.fill_frac, out.fill_reason)
    threads = numba.get_num_threads()
    if parallel is None:
        parallel = hi - lo >= PARALLEL_MIN_CALLS and threads > 1
    if parallel and _PARALLEL_LOCK.acquire(blocking=False):
        try:
            K.simulate_block_parallel(*args, PARALLEL_SLICES * threads)
        finally:
            _PARALLEL_LOCK.release()
    else:
        K.simulate_block(*args)
    return out


def _epoch_to_ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="s").dt.replace_time_zone("UTC")


def _fills_json(paths: CallWindows, t: TradeArrays) -> pl.Series:
    """JSON list of [ts, price, fraction, reason] per trade (ts ISO-8601 UTC), built column-wise."""
    width = t.fill_i.shape[1]
    cols = {}
    for k in range(width):
        present = t.n_fills > k
        idx = np.where(present, t.fill_i[:, k], 0)
        cols[f"ts{k}"] = np.where(present, paths.ts[idx] if len(paths.ts) else 0, 0)
        cols[f"px{k}"] = np.where(present, t.fill_px[:, k], 0.0)
        cols[f"fr{k}"] = np.where(present, t.fill_frac[:, k], 0.0)
        cols[f"rs{k}"] = np.where(present, t.fill_reason[:, k], 0)
        cols[f"on{k}"] = present
    df = pl.DataFrame(cols)
    reasons = pl.Series(_REASON_LABELS)
    parts = [
        pl.when(pl.col(f"on{k}")).then(pl.concat_str([
            pl.lit('["'), pl.from_epoch(pl.col(f"ts{k}"), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            pl.lit('",'), pl.col(f"px{k}").cast(pl.String), pl.lit(","), pl.col(f"fr{k}").cast(pl.String),
            pl.lit(',"'), pl.col(f"rs{k}").replace_strict(_REASON_CODES, reasons,
                                                          return_dtype=pl.String),
            pl.lit('"]')]))
        for k in range(width)
    ]
    return df.select(
        pl.when(pl.col("on0")).then(pl.concat_str([pl.lit("["), pl.concat_str(parts, separator=",",
                                                                                  ignore_nulls=True),
                                                   pl.lit("]")])).alias("fills")
    ).to_series()


def _trades_frame(calls: pl.DataFrame, call_ids: np.ndarray, paths: CallWindows, strategies: list[Strategy],
                  strat_ids: np.ndarray, t: TradeArrays, lo: int, hi: int) -> pl.DataFrame:
    n_s = len(strat_ids)
    call_rep = np.repeat(np.arange(lo, hi), n_s)
    has_entry = t.exit_i >= 0
    exit_ts = np.where(has_entry, paths.ts[np.where(has_entry, t.exit_i, 0)] if len(paths.ts) else 0, 0)
    trades = pl.DataFrame({
        "_call": call_ids[call_rep],
        "_strat": np.tile(strat_ids, hi - lo),
        "strategy": np.tile(np.array([s.name for s in strategies], dtype=object), hi - lo).astype(str),
        "_entry_ts": paths.entry_ts[call_rep],
        "entry_price": np.where(has_entry, paths.entry_price[call_rep], np.nan),
        "_exit_ts": exit_ts,
        "_has_entry": has_entry,
        "_reason": t.reason,
        "net_multiple": t.net_multiple,
    })
    trades = trades.with_columns(
        pl.when("_has_entry").then(_epoch_to_ts("_entry_ts")).alias("entry_ts"),
        pl.when("_has_entry").then(pl.col("entry_price")).alias("entry_price"),
        pl.when("_has_entry").then(_epoch_to_ts("_exit_ts")).alias("exit_ts"),
        pl.col("_reason").replace_strict(_REASON_CODES, pl.Series(_REASON_LABELS),
                                         return_dtype=pl.String).alias("exit_reason"),
        pl.when("_has_entry").then(pl.col("net_multiple")).alias("net_multiple"),
        _fills_json(paths, t),
    ).with_columns((pl.col("net_multiple") - 1.0).alias("net_return"))
    return trades


def _prepare_calls(calls: pl.DataFrame) -> pl.DataFrame:
    out = calls
    for col in _CALL_COLS:
        if col not in out.columns:
            out = out.with_columns(pl.lit(None).alias(col))
    if "window_complete" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.Boolean).alias("window_complete"))
    return out.select(*_CALL_COLS, pl.col("window_complete").cast(pl.Boolean))


def iter_simulate(calls: pl.DataFrame, candles: pl.DataFrame, strategies: list[Strategy], *,
                  chunk_calls: int = 20000) -> Iterator[pl.DataFrame]:
    """simulate() chunk by chunk: each frame holds every strategy's trades for one slice of the calls,
    rows in (call, strategy) input order."""
    if not strategies:
        return
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError("strategy names must be unique within one simulate() call")
    calls = _prepare_calls(calls)
    if "interval" in candles.columns:
        candles = candles.filter(pl.col("interval") == "1m")
    groups: dict[tuple[int, int, int], list[int]] = {}
    for j, s in enumerate(strategies):
        groups.setdefault(s.entry_key, []).append(j)
    packed = {}
    for key, ids in groups.items():
        delay, gap, horizon = key
        packed[key] = (call_windows(calls, candles, entry_delay_s=delay, max_entry_gap_s=gap,
                                    horizon_s=horizon),
                       strategy_arrays([strategies[j] for j in ids]), np.array(ids, np.int64))
    step = max(1, min(chunk_calls, PAIR_BUDGET // len(strategies)))
    call_ids = np.arange(calls.height, dtype=np.int64)
    for lo in range(0, calls.height, step):
        hi = min(lo + step, calls.height)
        frames = []
        for key, (paths, arrays, ids) in packed.items():
            t = run_block(paths, arrays, key[2], lo, hi)
            frames.append(_trades_frame(calls, call_ids, paths, [strategies[j] for j in ids], ids, t, lo, hi))
        trades = pl.concat(frames) if len(frames) > 1 else frames[0]
        if len(frames) > 1:
            trades = trades.sort("_call", "_strat")
        meta = calls.slice(lo, hi - lo).with_row_index("_call", offset=lo).with_columns(
            pl.col("_call").cast(pl.Int64))
        trades = trades.join(meta, on="_call", how="left", maintain_order="left")
        yield trades.with_columns(pl.lit(None, dtype=pl.String).alias("strategy_file")).select(
            SIMULATION_RESULTS.columns)


def simulate(calls: pl.DataFrame, candles: pl.DataFrame, strategies: list[Strategy], *,
             chunk_calls: int = 20000) -> pl.DataFrame:
    """One row per (call, strategy) with SIMULATION_RESULTS columns (strategy_file null: the asset sets it).

    calls: TELEGRAM_CALLS rows, optionally with `window_complete`; candles: RAW_CANDLES 1m rows. Calls without
    an entry get exit_reason no_entry and null entry, fills and multiple. Deterministic; rows ordered by call
    (input order) then strategy (input order).
    """
    frames = list(iter_simulate(calls, candles, strategies, chunk_calls=chunk_calls))
    if not frames:
        return pl.from_arrow(SIMULATION_RESULTS.empty()).with_columns(
            pl.col("call_ts", "entry_ts", "exit_ts").cast(pl.Datetime("us", "UTC")))
    return pl.concat(frames, how="vertical_relaxed")
