"""Numba helpers over columnar data, shared by the window builder and the kernels.

- Runs of equal keys straight from Arrow string views (`token_breaks`, `token_runs`, `scan_runs`): rows are
  compared with the previous one, no hashing; quiet blocks of rows are tested branch-free first.
- `lower_bound` over a sorted slice, `max_min` over a span of highs and lows.

Numba's on-disk cache of a kernel is keyed on the kernel's own file only, and these helpers are compiled into
their callers (analytics/kernels.py, simulation/kernels.py): after editing one, delete the callers' cache
files (__pycache__/*.nbi, *.nbc).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit, types
from numba.typed import List

_RO_BYTES = types.Array(types.uint8, 1, "C", readonly=True)
NO_BYTES = np.frombuffer(b"\0", np.uint8)
NO_VIEWS = np.frombuffer(b"", np.uint64)


def string_views(s: pl.Series) -> tuple[np.ndarray, List] | None:
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
        data.append(np.frombuffer(b, np.uint8) if b is not None and b.size else NO_BYTES)
    if len(data) == 0:
        data.append(NO_BYTES)
    return views, data


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
    found = string_views(s)
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
def scan_runs(v0, b0, v1, b1, brk, ts, per, hi):
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


@njit(cache=True, nogil=True)
def sort_keys(tid, ts, shift):
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


@njit(cache=True, nogil=True)
def to_seconds(ts, per):
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


@njit(inline="always")
def lower_bound(ts, lo, hi, x):
    """First i in [lo, hi) with not ts[i] < x (hi if none), ts ascending there."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if ts[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(inline="always")
def max_min(high, low, s, e):
    """Max of high and min of low over [s, e) (-inf and inf when empty). Four accumulators break the
    dependency chains so the loop vectorises; max and min are exact, so their order changes no result.
    Inlined, so the caller's flags apply: without fastmath a nan is skipped (numba's max(acc, nan) is acc),
    fastmath assumes there is none."""
    a0 = a1 = a2 = a3 = -np.inf
    b0 = b1 = b2 = b3 = np.inf
    m = s + ((e - s) >> 2 << 2)  # range loops: a span of constant length (a block) unrolls completely
    for i in range(s, m, 4):
        a0 = max(a0, high[i])
        a1 = max(a1, high[i + 1])
        a2 = max(a2, high[i + 2])
        a3 = max(a3, high[i + 3])
        b0 = min(b0, low[i])
        b1 = min(b1, low[i + 1])
        b2 = min(b2, low[i + 2])
        b3 = min(b3, low[i + 3])
    for i in range(m, e):
        a0 = max(a0, high[i])
        b0 = min(b0, low[i])
    return max(max(a0, a1), max(a2, a3)), min(min(b0, b1), min(b2, b3))
