"""Each call's entry and candle window: the entry rule, docs/semantics.md#entry-and-window.

- entry_ts = open time of the first candle with open_ts >= call_ts + entry_delay (the candle in progress at
  the call is never used: its open is before the call, using it would look ahead);
- entry_price = that candle's open; no candle within max_entry_gap after call_ts + entry_delay: `no_entry`
  (the gap counts from the delayed entry time, so a delay longer than the gap still can enter);
  no candle of the token at all: `no_candles`;
- window = [entry_ts, entry_ts + horizon).

`call_windows` lays the candles out sorted by (token, open_ts) in flat arrays and gives each call
[start, stop) offsets into them (CSR layout), so analytics and the simulator run over plain arrays with no
per-call DataFrames. Candles the warehouse already stores sorted (each token one run, times strictly rising)
are used in place: one scan finds the token runs and checks the order (nb.scan_runs), then a binary search
per call inside its token's run (_sorted_windows). Anything else takes the sorting path (_sorting_windows);
both give the same windows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit
from numba.typed import List

from quantbot_pipelines.backtest.enums import EntryStatus
from quantbot_pipelines.backtest.nb import (
    NO_BYTES,
    NO_VIEWS,
    lower_bound,
    scan_runs,
    sort_keys,
    string_views,
    to_seconds,
    token_runs,
)

DEFAULT_HORIZON_S = 48 * 3600
DEFAULT_MAX_ENTRY_GAP_S = 15 * 60
_KEYS = ["chain", "address"]
_SHIFT = np.int64(1) << np.int64(
    33
)  # token id * 2^33 + epoch seconds: one sortable int64 key up to year 2242
_PER_S = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@dataclass(frozen=True)
class CallWindows:
    """Candles sorted by (token, open time) and, per call (in the order of the calls given), its entry and
    window [start, stop) into them.

    Open times stay in their stored unit (`ts_raw`, `per` units a second): analytics needs seconds at a few
    indices only (`seconds`), the simulator at every candle (`ts`, converted once on first use)."""

    ts_raw: np.ndarray  # int64 candle open times, ascending within each token (>= 0 when per > 1)
    per: int  # ts_raw units per second: seconds = ts_raw // per
    open: np.ndarray  # float64 per candle
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    start: np.ndarray  # int64 per call: index of the entry candle (0 without entry)
    stop: np.ndarray  # int64 per call: first index past the window (0 without entry)
    entry_ts: np.ndarray  # int64 per call: epoch seconds, -1 without entry
    entry_price: np.ndarray  # float64 per call, nan without entry
    ok: np.ndarray  # bool per call: has an entry
    has_any: np.ndarray  # bool per call: the token has candles
    last_ts: np.ndarray  # int64 per call: open (epoch seconds) of the token's last candle, -1 if none
    volume: np.ndarray | None = None  # float64 USD per candle (nan: not reported); None: no volume column

    @property
    def n_calls(self) -> int:
        return len(self.start)

    @functools.cached_property
    def ts(self) -> np.ndarray:
        """Open times of every candle in epoch seconds (int64)."""
        ts = self.ts_raw if self.per == 1 else to_seconds(self.ts_raw, np.int64(self.per))
        return np.ascontiguousarray(ts, dtype=np.int64)

    def seconds(self, idx: np.ndarray) -> np.ndarray:
        """Open times (epoch seconds) of the candles at `idx`."""
        t = self.ts_raw[idx]
        return t if self.per == 1 else t // self.per

    @property
    def status(self) -> np.ndarray:
        """EntryStatus value per call, as an object array of str."""
        return np.where(
            self.ok,
            EntryStatus.ok.value,
            np.where(self.has_any, EntryStatus.no_entry.value, EntryStatus.no_candles.value),
        ).astype(object)


def epoch_seconds(s: pl.Series) -> np.ndarray:
    """Epoch seconds (floored) of a Datetime (any unit) or integer column, as int64."""
    if isinstance(s.dtype, pl.Datetime):
        return s.to_physical().to_numpy() // _PER_S[s.dtype.time_unit]
    if s.dtype.is_temporal():
        s = s.dt.epoch("s")
    return s.cast(pl.Int64).to_numpy()


def call_windows(
    calls: pl.DataFrame,
    candles: pl.DataFrame,
    *,
    entry_delay_s: int = 0,
    max_entry_gap_s: int = DEFAULT_MAX_ENTRY_GAP_S,
    horizon_s: int = DEFAULT_HORIZON_S,
) -> CallWindows:
    """Each call's entry and window over `candles` (one interval; chain, address, open_ts, open, high, low,
    close; volume_usd when present, for volume caps). `calls` needs chain, address, call_ts. Duplicate candles
    (same token and open second) keep the first in input order. Candles sorted by (token, open_ts) skip the
    sort."""
    volume = ["volume_usd"] if "volume_usd" in candles.columns else []
    c = candles.select(*_KEYS, "open_ts", "open", "high", "low", "close", *volume)
    w = _sorted_windows(calls, c, _KEYS, entry_delay_s, max_entry_gap_s, horizon_s)
    if w is None:
        w = _sorting_windows(calls, c, _KEYS, entry_delay_s, max_entry_gap_s, horizon_s)
    return w


def _raw_times(s: pl.Series) -> tuple[np.ndarray, int]:
    """Open times as int64 in their stored unit, and units per second (seconds = raw // per)."""
    if isinstance(s.dtype, pl.Datetime):
        return s.to_physical().to_numpy().astype(np.int64, copy=False), _PER_S[s.dtype.time_unit]
    return epoch_seconds(s).astype(np.int64, copy=False), 1


def _call_token_ids(calls: pl.DataFrame, keys: list[str], tokens: pl.DataFrame) -> np.ndarray:
    """Each call's token id (row of `tokens`, which carries `tid`), -1 for a token without candles and for an
    address that is a pair (pool) nothing resolved: a pool's address never stands for its token's candles."""
    tid = calls.select(keys).join(tokens, on=keys, how="left", maintain_order="left").get_column("tid")
    if "address_kind" in calls.columns:
        tid = pl.select(pl.when(calls.get_column("address_kind").ne_missing("pair")).then(tid)).to_series()
    return tid.fill_null(-1).to_numpy().astype(np.int64, copy=False)


def _wanted_entry(calls: pl.DataFrame, entry_delay_s: int) -> np.ndarray:
    """Earliest allowed entry per call (call + delay, epoch seconds), clipped into the sort key's range."""
    return np.clip(epoch_seconds(calls.get_column("call_ts")) + entry_delay_s, 0, _SHIFT - 1)


@njit(cache=True, nogil=True)
def _entry_windows(ts, per, heads, ends, call_tid, want, gap, horizon, cap):
    """Per call, within its token's rows [heads[t], ends[t]): entry index (first candle whose second is >=
    want), window stop (first candle at or past entry + horizon), entry and last candle seconds."""
    m = call_tid.shape[0]
    start = np.zeros(m, np.int64)
    stop = np.zeros(m, np.int64)
    entry_ts = np.full(m, -1, np.int64)
    last_ts = np.full(m, -1, np.int64)
    ok = np.zeros(m, np.bool_)
    for k in range(m):
        t = call_tid[k]
        if t < 0:
            continue
        s0 = heads[t]
        e0 = ends[t]
        last_ts[k] = ts[e0 - 1] // per
        w = want[k]
        i = lower_bound(ts, s0, e0, w * per)
        if i >= e0:
            continue
        sec = ts[i] // per
        if sec - w > gap:
            continue
        ok[k] = True
        entry_ts[k] = sec
        start[k] = i
        end = min(max(sec + horizon, 0), cap)
        stop[k] = lower_bound(ts, s0, e0, end * per)
    return start, stop, entry_ts, last_ts, ok


def _sorted_windows(
    calls: pl.DataFrame,
    c: pl.DataFrame,
    keys: list[str],
    entry_delay_s: int,
    max_entry_gap_s: int,
    horizon_s: int,
) -> CallWindows | None:
    """The windows of candles already sorted by (token, open_ts), each token one run and no duplicate
    seconds (how the warehouse stores them): one scan, no sort, no copy; None otherwise."""
    n = c.height
    ts, per = _raw_times(c.get_column("open_ts"))
    views: list[tuple[np.ndarray, List]] = []
    brk = np.zeros(0, np.bool_)
    for k in keys:
        v = string_views(c.get_column(k)) if n else None
        if v is not None and len(views) < 2:
            views.append(v)
            continue
        if not brk.shape[0]:
            brk = np.zeros(n, np.bool_)
        rid = c.get_column(k).rle_id().to_numpy()
        brk[1:] |= rid[1:] != rid[:-1]
    empty = (NO_VIEWS, List([NO_BYTES]))
    (v0, b0), (v1, b1) = (views + [empty, empty])[:2]
    heads, ordered = scan_runs(v0, b0, v1, b1, brk, ts, np.int64(per), _SHIFT * np.int64(per))
    if not ordered:
        return None
    head_keys = c.select(keys).select(pl.all().gather(pl.Series(heads)))
    if head_keys.n_unique() != head_keys.height:
        return None  # a token comes back later
    tokens = head_keys.with_row_index("tid")
    call_tid = _call_token_ids(calls, keys, tokens)
    ends = np.append(heads[1:], n).astype(np.int64)
    want = _wanted_entry(calls, entry_delay_s)
    start, stop, entry_ts, last_ts, ok = _entry_windows(
        ts,
        np.int64(per),
        heads,
        ends,
        call_tid,
        want.astype(np.int64, copy=False),
        np.int64(max_entry_gap_s),
        np.int64(horizon_s),
        _SHIFT - 1,
    )

    def col(name: str) -> np.ndarray:
        return np.ascontiguousarray(c.get_column(name).to_numpy(), dtype=np.float64)

    o = col("open")
    return CallWindows(
        ts_raw=ts,
        per=per,
        open=o,
        high=col("high"),
        low=col("low"),
        close=col("close"),
        start=start,
        stop=stop,
        entry_ts=entry_ts,
        entry_price=np.where(ok, o[start] if n else np.nan, np.nan),
        ok=ok,
        has_any=call_tid >= 0,
        last_ts=last_ts,
        volume=col("volume_usd") if "volume_usd" in c.columns else None,
    )


def _sorting_windows(
    calls: pl.DataFrame,
    c: pl.DataFrame,
    keys: list[str],
    entry_delay_s: int,
    max_entry_gap_s: int,
    horizon_s: int,
) -> CallWindows:
    """The general case: tokens numbered, candles sorted by one int64 key, duplicates dropped."""
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
    key, in_order = sort_keys(tid.astype(np.int64, copy=False), ts, _SHIFT)
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
    call_tid = _call_token_ids(calls, keys, tokens)
    has_any = call_tid >= 0
    want = _wanted_entry(calls, entry_delay_s)
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
    return CallWindows(
        ts_raw=np.ascontiguousarray(ts, dtype=np.int64),
        per=1,
        open=o,
        high=col("high"),
        low=col("low"),
        close=col("close"),
        start=np.where(ok, idx, 0).astype(np.int64),
        stop=np.where(ok, stop, 0).astype(np.int64),
        entry_ts=entry_ts,
        entry_price=np.where(ok, o[safe] if n else np.nan, np.nan),
        ok=ok,
        has_any=has_any,
        last_ts=last_ts,
        volume=col("volume_usd") if "volume_usd" in c.columns else None,
    )
