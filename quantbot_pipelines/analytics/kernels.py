"""Numba kernels: one linear pass over sorted candle arrays.

Candle rollup (buckets aligned to epoch multiples) and per-call path metrics, as defined in
docs/semantics.md#path-analytics.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantbot_pipelines.backtest.nb import max_min


@njit(cache=True, nogil=True)
def bucket_count(ts, brk, step, fill):
    """Output rows of a rollup: one per (token run, bucket) present, or every bucket of a run if fill."""
    n = ts.shape[0]
    count = 0
    prev = 0
    b = 0
    end = 0
    for i in range(n):
        if brk[i] or ts[i] >= end:  # divide only when the bucket changes (ts ascend within a token)
            b = (ts[i] // step) * step
            end = b + step
        if brk[i]:
            count += 1
        elif b != prev:
            count += (b - prev) // step if fill else 1
        prev = b
    return count


@njit(cache=True, nogil=True)
def bucket_rollup(ts, brk, o, h, lo, c, v, step, fill, out_ts, out_o, out_h, out_l, out_c, out_v, out_row):
    """Fill the output rows (sized by bucket_count). Input sorted by (token, ts);
    brk marks a token's first row.
    First open, max high, min low, last close, summed volume (nan when every volume is missing).
    out_row is the input row whose token/day/source labels the bucket. fill: gap buckets become flat
    candles at the previous close with zero volume."""
    n = ts.shape[0]
    k = -1
    prev = 0
    vn = 0
    b = 0
    end = 0
    for i in range(n):
        if brk[i] or ts[i] >= end:
            b = (ts[i] // step) * step
            end = b + step
        if brk[i] or b != prev:
            if k >= 0:
                out_v[k] = out_v[k] if vn > 0 else np.nan
            if fill and not brk[i]:
                last_close = out_c[k]
                g = prev + step
                while g < b:
                    k += 1
                    out_ts[k] = g
                    out_o[k] = last_close
                    out_h[k] = last_close
                    out_l[k] = last_close
                    out_c[k] = last_close
                    out_v[k] = 0.0
                    out_row[k] = i - 1
                    vn = 1
                    g += step
            k += 1
            out_ts[k] = b
            out_o[k] = o[i]
            out_h[k] = h[i]
            out_l[k] = lo[i]
            out_c[k] = c[i]
            out_row[k] = i
            vi = v[i]
            if not np.isnan(vi):
                out_v[k] = vi
                vn = 1
            else:
                out_v[k] = 0.0
                vn = 0
        else:
            out_h[k] = max(out_h[k], h[i])
            out_l[k] = min(out_l[k], lo[i])
            out_c[k] = c[i]
            vi = v[i]
            if not np.isnan(vi):
                out_v[k] += vi
                vn += 1
        prev = b
    if k >= 0 and vn == 0:
        out_v[k] = np.nan
    return k + 1


@njit(cache=True, nogil=True, fastmath=True)
def _max_min(high, low, s, e):
    """nb.max_min compiled with fastmath (its loops vectorise; the same result for finite prices)."""
    return max_min(high, low, s, e)


@njit(cache=True, nogil=True, fastmath=True)
def _min_from(low, s, e, init):
    b0 = b1 = b2 = b3 = init
    i = s
    while i + 4 <= e:
        b0 = min(b0, low[i])
        b1 = min(b1, low[i + 1])
        b2 = min(b2, low[i + 2])
        b3 = min(b3, low[i + 3])
        i += 4
    while i < e:
        b0 = min(b0, low[i])
        i += 1
    return min(min(b0, b1), min(b2, b3))


@njit(inline="always")
def _first_not_below(x, s, e, target):
    """First i in [s, e) with not x[i] < target (e if none): blocks of 16 tested branch-free (vectorised),
    then row by row inside the block that has it. No fastmath: a nan stops the search as in a plain loop."""
    i = s
    while i + 16 <= e:
        blk = x[i : i + 16]
        f = False
        for j in range(16):
            f |= not (blk[j] < target)
        if f:
            break
        i += 16
    while i < e and x[i] < target:
        i += 1
    return i


_B = 32  # candles per block of the one-pass window scan


@njit(nogil=True, fastmath=True)
def _block_max_min(high, low, i):
    """Max high and min low of the block [i, i + _B) (a constant length: unrolled and vectorised). Not
    nb.max_min: slower at this length, and under fastmath the result for a nan price depends on the loop."""
    h = high[i : i + _B]
    lo = low[i : i + _B]
    a = -np.inf
    b = np.inf
    for j in range(_B):
        a = max(a, h[j])
        b = min(b, lo[j])
    return a, b


@njit(nogil=True)
def _window_one_pass(high, low, s, e, p, levels, two_level, hit_row):
    """The metrics of one window [s, e) in one pass over blocks of _B candles, for a positive entry price
    (levels x p then ascend, so each level's first hit is also its first hit after the lower levels').
    A block's max/min is vectorised; only a block that beats a level is walked candle by candle."""
    nl = levels.shape[0]
    mx = -np.inf
    mn = np.inf
    ath_blk = s
    nxt = 0
    two_at = e
    lb = p  # the entry price starts the path (see window_metrics)
    i = s
    while i < e:
        j = min(i + _B, e)
        if j - i == _B:
            bh, bl = _block_max_min(high, low, i)
        else:
            bh, bl = _max_min(high, low, i, j)
        if bh > mx:
            mx = bh
            ath_blk = i  # the first block that reaches the final max holds the ATH candle
        mn = min(mn, bl)
        if nxt < nl and bh >= levels[nxt] * p:
            for q in range(i, j):
                hq = high[q]
                while nxt < nl and hq >= levels[nxt] * p:
                    hit_row[nxt] = q
                    if nxt == two_level:
                        two_at = q
                    nxt += 1
                if nxt == nl:
                    break
        if two_at == e:
            lb = min(lb, bl)
        elif two_at >= i:
            lb = _min_from(low, i, two_at, lb)
        i = j
    return _first_not_below(high, ath_blk, e - 1, mx), mx, mn, lb


@njit(cache=True, nogil=True)
def window_metrics(ts, high, low, close, start, stop, entry_price, levels, two_level):
    """Per call over its window [start, stop): ath index (first candle with the max high), max high, min low,
    first index with high >= level x entry for each ascending level (-1 never), min low of the candles before
    the first one reaching levels[two_level] (the entry price counts as the start of the path, so this is the
    entry price when 2x comes on the entry candle), last close.

    One pass over blocks for a positive entry price (_window_one_pass); otherwise max/min first, then scans
    that stop early: to the ATH candle and to the highest level hit."""
    m = start.shape[0]
    nl = levels.shape[0]
    ath_i = np.full(m, -1, np.int64)
    ath = np.full(m, np.nan)
    low_min = np.full(m, np.nan)
    low_before = np.full(m, np.nan)
    end_close = np.full(m, np.nan)
    hit = np.full((m, nl), -1, np.int64)
    for k in range(m):
        s = start[k]
        e = stop[k]
        if e <= s:
            continue
        p = entry_price[k]
        end_close[k] = close[e - 1]
        if p > 0 and p < np.inf:
            ath_i[k], ath[k], low_min[k], low_before[k] = _window_one_pass(
                high, low, s, e, p, levels, two_level, hit[k]
            )
            continue
        mx, mn = _max_min(high, low, s, e)
        ath_i[k] = _first_not_below(high, s, e - 1, mx)
        i = s
        two_at = e
        for j in range(nl):
            target = levels[j] * p
            if not mx >= target:
                break
            i = _first_not_below(high, i, e, target)
            if i == e:
                break
            hit[k, j] = i
            if j == two_level:
                two_at = i
        ath[k] = mx
        low_min[k] = mn
        low_before[k] = _min_from(low, s, two_at, p)
    return ath_i, ath, low_min, low_before, end_close, hit


@njit(cache=True, nogil=True)
def merge_spans(tid, start, end):
    """Merge [start, end) spans sorted by (tid, start) into disjoint ones; touching spans join."""
    n = tid.shape[0]
    out_t = np.empty(n, np.int64)
    out_s = np.empty(n, np.int64)
    out_e = np.empty(n, np.int64)
    k = -1
    for i in range(n):
        if k >= 0 and tid[i] == out_t[k] and start[i] <= out_e[k]:
            out_e[k] = max(out_e[k], end[i])
        else:
            k += 1
            out_t[k] = tid[i]
            out_s[k] = start[i]
            out_e[k] = end[i]
    return out_t[: k + 1], out_s[: k + 1], out_e[: k + 1]
