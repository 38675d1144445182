"""Price paths after each call: the entry rule and the candle window, packed for fast kernels.

Entry and window follow ../shared/reference/backtest-semantics.md ("Entry"):
- entry_ts = open time of the first candle with open_ts >= call_ts + entry_delay (the candle in progress at
  the call is never used: its open is before the call, using it would look ahead);
- entry_price = that candle's open; no candle within max_entry_gap after call_ts + entry_delay: `no_entry`;
  no candle of the token at all: `no_candles`;
- window = [entry_ts, entry_ts + horizon).

Candles are sorted by (token, open_ts) into flat numpy arrays; each call gets [start, stop) offsets into
them (CSR layout), so analytics and the simulator run over plain arrays with no per-call DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

STATUS_OK, STATUS_NO_ENTRY, STATUS_NO_CANDLES = "ok", "no_entry", "no_candles"
DEFAULT_HORIZON_S = 48 * 3600
DEFAULT_MAX_ENTRY_GAP_S = 15 * 60


@dataclass(frozen=True)
class Paths:
    """Sorted candle arrays plus, per call (in the order of the calls given), its window offsets."""

    ts: np.ndarray  # int64 epoch seconds, candle open times
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    start: np.ndarray  # int64 per call: index of the entry candle (== stop when there is no entry)
    stop: np.ndarray  # int64 per call: first index past the window
    entry_ts: np.ndarray  # int64 per call, -1 without entry
    entry_price: np.ndarray  # float64 per call, nan without entry
    status: np.ndarray  # object per call: ok, no_entry, no_candles

    @property
    def n_calls(self) -> int:
        return len(self.start)



def _as_seconds(df: pl.DataFrame, name: str) -> np.ndarray:
    s = df.get_column(name)
    if s.dtype.is_temporal():
        s = s.dt.epoch("s")
    return s.cast(pl.Int64).to_numpy()


def pack_paths(
    calls: pl.DataFrame,
    candles: pl.DataFrame,
    *,
    entry_delay_s: int = 0,
    max_entry_gap_s: int = DEFAULT_MAX_ENTRY_GAP_S,
    horizon_s: int = DEFAULT_HORIZON_S,
) -> Paths:
    """Pack `candles` (one interval; chain, address, open_ts, open, high, low, close) and find each call's
    entry and window. `calls` needs chain, address, call_ts. Duplicate candles (same token and open_ts)
    keep the first."""
    tokens = calls.select("chain", "address").vstack(candles.select("chain", "address")).unique(
        maintain_order=True).with_row_index("tid")
    c = (candles.select("chain", "address", "open_ts", "open", "high", "low", "close")
         .join(tokens, on=["chain", "address"], how="left")
         .with_columns(pl.col("open_ts").dt.epoch("s") if candles.schema["open_ts"].is_temporal()
                       else pl.col("open_ts").cast(pl.Int64))
         .sort("tid", "open_ts")
         .unique(subset=["tid", "open_ts"], keep="first", maintain_order=True))
    ts = c.get_column("open_ts").to_numpy().astype(np.int64)
    key = (c.get_column("tid").to_numpy().astype(np.int64) << 32) | ts
    call_tid = (calls.select("chain", "address").join(tokens, on=["chain", "address"], how="left",
                                                      maintain_order="left")
                .get_column("tid").to_numpy().astype(np.int64))
    call_ts = _as_seconds(calls, "call_ts")
    want = call_ts + entry_delay_s
    idx = np.searchsorted(key, (call_tid << 32) | want, side="left")
    n = len(ts)
    safe = np.minimum(idx, max(n - 1, 0))
    same_token = (idx < n) & ((key[safe] >> 32) == call_tid) if n else np.zeros(len(idx), bool)
    has_any = np.isin(call_tid, np.unique(key >> 32)) if n else np.zeros(len(idx), bool)
    ok = same_token & (ts[safe] - want <= max_entry_gap_s) if n else same_token
    entry_ts = np.where(ok, ts[safe] if n else -1, -1).astype(np.int64)
    stop = np.searchsorted(key, (call_tid << 32) | (entry_ts + horizon_s), side="left")
    start = np.where(ok, idx, 0).astype(np.int64)
    stop = np.where(ok, stop, 0).astype(np.int64)
    o = c.get_column("open").to_numpy().astype(np.float64)
    entry_price = np.where(ok, o[safe] if n else np.nan, np.nan)
    status = np.where(ok, STATUS_OK, np.where(has_any, STATUS_NO_ENTRY, STATUS_NO_CANDLES)).astype(object)
    return Paths(
        ts=ts, open=o,
        high=c.get_column("high").to_numpy().astype(np.float64),
        low=c.get_column("low").to_numpy().astype(np.float64),
        close=c.get_column("close").to_numpy().astype(np.float64),
        start=start, stop=stop, entry_ts=entry_ts, entry_price=entry_price, status=status,
    )
