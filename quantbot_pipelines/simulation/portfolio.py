"""The bankroll ("book") that follows a strategy's calls in time order: docs/semantics.md#bankroll.

A book starts with `Book.bankroll_usd` in cash and meets the calls of one strategy in order of entry (ties:
call_ts, chat_id, message_id, chain, address). It stakes each call (a fixed stake, or a share of its equity),
skips what it cannot take (no_cash, max_open, holding_token) and compounds: the cash its sells bring back
funds later calls. Repeat calls and calls without an entry (or without a result) are never taken.

Cash flows of a trade at a stake S come from its SIMULATION_RESULTS row (`fills`, `net_multiple`, the pool):
- unit size (size_usd null): cost S at entry; sell k returns S x net_multiple x its share of the gross
  proceeds (fraction x price over the sum of them), all of it at the last fill when that sum is 0;
- sized: each "entry" part buys a_j x S of notional (priced on the pool with `impact.buy_tokens` for xyk
  rows, at the price otherwise; slippage divides the tokens) and costs a_j x S x (1 + fee) + fixed, all paid
  at entry; sell k sells its fraction of the tokens bought (`impact.sell_usd` for xyk), times
  (1 - slip)(1 - fee), less the fixed cost. At S = size_usd these are the simulator's cost_usd and
  proceeds_usd.
A position is open from entry to its last fill. Sells at an instant come before entries at that instant.
Equity is cash plus the cost of the open positions (book value, no marks): a trade's result shows as its
sells come in, and its cost leaves the books at its last fill.

Figures are computed on the equity after all events of each instant (the event-level curve, which does not
depend on the order of events within an instant): max drawdown against the running high, daily returns from
the equity at the end of each UTC day (first entry's day to last fill's day; the day before starts at the
bankroll), Sharpe and Sortino of those (x sqrt(365)), CAGR over (last fill - first entry), and exposure as the
time average of (cost of open positions / equity) over [first entry, last fill].

Layout: `parse_fills` reads the `fills` JSON of many rows at once (numba passes over the Arrow string views;
numbers read correctly rounded by the Eisel-Lemire method); `prepare` turns SIMULATION_RESULTS rows into flat
arrays; `run_engine` runs one event loop per strategy (numba, strategies over numba's threads) with a heap of
pending sells; `run_books` does all three and builds the frames. Plain Python, numpy, polars and numba.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit, prange

from quantbot_pipelines.schemas import PORTFOLIO_RESULTS
from quantbot_pipelines.simulation.impact import (
    DEFAULT_DEX_FEE_BPS,
    PUMP_FEE_BPS,
    buy_tokens,
    pool_at,
    sell_usd,
)
from quantbot_pipelines.simulation.strategy import Strategy

DECISIONS = ("taken", "no_cash", "max_open", "holding_token", "no_entry", "repeat")
TAKEN, NO_CASH, MAX_OPEN, HOLDING_TOKEN, NO_ENTRY, REPEAT = range(6)
UNIT, SIZED, XYK = 0, 1, 2  # how a trade's cash flows scale with the stake
CURVE_BUCKETS = 1000  # .equity keeps the lowest and highest point of each of these time buckets
DAY_S = 86400
_ANNUAL = math.sqrt(365.0)

SUMMARY_COLUMNS = ("strategy", "book_return", "book_max_drawdown", "book_cagr", "book_sharpe", "book_sortino",
                   "book_exposure", "book_trades", "book_skipped", "final_equity_usd", "bankroll_usd")

# one parallel kernel at a time per process (numba's workqueue layer must not be entered from two Python
# threads at once); a caller that finds it busy runs the serial kernel (same results)
_PARALLEL_LOCK = threading.Lock()
_PARSE_CHUNKS_PER_THREAD = 16  # row chunks per thread when parsing fills (evens out long rows)
_PARSE_MIN_ROWS = 20_000  # rows per chunk at least (smaller ones cost more to hand out than to parse)


# ---- fills ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fills:
    """The fills of n rows, flat: row i's fills are [start[i], start[i + 1]) in list order."""

    start: np.ndarray  # int64, n + 1
    ts: np.ndarray  # int64 epoch seconds
    price: np.ndarray  # float64
    fraction: np.ndarray  # float64
    entry: np.ndarray  # bool: reason == "entry" (a buy part)


# ---- numbers: Eisel-Lemire, correctly rounded (Lemire, "Number parsing at a gigabyte per second", 2021) ----


def _pow5_table() -> np.ndarray:
    """128-bit approximations of 5**q, q in [-342, 308], as (high, low) uint64 pairs: fast_float's table."""
    out = np.empty(2 * 651, np.uint64)
    for i, q in enumerate(range(-342, 309)):
        if q < 0:
            p5 = 5 ** -q
            z = (p5 - 1).bit_length()  # smallest z with 2**z >= 5**-q
            c = 2 ** (z + 127) // p5 + 1 if q >= -27 else 2 ** (2 * z + 128) // p5 + 1
            c >>= max(c.bit_length() - 128, 0)
        else:
            c = 5 ** q
            c = c << (128 - c.bit_length()) if c.bit_length() < 128 else c >> (c.bit_length() - 128)
        out[2 * i], out[2 * i + 1] = c >> 64, c & (2 ** 64 - 1)
    return out


_POW5 = _pow5_table()
_U = np.uint64
_M32 = np.uint64(0xFFFFFFFF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_MAX_DIGITS = 19  # more significant digits than a uint64 holds: left to Python
_EXACT10 = np.array([10.0 ** k for k in range(23)])  # the powers of ten a double holds exactly


@njit(cache=True, nogil=True, inline="always")
def _mul128(a, b):
    """(high, low) 64-bit halves of the 128-bit product of uint64 a and b."""
    a_lo, a_hi = a & _M32, a >> _U(32)
    b_lo, b_hi = b & _M32, b >> _U(32)
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> _U(32)) + (p1 & _M32) + (p2 & _M32)
    return p3 + (p1 >> _U(32)) + (p2 >> _U(32)) + (mid >> _U(32)), (p0 & _M32) | (mid << _U(32))


@njit(cache=True, nogil=True)
def _to_float(w, q, pow5):
    """The double nearest w x 10**q (w a uint64 > 0); nan where this path does not decide (subnormals)."""
    if q < -342:
        return 0.0
    if q > 308:
        return np.inf
    lz = 0  # leading zeros, by halves
    for step in (32, 16, 8, 4, 2, 1):
        if w >> _U(64 - step) == _U(0):
            w = w << _U(step)
            lz += step
    idx = 2 * (q + 342)
    hi, lo = _mul128(w, pow5[idx])
    mask = _ALL >> _U(55)  # 52 explicit bits + 3
    if hi & mask == mask:
        hi2, _ = _mul128(w, pow5[idx + 1])
        lo2 = lo + hi2
        if hi2 > lo2:
            hi += _U(1)
        lo = lo2
    upper = np.int64(hi >> _U(63))
    shift = upper + 64 - 52 - 3
    mant = hi >> _U(shift)
    power2 = ((152170 + 65536) * q >> 16) + 63 + upper - lz + 1023  # biased binary exponent
    if power2 <= 0:
        return np.nan
    # exactly halfway between two doubles (only possible when 5**q is exact): round to even
    if lo <= _U(1) and -4 <= q <= 23 and mant & _U(3) == _U(1) and (mant << _U(shift)) == hi:
        mant &= ~_U(1)
    mant += mant & _U(1)
    mant >>= _U(1)
    if mant >= _U(2) << _U(52):
        mant = _U(1) << _U(52)
        power2 += 1
    if power2 >= 0x7FF:
        return np.inf
    # mant holds the 53 bits with the leading one: exact as a double, and ldexp scales exactly
    return math.ldexp(np.float64(mant), power2 - 1075)


@njit(cache=True, nogil=True, inline="always")
def _parse_number(data, p, end, pow5):
    """(p after the JSON number at p, its value; nan when malformed or not decided here)."""
    negative = p < end and data[p] == 45  # -
    if negative:
        p += 1
    # one pass over digits and point (leading zeros add nothing to w; they only do not count as digits)
    w = _U(0)
    n_digits = 0
    lead = 0
    point = -1
    while p < end:
        d = np.int64(data[p]) - 48
        if 0 <= d <= 9:
            if d == 0 and w == _U(0):
                lead += 1
            w = w * _U(10) + _U(d)
            n_digits += 1
        elif d == -2 and point < 0:  # .
            point = n_digits
        else:
            break
        p += 1
    ok = n_digits > 0 and point != n_digits and point != 0 and n_digits - lead <= _MAX_DIGITS
    q = point - n_digits if point > 0 else 0
    if p < end and (data[p] == 101 or data[p] == 69):  # e E
        p += 1
        e_negative = p < end and data[p] == 45
        if p < end and (data[p] == 43 or data[p] == 45):
            p += 1
        e = 0
        e_digits = 0
        while p < end and 48 <= data[p] <= 57:
            if e < 100000:
                e = e * 10 + (np.int64(data[p]) - 48)
            e_digits += 1
            p += 1
        ok = ok and e_digits > 0
        q += -e if e_negative else e
    if not ok:
        return p, np.nan
    if w == _U(0):
        v = 0.0
    elif w <= _U(1 << 53) and -22 <= q <= 22:
        # Clinger's fast path: w and 10**|q| are exact doubles, so one IEEE operation rounds correctly
        v = np.float64(w) * _EXACT10[q] if q >= 0 else np.float64(w) / _EXACT10[-q]
    else:
        v = _to_float(w, q, pow5)
    return p, math.copysign(v, -1.0) if negative else v


# ---- fills JSON ---------------------------------------------------------------------------------------


INLINE = 12  # an Arrow string view holds strings up to this long in the view itself (never a fill list)


@njit(cache=True, nogil=True)
def _count_range(bufs, views, valid, lo, hi, out):
    # a fill is a '[' inside the outer list (timestamps and reasons never hold one)
    b = -1
    data = bufs[0]
    for i in range(lo, hi):
        c = 0
        ln = views[i, 0]
        if valid[i] and ln > INLINE:
            if views[i, 2] != b:  # consecutive rows mostly share a buffer: fetch it once
                b = views[i, 2]
                data = bufs[b]
            p0 = views[i, 3]
            for p in range(p0, p0 + ln):
                if data[p] == 91:  # [
                    c += 1
        out[i] = max(c - 1, 0)


@njit(cache=True, nogil=True, inline="always")
def _skip_ws(data, p, end):
    while p < end and (data[p] == 32 or data[p] == 9 or data[p] == 10 or data[p] == 13):
        p += 1
    return p


@njit(cache=True, nogil=True, inline="always")
def _digits(data, p, n):
    v = 0
    for q in range(p, p + n):
        d = np.int64(data[q]) - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


_BAD_TS = -(1 << 62)


@njit(cache=True, nogil=True, inline="always")
def _epoch_s(data, p, end):
    """Seconds since the epoch of 'YYYY-MM-DDTHH:MM:SS' (or a space for the T) at p, UTC; or _BAD_TS."""
    if (end - p < 19 or data[p + 4] != 45 or data[p + 7] != 45 or (data[p + 10] != 84 and data[p + 10] != 32)
            or data[p + 13] != 58 or data[p + 16] != 58):
        return _BAD_TS
    y, m, d = _digits(data, p, 4), _digits(data, p + 5, 2), _digits(data, p + 8, 2)
    hh, mi, ss = _digits(data, p + 11, 2), _digits(data, p + 14, 2), _digits(data, p + 17, 2)
    if min(y, m, d, hh, mi, ss) < 0 or not 1 <= m <= 12 or not 1 <= d <= 31:
        return _BAD_TS
    # days from the civil date (proleptic Gregorian, years from March)
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mi * 60 + ss


@njit(cache=True, nogil=True)
def _parse_row(data, p, end, k, kend, ts, entry, px, fr, pow5):
    """Fills k..kend of one row (bytes [p, end) of data): timestamps, reasons, prices and fractions (nan: a
    number left to Python). False when the row is malformed."""
    p = _skip_ws(data, p, end)
    if p >= end or data[p] != 91:
        return False
    p += 1
    while k < kend:
        p = _skip_ws(data, p, end)
        if p >= end or data[p] != 91:
            return False
        p = _skip_ws(data, p + 1, end)
        if p >= end or data[p] != 34:  # "
            return False
        t = _epoch_s(data, p + 1, end)
        if t == _BAD_TS:
            return False
        ts[k] = t
        p += 20
        while p < end and data[p] != 34:
            p += 1
        p = _skip_ws(data, p + 1, end)
        if p >= end or data[p] != 44:
            return False
        p, px[k] = _parse_number(data, _skip_ws(data, p + 1, end), end, pow5)
        p = _skip_ws(data, p, end)
        if p >= end or data[p] != 44:
            return False
        p, fr[k] = _parse_number(data, _skip_ws(data, p + 1, end), end, pow5)
        p = _skip_ws(data, p, end)
        if p >= end or data[p] != 44:
            return False
        p = _skip_ws(data, p + 1, end)
        if p >= end or data[p] != 34:
            return False
        r = p + 1
        p = r
        while p < end and data[p] != 34:
            p += 1
        # "entry": the five bytes e n t r y between the quotes
        entry[k] = (p - r == 5 and data[r] == 101 and data[r + 1] == 110 and data[r + 2] == 116
                    and data[r + 3] == 114 and data[r + 4] == 121)
        p = _skip_ws(data, p + 1, end)
        if p >= end or data[p] != 93:
            return False
        p = _skip_ws(data, p + 1, end)
        k += 1
        if k < kend:
            if p >= end or data[p] != 44:
                return False
            p += 1
    return p < end and data[p] == 93 and _skip_ws(data, p + 1, end) == end


@njit(cache=True, nogil=True)
def _parse_range(bufs, views, valid, lo, hi, start, ts, entry, px, fr, pow5):
    """Rows [lo, hi); returns -1, or the first malformed row."""
    b = -1
    data = bufs[0]
    for i in range(lo, hi):
        if not valid[i] or views[i, 0] <= INLINE:  # null, or too short for a fill (checked by the caller)
            continue
        if views[i, 2] != b:
            b = views[i, 2]
            data = bufs[b]
        p0 = views[i, 3]
        end = p0 + views[i, 0]
        if start[i + 1] == start[i]:
            q = _skip_ws(data, p0, end)
            ok = q < end and data[q] == 91
            q = _skip_ws(data, q + 1, end)
            ok = ok and q < end and data[q] == 93 and _skip_ws(data, q + 1, end) == end
        else:
            ok = _parse_row(data, p0, end, start[i], start[i + 1], ts, entry, px, fr, pow5)
        if not ok:
            return i
    return -1


@njit(cache=True, nogil=True)
def _fills_chunk(stage, c, bufs, views, valid, bounds, counts, start, ts, entry, px, fr, pow5, bad):
    if stage == 0:
        _count_range(bufs, views, valid, bounds[c], bounds[c + 1], counts)
    else:
        bad[c] = _parse_range(bufs, views, valid, bounds[c], bounds[c + 1], start, ts, entry, px, fr, pow5)


@njit(cache=True, nogil=True, parallel=True)
def _fills_parallel(stage, bufs, views, valid, bounds, counts, start, ts, entry, px, fr, pow5, bad):
    # chunks of rows on threads; each row writes only its own slots
    for c in prange(len(bounds) - 1):
        _fills_chunk(stage, c, bufs, views, valid, bounds, counts, start, ts, entry, px, fr, pow5, bad)


@njit(cache=True, nogil=True)
def _fills_serial(stage, bufs, views, valid, bounds, counts, start, ts, entry, px, fr, pow5, bad):
    for c in range(len(bounds) - 1):
        _fills_chunk(stage, c, bufs, views, valid, bounds, counts, start, ts, entry, px, fr, pow5, bad)


def _fills_pass(*args) -> None:
    if numba.get_num_threads() > 1 and _PARALLEL_LOCK.acquire(blocking=False):
        try:
            _fills_parallel(*args)
        finally:
            _PARALLEL_LOCK.release()
    else:
        _fills_serial(*args)


def _string_views(s: pl.Series) -> tuple[numba.typed.List, np.ndarray]:
    """A string Series as Arrow string views, without copying the strings: (data buffers, views as int32
    (n, 4): length, prefix, buffer, offset)."""
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    bufs = numba.typed.List()
    parts = []
    for ch in chunks:
        if ch.type != pa.string_view():
            ch = ch.cast(pa.string_view())
        buffers = ch.buffers()
        views = np.frombuffer(buffers[1], np.int32).reshape(-1, 4)[ch.offset:ch.offset + len(ch)]
        base = len(bufs)
        for b in buffers[2:]:
            bufs.append(np.frombuffer(b, np.uint8) if b is not None and b.size else _EMPTY)
        if base:
            views = views.copy()
            views[views[:, 0] > INLINE, 2] += base
        parts.append(views)
    if not len(bufs):
        bufs.append(_EMPTY)
    views = np.ascontiguousarray(np.concatenate(parts) if len(parts) != 1 else parts[0])
    return bufs, views


_EMPTY = np.frombuffer(b"\0", np.uint8)  # read-only, like the Arrow buffers beside it


def parse_fills(fills: pl.Series) -> Fills:
    """The `fills` JSON of every row ([ts, price, fraction, reason] lists; null or "[]": no fills) as flat
    arrays. Timestamps must be 'YYYY-MM-DDTHH:MM:SS' UTC (a trailing Z or offset is ignored). Numbers are
    read correctly rounded, as float() reads them (the rare ones the numba parser does not settle, such as
    subnormals or more than 19 digits, by json). Raises ValueError naming the first malformed row."""
    n = fills.len()
    start = np.zeros(n + 1, np.int64)
    if n == 0:
        e = np.empty(0)
        return Fills(start, e.astype(np.int64), e, e.copy(), e.astype(bool))
    fills = fills.cast(pl.String)
    bufs, views = _string_views(fills)
    valid = fills.is_not_null().to_numpy()
    chunks = max(1, min(n, numba.get_num_threads() * _PARSE_CHUNKS_PER_THREAD, n // _PARSE_MIN_ROWS + 1))
    bounds = np.linspace(0, n, chunks + 1).astype(np.int64)
    counts = np.empty(n, np.int64)
    bad = np.full(chunks, -1, np.int64)
    none_i, none_f, none_b = np.empty(0, np.int64), np.empty(0), np.empty(0, np.bool_)
    _fills_pass(0, bufs, views, valid, bounds, counts, start, none_i, none_b, none_f, none_f, _POW5, bad)
    np.cumsum(counts, out=start[1:])
    total = int(start[-1])
    ts = np.empty(total, np.int64)
    entry = np.zeros(total, np.bool_)
    px = np.empty(total)
    fr = np.empty(total)
    _fills_pass(1, bufs, views, valid, bounds, counts, start, ts, entry, px, fr, _POW5, bad)
    short = np.flatnonzero(valid & (views[:, 0] <= INLINE))  # held in the view itself: "[]" or malformed
    if len(short):
        wrong = fills.gather(short).str.replace_all(r"\s", "") != "[]"
        if wrong.any():
            bad = np.append(bad, short[wrong.to_numpy()][0])
    if (bad >= 0).any():
        row = int(bad[bad >= 0].min())
        raise ValueError(f"fills of row {row}: expected a JSON list of [ts, price, fraction, reason], "
                         f"got {str(fills[row])[:200]!r}")
    left = np.flatnonzero(np.isnan(px) | np.isnan(fr))
    for k in left:
        row = int(np.searchsorted(start, k, side="right") - 1)
        try:
            fill = json.loads(fills[row])[k - start[row]]
            if np.isnan(px[k]):
                px[k] = float(fill[1])
            if np.isnan(fr[k]):
                fr[k] = float(fill[2])
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"fills of row {row}: expected a JSON list of [ts, price, fraction, reason] "
                             f"with numbers, got {str(fills[row])[:200]!r}") from None
    return Fills(start, ts, px, fr, entry)


# ---- inputs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookInputs:
    """Everything the engine reads. Its trades are the rows a book may take, in the book's order (strategy,
    then entry_ts, call_ts, chat_id, message_id, chain, address): strategy s owns trades
    [strat_lo[s], strat_lo[s + 1]); trade i is row `row[i]` of the input frame, its fills
    [fill_lo[i], fill_hi[i]) of `fills` (parsed in input order)."""

    strat_lo: np.ndarray  # int64, n_strategies + 1
    fparams: np.ndarray  # float64 (n_strategies, 6): bankroll, stake, share, fee, slippage, fixed fee
    iparams: np.ndarray  # int64 (n_strategies, 3): equity_share sizing (0/1), max_open, max_per_token
    row: np.ndarray  # int64
    entry_ts: np.ndarray  # int64 epoch s
    exit_ts: np.ndarray  # int64 epoch s: the close of a trade without sells
    token: np.ndarray  # int64 dense (chain, address) code
    kind: np.ndarray  # int8 UNIT / SIZED / XYK
    net_multiple: np.ndarray
    dex_fee: np.ndarray  # phi
    pool_usd: np.ndarray  # y0 (xyk)
    entry_price: np.ndarray  # pe (xyk)
    fill_lo: np.ndarray  # int64
    fill_hi: np.ndarray  # int64
    fills: Fills
    n_tokens: int

    @property
    def n_trades(self) -> int:
        return len(self.entry_ts)


def _strategy_params(strategies: list[Strategy]) -> tuple[np.ndarray, np.ndarray]:
    fp = np.array([[s.book.bankroll_usd, s.stake_usd, s.book.equity_share, s.fee_bps / 1e4,
                    s.slippage_bps / 1e4, s.fee_fixed_usd] for s in strategies], np.float64)
    fp = fp.reshape(len(strategies), 6)
    ip = np.array([[int(s.book.sizing == "equity_share"), s.book.max_open, s.book.max_per_token]
                   for s in strategies], np.int64).reshape(len(strategies), 3)
    return fp, ip


def _epoch(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("us", "UTC")).dt.epoch("s")


_OPTIONAL = {"size_usd": pl.Float64, "pool_usd": pl.Float64, "entry_price": pl.Float64,
             "net_multiple": pl.Float64, "net_return": pl.Float64, "impact": pl.String,
             "liquidity_source": pl.String, "caller_id": pl.String, "strategy_file": pl.String,
             "fills": pl.String, "repeat": pl.Boolean}


def _with_defaults(trades: pl.DataFrame) -> pl.DataFrame:
    missing = [pl.lit(None, dtype=d).alias(c) for c, d in _OPTIONAL.items() if c not in trades.columns]
    return trades.with_columns(missing) if missing else trades


def _break_ties(trades: pl.DataFrame, rows: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """rows sorted by the int `keys`; runs of rows equal in all of them ordered by chat_id, message_id, chain,
    address (only those rows are looked at: the strings of millions of rows are never sorted)."""
    same = np.ones(len(rows) - 1, np.bool_) if len(rows) > 1 else np.zeros(0, np.bool_)
    for k in keys:
        same &= k[1:] == k[:-1]
    if not same.any():
        return rows
    tied = np.zeros(len(rows), np.bool_)
    tied[1:] |= same
    tied[:-1] |= same
    pos = np.flatnonzero(tied)
    sub = trades[rows[pos]].select("chat_id", "message_id", "chain", "address").with_columns(
        *(pl.Series(f"_k{j}", k[pos]) for j, k in enumerate(keys)), pl.Series("_i", np.arange(len(pos))))
    order = sub.sort(*(f"_k{j}" for j in range(len(keys))), "chat_id", "message_id", "chain", "address")["_i"]
    out = rows.copy()
    out[pos] = rows[pos[order.to_numpy()]]
    return out


def prepare(trades: pl.DataFrame, strategies: list[Strategy]) -> tuple[BookInputs, np.ndarray, np.ndarray]:
    """The engine's inputs for `strategies` (rows of other strategies are ignored); and per input row its
    strategy index (-1: not one of them) and its code (REPEAT, NO_ENTRY, or -1: the book decides)."""
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError("strategy names must be unique")
    # a result: net_return as the rollups read it (or net_multiple when the frame has no net_return)
    result = "net_return" if "net_return" in trades.columns else "net_multiple"
    t = _with_defaults(trades)
    entry = _epoch("entry_ts")
    eligible = ((pl.col("exit_reason") != "no_entry") & pl.col(result).is_not_null() & entry.is_not_null()
                # a unit-size trade's cash flows are its net multiple
                & (pl.col("size_usd").is_not_null() | pl.col("net_multiple").is_not_null()))
    xyk = (pl.col("impact") == "xyk") & (pl.col("pool_usd") > 0)
    cols = t.select(
        pl.col("strategy").replace_strict(names, list(range(len(names))), default=-1, return_dtype=pl.Int64)
        .alias("s"),
        entry.fill_null(0).alias("ets"), _epoch("exit_ts").fill_null(entry).fill_null(0).alias("xts"),
        _epoch("call_ts").alias("cts"),
        pl.when(pl.col("repeat").fill_null(False)).then(REPEAT).when(eligible.fill_null(False)).then(-1)
        .otherwise(NO_ENTRY).cast(pl.Int8).alias("code"),
        pl.when(pl.col("size_usd").is_null()).then(UNIT).when(xyk.fill_null(False)).then(XYK).otherwise(SIZED)
        .cast(pl.Int8).alias("kind"),
        (pl.col("liquidity_source") == "bonding_curve").fill_null(False).alias("curve"),
        *(pl.col(c).cast(pl.Float64).fill_null(float("nan"))
          for c in ("net_multiple", "pool_usd", "entry_price")),
    )
    arr = {c: cols[c].to_numpy() for c in cols.columns}
    s, ets, cts = arr["s"], arr["ets"], arr["cts"]
    book = np.flatnonzero((s >= 0) & (arr["code"] == -1))
    rows = book[np.lexsort((cts[book], ets[book], s[book]))]
    rows = _break_ties(t, rows, [s[rows], ets[rows], cts[rows]])
    toks = t.select("chain", "address").unique().with_row_index("_tok")
    tok = t.select("chain", "address").join(toks, on=["chain", "address"], how="left",
                                            maintain_order="left")["_tok"].to_numpy().astype(np.int64)
    # the pool's fee: the strategy's, else by venue
    dex = np.array([np.nan if st.dex_fee_bps is None else st.dex_fee_bps / 1e4 for st in strategies]
                   + [np.nan])
    phi = dex[s[rows]]
    venue = np.where(arr["curve"][rows], PUMP_FEE_BPS / 1e4, DEFAULT_DEX_FEE_BPS / 1e4)
    phi = np.where(np.isnan(phi), venue, phi)
    strat_lo = np.zeros(len(strategies) + 1, np.int64)
    np.cumsum(np.bincount(s[rows], minlength=len(strategies)), out=strat_lo[1:])
    fp, ip = _strategy_params(strategies)
    fills = parse_fills(t["fills"])
    inputs = BookInputs(
        strat_lo=strat_lo, fparams=fp, iparams=ip, row=rows,
        entry_ts=ets[rows].astype(np.int64), exit_ts=arr["xts"][rows].astype(np.int64), token=tok[rows],
        kind=arr["kind"][rows].astype(np.int8), net_multiple=arr["net_multiple"][rows], dex_fee=phi,
        pool_usd=arr["pool_usd"][rows], entry_price=arr["entry_price"][rows],
        fill_lo=fills.start[rows], fill_hi=fills.start[rows + 1], fills=fills,
        n_tokens=max(len(toks), 1),
    )
    return inputs, s, arr["code"]


# ---- engine -----------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _entry_cost(i, stake, kind, flo, fhi, fpx, ffr, fbuy, y0, pe, phi, fee, slip, fixed):
    """(cost, tokens bought) of trade i at `stake`."""
    if kind == UNIT:
        return stake, 0.0
    cost = 0.0
    tokens = 0.0
    for j in range(flo[i], fhi[i]):
        if not fbuy[j]:
            continue
        a = ffr[j] * stake
        if kind == XYK:
            x, y = pool_at(y0, pe, fpx[j])
            got = buy_tokens(a, x, y, phi)
        else:
            got = a / fpx[j]
        tokens += got / (1.0 + slip)
        cost += a * (1.0 + fee) + fixed
    return cost, tokens


@njit(cache=True, nogil=True)
def _sell_cash(i, k, last, stake, kind, tokens, gsum, nm, fpx, ffr, y0, pe, phi, fee, slip, fixed):
    """Cash of trade i's sell k (k < 0: the close of a trade without sells); `last`: it closes the trade."""
    if kind == UNIT:
        if k < 0:
            return stake * nm
        if gsum > 0.0:
            return stake * nm * (ffr[k] * fpx[k]) / gsum
        return stake * nm if last else 0.0
    if k < 0:
        return 0.0
    t = ffr[k] * tokens
    if kind == XYK:
        x, y = pool_at(y0, pe, fpx[k])
        g = sell_usd(t, x, y, phi)
    else:
        g = t * fpx[k]
    return g * (1.0 - slip) * (1.0 - fee) - fixed


@njit(cache=True, nogil=True, inline="always")
def _heap_less(ta, fa, tb, fb):
    return ta < tb or (ta == tb and fa < fb)


@njit(cache=True, nogil=True)
def _heap_push(hts, hf, htr, n, t, f, tr):
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if not _heap_less(t, f, hts[p], hf[p]):
            break
        hts[i], hf[i], htr[i] = hts[p], hf[p], htr[p]
        i = p
    hts[i], hf[i], htr[i] = t, f, tr
    return n + 1


@njit(cache=True, nogil=True)
def _heap_pop(hts, hf, htr, n):
    """Drop the root (read it first); returns the new size."""
    n -= 1
    t, f, tr = hts[n], hf[n], htr[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _heap_less(hts[c + 1], hf[c + 1], hts[c], hf[c]):
            c += 1
        if not _heap_less(hts[c], hf[c], t, f):
            break
        hts[i], hf[i], htr[i] = hts[c], hf[c], htr[c]
        i = c
    if n > 0:
        hts[i], hf[i], htr[i] = t, f, tr
    return n


@njit(cache=True, nogil=True)
def _close_instant(t0, t1, eq, oc, acc, eod, eod_on, d0, blo, bspan, bmin_t, bmin_v, bmax_t, bmax_v):
    """Record the state after all events of instant t0 (equity eq, open cost oc), held until t1."""
    if np.isnan(acc[3]):
        acc[3] = eq
    acc[0] = max(acc[0], eq)
    dd = 1.0 - eq / acc[0]
    acc[1] = max(acc[1], dd)
    day = t0 // DAY_S - d0
    eod[day] = eq
    eod_on[day] = True
    acc[2] += (t1 - t0) * (oc / eq if eq > 0.0 else 1.0)
    nb = len(bmin_t)
    b = min(max((t0 - blo) * nb // bspan, 0), nb - 1)
    if bmin_t[b] < 0 or eq < bmin_v[b]:
        bmin_t[b], bmin_v[b] = t0, eq
    if bmax_t[b] < 0 or eq > bmax_v[b]:
        bmax_t[b], bmax_v[b] = t0, eq


@njit(cache=True, nogil=True)
def _book(s, strat_lo, fparams, iparams, ets, xts, tok, kind, nm, phi, y0, pe, flo, fhi, fts, fpx, ffr, fbuy,
          n_tokens, dec, o_stake, o_cost, o_proc, o_eq, o_open, tokens, left, gsum, figs, counts, cv_t, cv_v,
          cv_n):
    """The event loop of strategy s over its trades [strat_lo[s], strat_lo[s + 1])."""
    lo, hi = strat_lo[s], strat_lo[s + 1]
    bankroll, stake, share, fee, slip, fixed = (fparams[s, 0], fparams[s, 1], fparams[s, 2], fparams[s, 3],
                                                fparams[s, 4], fparams[s, 5])
    by_equity, max_open, max_per_token = iparams[s, 0] == 1, iparams[s, 1], iparams[s, 2]
    figs[s, :] = np.nan
    figs[s, 0] = bankroll
    figs[s, 1] = 0.0
    counts[s, :] = 0
    cv_n[s] = 0
    if hi == lo:
        return
    # bounds of the strategy's events: day array and curve buckets
    tmin, tmax, most_sells = ets[lo], ets[lo], 1
    for i in range(lo, hi):
        tmin = min(tmin, ets[i])
        tmax = max(tmax, ets[i], xts[i])
        n_sells = 0
        for k in range(flo[i], fhi[i]):
            if not fbuy[k]:
                n_sells += 1
                tmax = max(tmax, fts[k])
        most_sells = max(most_sells, n_sells)
    d0 = tmin // DAY_S
    eod = np.empty(tmax // DAY_S - d0 + 1)
    eod_on = np.zeros(len(eod), np.bool_)
    nb = (cv_t.shape[1] - 2) // 2
    bmin_t = np.full(nb, -1, np.int64)
    bmax_t = np.full(nb, -1, np.int64)
    bmin_v = np.empty(nb)
    bmax_v = np.empty(nb)
    bspan = tmax - tmin + 1
    cap = min(max_open, hi - lo) * most_sells + 1
    hts = np.empty(cap, np.int64)
    hf = np.empty(cap, np.int64)
    htr = np.empty(cap, np.int64)
    hn = 0
    held = np.zeros(n_tokens, np.int64)
    acc = np.array([bankroll, 0.0, 0.0, np.nan])  # running high, max drawdown, exposure integral, first point
    cash, oc, n_open = bankroll, 0.0, 0
    started = False
    cur, first = 0, 0
    n_taken = n_cash = n_max = n_hold = 0
    i = lo
    while i < hi or hn > 0:
        # next event: the earliest pending sell if it is due at or before the next call (sells first)
        if hn > 0 and (i >= hi or hts[0] <= ets[i]):
            et, k, j = hts[0], hf[0], htr[0]
            hn = _heap_pop(hts, hf, htr, hn)
            if et != cur:
                _close_instant(cur, et, cash + oc, oc, acc, eod, eod_on, d0, tmin, bspan, bmin_t, bmin_v,
                               bmax_t, bmax_v)
                cur = et
            left[j] -= 1
            usd = _sell_cash(j, k, left[j] == 0, o_stake[j], kind[j], tokens[j], gsum[j], nm[j], fpx, ffr,
                             y0[j], pe[j], phi[j], fee, slip, fixed)
            cash += usd
            o_proc[j] += usd
            if left[j] == 0:
                n_open -= 1
                held[tok[j]] -= 1
                oc = oc - o_cost[j] if n_open > 0 else 0.0
            continue
        t = ets[i]
        eq = cash + oc
        o_eq[i] = eq
        o_open[i] = n_open
        if held[tok[i]] >= max_per_token:
            dec[i] = HOLDING_TOKEN
            n_hold += 1
        elif n_open >= max_open:
            dec[i] = MAX_OPEN
            n_max += 1
        else:
            st = share * eq if by_equity else stake
            o_stake[i] = st
            cost, got = _entry_cost(i, st, kind[i], flo, fhi, fpx, ffr, fbuy, y0[i], pe[i], phi[i], fee, slip,
                                    fixed)
            if not (st > 0.0 and cost <= cash):
                dec[i] = NO_CASH
                n_cash += 1
            else:
                if not started:
                    started, cur, first = True, t, t
                elif t != cur:
                    _close_instant(cur, t, eq, oc, acc, eod, eod_on, d0, tmin, bspan, bmin_t, bmin_v, bmax_t,
                                   bmax_v)
                    cur = t
                dec[i] = TAKEN
                n_taken += 1
                cash -= cost
                oc += cost
                n_open += 1
                held[tok[i]] += 1
                o_cost[i] = cost
                o_proc[i] = 0.0
                tokens[i] = got
                g, n_sells = 0.0, 0
                for k in range(flo[i], fhi[i]):
                    if not fbuy[k]:
                        g += ffr[k] * fpx[k]
                        n_sells += 1
                        # a sell stamped before the entry is due at once (time never runs backwards)
                        hn = _heap_push(hts, hf, htr, hn, max(fts[k], t), k, i)
                gsum[i] = g
                if n_sells == 0:
                    hn = _heap_push(hts, hf, htr, hn, max(xts[i], t), -1 - i, i)
                    n_sells = 1
                left[i] = n_sells
        i += 1
    counts[s, 0], counts[s, 1], counts[s, 2], counts[s, 3] = n_taken, n_cash, n_max, n_hold
    final = cash + oc
    figs[s, 0] = final
    if not started:
        return
    _close_instant(cur, cur, final, oc, acc, eod, eod_on, d0, tmin, bspan, bmin_t, bmin_v, bmax_t, bmax_v)
    last = cur
    figs[s, 1] = acc[1]
    figs[s, 6], figs[s, 7] = first, last
    span = last - first
    if span > 0:
        figs[s, 5] = acc[2] / span
    days = span / DAY_S
    if days >= 1.0:
        ratio = final / bankroll
        figs[s, 2] = ratio ** (365.0 / days) - 1.0 if ratio > 0.0 else -1.0
    # daily returns: end-of-day equity, a day without events keeping the day before's
    da, db = first // DAY_S - d0, last // DAY_S - d0
    n = db - da + 1
    r = np.empty(n)
    prev = bankroll
    for d in range(da, db + 1):
        e = eod[d] if eod_on[d] else prev
        r[d - da] = e / prev - 1.0
        prev = e
    mean = r.sum() / n
    down = 0.0
    n_down = 0
    for x in r:
        if x < 0.0:
            down += x * x
            n_down += 1
    if n >= 2:
        var = 0.0
        for x in r:
            var += (x - mean) ** 2
        sd = math.sqrt(var / (n - 1))
        if sd > 0.0:
            figs[s, 3] = mean / sd * _ANNUAL
    if n_down > 0:
        figs[s, 4] = mean / math.sqrt(down / n) * _ANNUAL
    figs[s, 8] = n
    # the thinned curve: first point, the low and high of each bucket in time order, last point
    m = 0
    cv_t[s, m], cv_v[s, m] = first, acc[3]
    m += 1
    for b in range(nb):
        if bmin_t[b] < 0:
            continue
        if bmin_t[b] <= bmax_t[b]:
            cv_t[s, m], cv_v[s, m] = bmin_t[b], bmin_v[b]
            cv_t[s, m + 1], cv_v[s, m + 1] = bmax_t[b], bmax_v[b]
        else:
            cv_t[s, m], cv_v[s, m] = bmax_t[b], bmax_v[b]
            cv_t[s, m + 1], cv_v[s, m + 1] = bmin_t[b], bmin_v[b]
        m += 2
    cv_t[s, m], cv_v[s, m] = last, final
    cv_n[s] = m + 1


@njit(cache=True, nogil=True)
def _books_serial(strat_lo, *rest):
    for s in range(len(strat_lo) - 1):
        _book(s, strat_lo, *rest)


@njit(cache=True, nogil=True, parallel=True)
def _books_parallel(strat_lo, *rest):
    # each strategy writes only its own trades' slots and its own rows: no sharing between threads
    for s in prange(len(strat_lo) - 1):
        _book(s, strat_lo, *rest)


@dataclass(frozen=True)
class EngineOut:
    """Per trade (engine order): decision code, stake, cost, proceeds (nan when not taken), equity and open
    positions when the call came. Per strategy: figs columns final, max drawdown, cagr, sharpe, sortino,
    exposure, first entry, last fill, days (nan = null); counts columns taken, no_cash, max_open,
    holding_token; the thinned curve in curve_ts / curve_equity [s, :curve_n[s]]."""

    decision: np.ndarray
    stake: np.ndarray
    cost: np.ndarray
    proceeds: np.ndarray
    equity_at_entry: np.ndarray
    open_positions: np.ndarray
    figs: np.ndarray
    counts: np.ndarray
    curve_ts: np.ndarray
    curve_equity: np.ndarray
    curve_n: np.ndarray


def run_engine(inputs: BookInputs, *, parallel: bool | None = None,
               buckets: int = CURVE_BUCKETS) -> EngineOut:
    """Every strategy's book. parallel: None = strategies over numba's threads when there are several
    strategies and threads. Results are identical either way."""
    n, ns = inputs.n_trades, len(inputs.strat_lo) - 1
    width = 2 * buckets + 2
    out = EngineOut(np.full(n, -1, np.int8), np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                    np.full(n, np.nan), np.zeros(n, np.int64), np.empty((ns, 9)), np.zeros((ns, 4), np.int64),
                    np.zeros((ns, width), np.int64), np.zeros((ns, width)), np.zeros(ns, np.int64))
    f = inputs.fills
    scratch = (np.zeros(n), np.zeros(n, np.int64), np.zeros(n))  # tokens bought, sells left, gross of sells
    args = (inputs.strat_lo, inputs.fparams, inputs.iparams, inputs.entry_ts, inputs.exit_ts, inputs.token,
            inputs.kind, inputs.net_multiple, inputs.dex_fee, inputs.pool_usd, inputs.entry_price,
            inputs.fill_lo, inputs.fill_hi, f.ts, f.price, f.fraction, f.entry, np.int64(inputs.n_tokens),
            out.decision, out.stake, out.cost, out.proceeds, out.equity_at_entry, out.open_positions,
            *scratch, out.figs, out.counts, out.curve_ts, out.curve_equity, out.curve_n)
    if parallel is None:
        parallel = ns > 1 and numba.get_num_threads() > 1
    if parallel and _PARALLEL_LOCK.acquire(blocking=False):
        try:
            _books_parallel(*args)
        finally:
            _PARALLEL_LOCK.release()
    else:
        _books_serial(*args)
    return out


# ---- frames -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Books:
    """results: PORTFOLIO_RESULTS rows; summary: one row per strategy (SUMMARY_COLUMNS); equity: the
    event-level equity curve (strategy, ts, equity), thinned to the low and high of CURVE_BUCKETS time
    buckets plus the first and last points."""

    results: pl.DataFrame
    summary: pl.DataFrame
    equity: pl.DataFrame


def _ts(values: np.ndarray) -> pl.Series:
    return pl.from_epoch(pl.Series(values, dtype=pl.Int64), time_unit="s").dt.replace_time_zone("UTC")


def _frame_dtypes() -> dict[str, pl.DataType]:
    """PORTFOLIO_RESULTS as polars dtypes (timestamps in microseconds, as simulate() gives them)."""
    out = {}
    for name, dtype in pl.from_arrow(PORTFOLIO_RESULTS.empty()).schema.items():
        out[name] = pl.Datetime("us", "UTC") if isinstance(dtype, pl.Datetime) else dtype
    return out


def run_books(trades: pl.DataFrame, strategies: list[Strategy], *, parallel: bool | None = None) -> Books:
    """One book per strategy of `strategies` over its SIMULATION_RESULTS rows in `trades` (one strategy file,
    all days; rows of other strategies are ignored). docs/semantics.md#bankroll. `results` keeps the rows in
    the order of `trades`."""
    inputs, strat, code = prepare(trades, strategies)
    eng = run_engine(inputs, parallel=parallel)
    names = [s.name for s in strategies]
    n = len(strat)

    def spread(values: np.ndarray, fill=np.nan) -> np.ndarray:
        """Engine outputs (book order) onto every input row."""
        full = np.full(n, fill, dtype=values.dtype)
        full[inputs.row] = values
        return full

    code = code.copy()
    code[inputs.row] = eng.decision
    cost, proceeds = spread(eng.cost), spread(eng.proceeds)
    t = _with_defaults(trades)
    keep = strat >= 0
    results = t.select(
        "strategy_file", "strategy", "chat_id", "message_id", "chain", "address", "caller_id", "call_ts",
        "entry_ts", "exit_ts",
    ).with_columns(
        pl.Series("decision", code).replace_strict(list(range(len(DECISIONS))), list(DECISIONS),
                                                   return_dtype=pl.String),
        pl.Series("stake_usd", spread(eng.stake), nan_to_null=True),
        pl.Series("cost_usd", cost, nan_to_null=True),
        pl.Series("proceeds_usd", proceeds, nan_to_null=True),
        pl.Series("pnl_usd", proceeds - cost, nan_to_null=True),
        pl.Series("equity_at_entry", spread(eng.equity_at_entry), nan_to_null=True),
        pl.Series("open_positions", spread(eng.open_positions, -1)),
        pl.Series("_taken", code == TAKEN),
    ).with_columns(
        pl.when("_taken").then(pl.col("entry_ts")).alias("entry_ts"),
        pl.when("_taken").then(pl.col("exit_ts")).alias("exit_ts"),
        pl.when(pl.col("open_positions") >= 0).then(pl.col("open_positions")).alias("open_positions"),
    )
    if not keep.all():
        results = results.filter(pl.Series(keep))
    results = results.select(pl.col(c).cast(d) for c, d in _frame_dtypes().items())
    fg, ct = eng.figs, eng.counts
    bankroll = inputs.fparams[:, 0]
    summary = pl.DataFrame({
        "strategy": names,
        "book_return": fg[:, 0] / bankroll - 1.0,
        "book_max_drawdown": fg[:, 1],
        "book_cagr": pl.Series(fg[:, 2], nan_to_null=True),
        "book_sharpe": pl.Series(fg[:, 3], nan_to_null=True),
        "book_sortino": pl.Series(fg[:, 4], nan_to_null=True),
        "book_exposure": pl.Series(fg[:, 5], nan_to_null=True),
        "book_trades": ct[:, 0],
        "book_skipped": ct[:, 1:].sum(axis=1),
        "final_equity_usd": fg[:, 0],
        "bankroll_usd": bankroll,
    }).select(SUMMARY_COLUMNS)
    reps = eng.curve_n
    keep = np.arange(eng.curve_ts.shape[1])[None, :] < reps[:, None]
    equity = pl.DataFrame({
        "strategy": pl.Series(np.repeat(np.array(names, dtype=object), reps), dtype=pl.String),
        "ts": _ts(eng.curve_ts[keep]),
        "equity": eng.curve_equity[keep],
    }).unique(maintain_order=True)
    return Books(results, summary, equity)


def skip_counts(results: pl.DataFrame) -> pl.DataFrame:
    """Per strategy, the calls its book skipped for each reason: skipped_no_cash, _max_open, _holding_token."""
    return results.group_by("strategy").agg(*(
        (pl.col("decision") == d).sum().cast(pl.Int64).alias(f"skipped_{d}")
        for d in ("no_cash", "max_open", "holding_token")))
