"""Price paths after each call: the entry rule and the candle window, packed for fast kernels.

Entry and window follow docs/semantics.md#entry-and-window:
- entry_ts = open time of the first candle with open_ts >= call_ts + entry_delay (the candle in progress at
  the call is never used: its open is before the call, using it would look ahead);
- entry_price = that candle's open; no candle within max_entry_gap after call_ts + entry_delay: `no_entry`
  (the gap counts from the delayed entry time, so a delay longer than the gap still can enter);
  no candle of the token at all: `no_candles`;
- window = [entry_ts, entry_ts + horizon).

Candles are sorted by (token, open_ts) into flat numpy arrays; each call gets [start, stop) offsets into
them (CSR layout), so analytics and the simulator run over plain arrays with no per-call DataFrames.
Candles the warehouse already stores sorted (each token one run, times strictly rising) are used in place:
one scan finds the token runs and checks the order (_scan_runs), then a binary search per call inside its
token's run; anything else takes the sorting path (_pack_unsorted), with the same results.
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
    found = _views(s)
    if found is None:
        return False
    _view_breaks(found[0], found[1], brk)
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


@dataclass(frozen=True)
class Packed:
    """What pack_paths finds, with candle open times kept in their stored unit (`ts_raw`, `per` units a
    second) so a caller that needs seconds only at a few indices skips the division over every candle."""

    ts_raw: np.ndarray  # int64 open times, sorted within each token
    per: int  # ts_raw units per second: seconds = ts_raw // per
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    entry_ts: np.ndarray
    entry_price: np.ndarray
    ok: np.ndarray  # bool per call: has an entry
    has_any: np.ndarray  # bool per call: the token has candles
    last_ts: np.ndarray

    def seconds(self, idx: np.ndarray) -> np.ndarray:
        """Open times (epoch seconds) of the candles at `idx`."""
        t = self.ts_raw[idx]
        return t if self.per == 1 else t // self.per

    @property
    def status(self) -> np.ndarray:
        return np.where(
            self.ok, STATUS_OK, np.where(self.has_any, STATUS_NO_ENTRY, STATUS_NO_CANDLES)
        ).astype(object)


def _raw_times(s: pl.Series) -> tuple[np.ndarray, int]:
    """Open times as int64 in their stored unit, and units per second (seconds = raw // per)."""
    if isinstance(s.dtype, pl.Datetime):
        return s.to_physical().to_numpy().astype(np.int64, copy=False), _PER_S[s.dtype.time_unit]
    return epoch_seconds(s).astype(np.int64, copy=False), 1


_NO_VIEWS = np.frombuffer(b"", np.uint64)


def _views(s: pl.Series) -> tuple[np.ndarray, List] | None:
    """Arrow string views (two uint64 words a row) and data buffers of a non-null String column."""
    if s.dtype != pl.String or s.null_count():
        return None
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string_view():
        return None
    bufs = arr.buffers()
    views = np.frombuffer(bufs[1], np.uint64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
    data = List.empty_list(_RO_BYTES)
    for b in bufs[2:]:
        data.append(np.frombuffer(b, np.uint8) if b is not None and b.size else _NO_BYTES)
    if len(data) == 0:
        data.append(_NO_BYTES)
    return views, data


def _call_token_ids(calls: pl.DataFrame, keys: list[str], tokens: pl.DataFrame) -> np.ndarray:
    """Each call's token id (row of `tokens`, which carries `tid`), -1 for a token without candles."""
    return (calls.select(keys).join(tokens, on=keys, how="left", maintain_order="left")
            .get_column("tid").fill_null(-1).to_numpy().astype(np.int64, copy=False))


def _wanted_entry(calls: pl.DataFrame, entry_delay_s: int) -> np.ndarray:
    """Earliest allowed entry per call (call + delay, epoch seconds), clipped into the packed key's range."""
    return np.clip(epoch_seconds(calls.get_column("call_ts")) + entry_delay_s, 0, _SHIFT - 1)


@njit(inline="always")
def _view_step(views, i):
    """String i vs string i - 1 from their views alone: 0 equal, 1 different, 2 compare the bytes (long
    strings of the same length and prefix stored at different places). Kept apart from the buffers: passing
    the typed list of buffers per row costs reference counting."""
    w0 = views[2 * i]
    w1 = views[2 * i + 1]
    p0 = views[2 * i - 2]
    p1 = views[2 * i - 1]
    if w0 == p0 and w1 == p1:
        return 0
    if w0 != p0 or (w0 & 0xFFFFFFFF) <= 12:
        return 1
    return 2


@njit(nogil=True)
def _long_differs(views, buffers, i):
    w0 = views[2 * i]
    w1 = views[2 * i + 1]
    p1 = views[2 * i - 1]
    x, y = buffers[w1 & 0xFFFFFFFF], buffers[p1 & 0xFFFFFFFF]
    xo, yo = w1 >> 32, p1 >> 32
    for j in range(w0 & 0xFFFFFFFF):
        if x[xo + j] != y[yo + j]:
            return True
    return False


_BLOCK = 64


@njit(inline="always")
def _views_change(views, i0, i1):
    """Whether any view in rows [i0, i1) differs from the row before (branch-free over two slices from 0,
    so no negative-index handling: it vectorises)."""
    a = views[2 * i0 : 2 * i1]
    b = views[2 * i0 - 2 : 2 * i1 - 2]
    f = False
    for j in range(a.shape[0]):
        f |= a[j] != b[j]
    return f


@njit(cache=True, nogil=True)
def _scan_runs(v0, b0, v1, b1, brk, ts, per, hi):
    """One pass over the candles: the first row of each run of equal keys (two string columns as views, or
    `brk` marks precomputed for columns that are not), and whether every run is strictly increasing in
    epoch seconds (ts // per) within [0, hi). Stops at the first row out of order: the caller sorts then.

    Blocks of rows are first tested branch-free (same keys, times a second or more apart); only a block
    with a token change or close times is walked row by row."""
    n = ts.shape[0]
    heads = np.empty(n, np.int64)  # untouched pages cost nothing: only the heads get written
    if n == 0:
        return heads[:0].copy(), True
    if ts[0] < 0:
        return heads[:0].copy(), False
    heads[0] = 0
    nh = 1
    i0 = 1
    while i0 < n:
        i1 = min(i0 + _BLOCK, n)
        f = False
        x = ts[i0:i1]
        y = ts[i0 - 1 : i1 - 1]
        for j in range(x.shape[0]):
            f |= x[j] - y[j] < per
        if v0.shape[0] != 0:
            f |= _views_change(v0, i0, i1)
        if v1.shape[0] != 0:
            f |= _views_change(v1, i0, i1)
        if brk.shape[0] != 0:
            z = brk[i0:i1]
            for j in range(z.shape[0]):
                f |= z[j]
        if f:
            for i in range(i0, i1):
                t = ts[i]
                prev = ts[i - 1]
                new = brk.shape[0] != 0 and brk[i]
                if not new and v0.shape[0] != 0:
                    r = _view_step(v0, i)
                    new = r == 1 or (r == 2 and _long_differs(v0, b0, i))
                if not new and v1.shape[0] != 0:
                    r = _view_step(v1, i)
                    new = r == 1 or (r == 2 and _long_differs(v1, b1, i))
                if new:
                    if t < 0 or prev >= hi:
                        return heads[:0].copy(), False
                    heads[nh] = i
                    nh += 1
                else:
                    d = t - prev
                    if d < per and (d <= 0 or t // per == prev // per):  # same second: a duplicate
                        return heads[:0].copy(), False
        i0 = i1
    if ts[n - 1] >= hi:
        return heads[:0].copy(), False
    return heads[:nh].copy(), True


@njit(inline="always")
def _lower_bound(ts, lo, hi, x):
    while lo < hi:
        mid = (lo + hi) >> 1
        if ts[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


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
        i = _lower_bound(ts, s0, e0, w * per)
        if i >= e0:
            continue
        sec = ts[i] // per
        if sec - w > gap:
            continue
        ok[k] = True
        entry_ts[k] = sec
        start[k] = i
        end = min(max(sec + horizon, 0), cap)
        stop[k] = _lower_bound(ts, s0, e0, end * per)
    return start, stop, entry_ts, last_ts, ok


def _pack_sorted(
    calls: pl.DataFrame,
    c: pl.DataFrame,
    keys: list[str],
    entry_delay_s: int,
    max_entry_gap_s: int,
    horizon_s: int,
) -> Packed | None:
    """pack_paths for candles already sorted by (token, open_ts), each token one run and no duplicate
    seconds (how the warehouse stores them): one scan, no sort, no copy; None otherwise."""
    n = c.height
    ts, per = _raw_times(c.get_column("open_ts"))
    views: list[tuple[np.ndarray, List]] = []
    brk = np.zeros(0, np.bool_)
    for k in keys:
        v = _views(c.get_column(k)) if n else None
        if v is not None and len(views) < 2:
            views.append(v)
            continue
        if not brk.shape[0]:
            brk = np.zeros(n, np.bool_)
        rid = c.get_column(k).rle_id().to_numpy()
        brk[1:] |= rid[1:] != rid[:-1]
    empty = (_NO_VIEWS, List([_NO_BYTES]))
    (v0, b0), (v1, b1) = (views + [empty, empty])[:2]
    heads, ordered = _scan_runs(v0, b0, v1, b1, brk, ts, np.int64(per), _SHIFT * np.int64(per))
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
    return Packed(
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
    )


@njit(cache=True, nogil=True)
def _to_seconds(ts, per):
    """ts // per for non-negative ts (the sorted scan checked that): unsigned, so a constant divisor becomes
    a multiply and the loop vectorises."""
    out = np.empty(ts.shape[0], np.int64)
    if per == 1000:
        for i in range(ts.shape[0]):
            out[i] = np.uint64(ts[i]) // np.uint64(1000)
    else:
        d = np.uint64(per)
        for i in range(ts.shape[0]):
            out[i] = np.uint64(ts[i]) // d
    return out


def pack(
    calls: pl.DataFrame,
    candles: pl.DataFrame,
    entry_delay_s: int = 0,
    max_entry_gap_s: int = DEFAULT_MAX_ENTRY_GAP_S,
    horizon_s: int = DEFAULT_HORIZON_S,
) -> Packed:
    """pack_paths with open times left in their stored unit (see Packed)."""
    keys = ["chain", "address"]
    c = candles.select(*keys, "open_ts", "open", "high", "low", "close")
    fast = _pack_sorted(calls, c, keys, entry_delay_s, max_entry_gap_s, horizon_s)
    if fast is not None:
        return fast
    p = _pack_unsorted(calls, c, keys, entry_delay_s, max_entry_gap_s, horizon_s)
    return Packed(
        ts_raw=p.ts,
        per=1,
        open=p.open,
        high=p.high,
        low=p.low,
        close=p.close,
        start=p.start,
        stop=p.stop,
        entry_ts=p.entry_ts,
        entry_price=p.entry_price,
        ok=p.status == STATUS_OK,
        has_any=p.status != STATUS_NO_CANDLES,
        last_ts=p.last_ts,
    )


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
    p = pack(calls, candles, entry_delay_s, max_entry_gap_s, horizon_s)
    ts = p.ts_raw if p.per == 1 else _to_seconds(p.ts_raw, np.int64(p.per))
    return Paths(
        ts=np.ascontiguousarray(ts, dtype=np.int64),
        open=p.open,
        high=p.high,
        low=p.low,
        close=p.close,
        start=p.start,
        stop=p.stop,
        entry_ts=p.entry_ts,
        entry_price=p.entry_price,
        status=p.status,
        last_ts=p.last_ts,
    )


def _pack_unsorted(
    calls: pl.DataFrame,
    c: pl.DataFrame,
    keys: list[str],
    entry_delay_s: int,
    max_entry_gap_s: int,
    horizon_s: int,
) -> Paths:
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
