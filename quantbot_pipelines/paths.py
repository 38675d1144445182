"""Price paths after each call: the entry rule and the candle window, packed for fast kernels.

Entry and window follow ../shared/reference/backtest-semantics.md ("Entry"):
- entry_ts = open time of the first candle with open_ts >= call_ts + entry_delay (the candle in progress at
  the call is never used: its open is before the call, using it would look ahead);
- entry_price = that candle's open; no candle within max_entry_gap after call_ts + entry_delay: `no_entry`
  (the gap counts from the delayed entry time, so a delay longer than the gap still can enter);
  no candle of the token at all: `no_candles`;
- window = [entry_ts, entry_ts + horizon).

Candles are sorted by (token, open_ts) into flat numpy arrays; each call gets [start, stop) offsets into
them (CSR layout), so analytics and the simulator run over plain arrays with no per-call DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit, types
from numba.typed import List

STATUS_OK, STATUS_NO_ENTRY, STATUS_NO_CANDLES = "ok", "no_entry", "no_candles"
DEFAULT_HORIZON_S = 48 * 3600
DEFAULT_MAX_ENTRY_GAP_S = 15 * 60
_SHIFT = np.int64(1) << np.int64(
    33
)  # token id * 2^33 + epoch seconds: one sortable int64 key up to year 2242


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
    last_ts: np.ndarray | None = field(
        default=None
    )  # int64 per call: open of the token's last candle, -1 if none

    @property
    def n_calls(self) -> int:
        return len(self.start)


_PER_S = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def epoch_seconds(s: pl.Series) -> np.ndarray:
    """Epoch seconds (floored) of a Datetime (any unit) or integer column, as int64."""
    if isinstance(s.dtype, pl.Datetime):
        return s.to_physical().to_numpy() // _PER_S[s.dtype.time_unit]
    if s.dtype.is_temporal():
        s = s.dt.epoch("s")
    return s.cast(pl.Int64).to_numpy()


_as_seconds = epoch_seconds  # old private name


@njit(cache=True, nogil=True)
def _sort_keys(tid, ts, shift):
    """One pass: key = tid * shift + seconds, and whether keys strictly increase."""
    n = ts.shape[0]
    key = np.empty(n, np.int64)
    ok = True
    prev = np.int64(-1) << np.int64(62)
    for i in range(n):
        k = tid[i] * shift + ts[i]
        key[i] = k
        ok &= k > prev
        prev = k
    return key, ok


_RO_BYTES = types.Array(types.uint8, 1, "C", readonly=True)
_NO_BYTES = np.frombuffer(b"\0", np.uint8)


@njit(cache=True, nogil=True)
def _view_breaks(views, buffers, brk):
    """brk[i] |= string i != string i - 1, for Arrow string views as two uint64 words (length and 4 bytes
    prefix or inline data | 8 more inline bytes, or buffer index and offset). Equal views are equal strings;
    a long string at another place is compared byte by byte."""
    n = views.shape[0] // 2
    for i in range(1, n):
        w0 = views[2 * i]
        w1 = views[2 * i + 1]
        p0 = views[2 * i - 2]
        p1 = views[2 * i - 1]
        if w0 == p0 and w1 == p1:
            continue
        length = w0 & 0xFFFFFFFF
        if w0 != p0 or length <= 12:
            brk[i] = True
            continue
        x, y = buffers[w1 & 0xFFFFFFFF], buffers[p1 & 0xFFFFFFFF]
        xo, yo = w1 >> 32, p1 >> 32
        for j in range(length):
            if x[xo + j] != y[yo + j]:
                brk[i] = True
                break


@njit(cache=True, nogil=True)
def _run_ids(brk):
    out = np.empty(brk.shape[0], np.int64)
    r = -1
    for i in range(brk.shape[0]):
        r += brk[i]
        out[i] = r
    return out


def _string_breaks(s: pl.Series, brk: np.ndarray) -> bool:
    """Mark where a non-null String column changes, straight from its Arrow views; False if not possible."""
    if s.dtype != pl.String or s.null_count():
        return False
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string_view():
        return False
    bufs = arr.buffers()
    views = np.frombuffer(bufs[1], np.uint64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
    data = List.empty_list(_RO_BYTES)
    for b in bufs[2:]:
        data.append(np.frombuffer(b, np.uint8) if b is not None and b.size else _NO_BYTES)
    if len(data) == 0:
        data.append(_NO_BYTES)
    _view_breaks(views, data, brk)
    return True


def token_breaks(df: pl.DataFrame, keys: list[str]) -> tuple[np.ndarray, pl.DataFrame, bool]:
    """Where `keys` change from the previous row: (bool per row, one row of keys per run,
    every key is one run).

    Each row is compared with the previous one (no hashing; strings straight from their Arrow views); only
    the run heads are hashed to tell whether a token comes back later (then the caller must sort)."""
    n = df.height
    brk = np.zeros(n, np.bool_)
    if n == 0:
        return brk, df.select(keys), True
    brk[0] = True
    for k in keys:
        if not _string_breaks(df.get_column(k), brk):
            rid = df.get_column(k).rle_id().to_numpy()
            if rid[-1] > 0:
                brk[1:] |= rid[1:] != rid[:-1]
    heads = df.select(keys).filter(pl.Series(brk))
    return brk, heads, heads.n_unique() == heads.height


def token_runs(df: pl.DataFrame, keys: list[str]) -> tuple[np.ndarray, pl.DataFrame, bool]:
    """Runs of equal `keys` in row order: (run id per row, one row of keys per run, every key is one run)."""
    brk, heads, contiguous = token_breaks(df, keys)
    return _run_ids(brk), heads, contiguous


def pack_paths(
    calls: pl.DataFrame,
    candles: pl.DataFrame,
    entry_delay_s: int = 0,
    max_entry_gap_s: int = DEFAULT_MAX_ENTRY_GAP_S,
    horizon_s: int = DEFAULT_HORIZON_S,
) -> Paths:
    """Pack `candles` (one interval; chain, address, open_ts, open, high, low, close) and find each call's
    entry and window. `calls` needs chain, address, call_ts. Duplicate candles (same token and open_ts)
    keep the first in input order. Input sorted by (token, open_ts) skips the sort."""
    keys = ["chain", "address"]
    c = candles.select(*keys, "open_ts", "open", "high", "low", "close")
    run_id, heads, contiguous = token_runs(c, keys)
    if contiguous:
        tid = run_id
        tokens = heads.with_row_index("tid")
    else:  # a token comes back later: number tokens by first appearance, then sort below
        tokens = heads.unique(maintain_order=True).with_row_index("tid")
        tid = (
            c.select(keys)
            .join(tokens, on=keys, how="left", maintain_order="left")
            .get_column("tid")
            .to_numpy()
            .astype(np.int64, copy=False)
        )
    ts = epoch_seconds(c.get_column("open_ts"))
    key, in_order = _sort_keys(tid.astype(np.int64, copy=False), ts, _SHIFT)
    order = None
    if not in_order:
        order = np.argsort(key, kind="stable")  # stable: duplicates keep input order
        key = key[order]
        keep = np.ones(len(key), bool)
        keep[1:] = key[1:] != key[:-1]
        if not keep.all():
            order, key = order[keep], key[keep]
        ts = key % _SHIFT

    def col(name: str) -> np.ndarray:
        a = c.get_column(name).to_numpy()
        return np.ascontiguousarray((a if order is None else a[order]), dtype=np.float64)

    o = col("open")
    call_tid = (
        calls.select(keys)
        .join(tokens, on=keys, how="left", maintain_order="left")
        .get_column("tid")
        .fill_null(-1)
        .to_numpy()
        .astype(np.int64, copy=False)
    )
    has_any = call_tid >= 0
    want = np.clip(epoch_seconds(calls.get_column("call_ts")) + entry_delay_s, 0, _SHIFT - 1)
    base = np.where(has_any, call_tid, 0) * _SHIFT
    idx = np.searchsorted(key, base + want, side="left")
    n = len(ts)
    safe = np.minimum(idx, max(n - 1, 0))
    ok = np.zeros(len(idx), bool)
    last_ts = np.full(len(idx), -1, np.int64)
    if n:
        ok = has_any & (idx < n) & (key[safe] // _SHIFT == call_tid) & (ts[safe] - want <= max_entry_gap_s)
        last_i = np.searchsorted(key, base + _SHIFT, side="left") - 1
        last_ts = np.where(has_any, ts[np.maximum(last_i, 0)], -1)
    entry_ts = np.where(ok, ts[safe] if n else -1, -1).astype(np.int64)
    stop = np.searchsorted(key, base + np.clip(entry_ts + horizon_s, 0, _SHIFT - 1), side="left")
    start = np.where(ok, idx, 0).astype(np.int64)
    stop = np.where(ok, stop, 0).astype(np.int64)
    entry_price = np.where(ok, o[safe] if n else np.nan, np.nan)
    status = np.where(ok, STATUS_OK, np.where(has_any, STATUS_NO_ENTRY, STATUS_NO_CANDLES)).astype(object)
    return Paths(
        ts=np.ascontiguousarray(ts, dtype=np.int64),
        open=o,
        high=col("high"),
        low=col("low"),
        close=col("close"),
        start=start,
        stop=stop,
        entry_ts=entry_ts,
        entry_price=entry_price,
        status=status,
        last_ts=last_ts,
    )
