"""call_windows' two paths agree: warehouse-sorted candles (one scan, no sort) vs the same candles shuffled
(the sorting path), docs/semantics.md#entry-and-window."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from quantbot_pipelines.analytics import token_analytics
from quantbot_pipelines.backtest import CallWindows, call_windows
from quantbot_pipelines.backtest.windows import _sorted_windows, _sorting_windows

T0 = 1_767_225_600
NAMES = ["a", "abcdefghijkl", "abcdefghijklm", "0x" + "f" * 40, "0x" + "f" * 39 + "e", "So1" + "1" * 41]


def market(rng: np.random.Generator, unit: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sorted candles of a few tokens (same address on two chains, long and short names) and calls."""
    tokens = [(ch, a) for ch in ("solana", "base") for a in NAMES if rng.random() < 0.7]
    rows = []
    for ch, a in tokens:
        minutes = np.sort(rng.choice(400, int(rng.integers(1, 300)), replace=False))
        rows += [(ch, a, T0 + int(m) * 60) for m in minutes]
    n = len(rows)
    logp = np.cumsum(rng.normal(0, 0.05, n))
    o = np.exp(logp)
    c = o * np.exp(rng.normal(0, 0.05, n))
    per = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    candles = pl.DataFrame(
        {
            "chain": [r[0] for r in rows],
            "address": pl.Series(NAMES)[[NAMES.index(r[1]) for r in rows]],  # rows share their bytes
            "open_ts": pl.Series([r[2] * per for r in rows]).cast(pl.Datetime(unit, "UTC")),
            "open": o,
            "high": np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.3, n))),
            "low": np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.1, n))),
            "close": c,
        }
    )
    picks = [tokens[i] for i in rng.integers(0, len(tokens), 40)] + [("solana", "ghost")]
    calls = pl.DataFrame(
        {
            "chat_id": "c",
            "message_id": np.arange(len(picks), dtype=np.int64),
            "chain": [p[0] for p in picks],
            "address": [p[1] for p in picks],
            "call_ts": pl.Series((T0 + rng.integers(-300, 400 * 60, len(picks))) * 1000).cast(
                pl.Datetime("ms", "UTC")
            ),
        }
    )
    return calls, candles


@pytest.mark.parametrize(("seed", "unit"), [(0, "ms"), (1, "us"), (2, "ns"), (3, "ms")])
def test_sorted_scan_equals_the_sorting_path(seed, unit):
    rng = np.random.default_rng(seed)
    calls, candles = market(rng, unit)
    shuffled = candles.sample(fraction=1.0, shuffle=True, seed=seed)
    kw = {"entry_delay_s": 30, "max_entry_gap_s": 300, "horizon_s": 3 * 3600}
    fast, slow = call_windows(calls, candles, **kw), call_windows(calls, shuffled, **kw)
    assert (fast.status == "ok").sum() > 10 and (fast.status == "no_candles").sum() >= 1
    assert list(fast.status) == list(slow.status) and len(fast.ts) == len(slow.ts)
    for f in ("entry_ts", "last_ts"):
        assert np.array_equal(getattr(fast, f), getattr(slow, f)), f
    assert np.array_equal(fast.entry_price, slow.entry_price, equal_nan=True)
    for k in range(fast.n_calls):  # tokens may sit elsewhere in the arrays: compare each window's candles
        a, b = slice(fast.start[k], fast.stop[k]), slice(slow.start[k], slow.stop[k])
        assert np.array_equal(fast.ts[a], slow.ts[b]) and np.array_equal(fast.low[a], slow.low[b])
    a = token_analytics(calls, candles, now=T0 + 86400, **kw)
    b = token_analytics(calls, shuffled, now=T0 + 86400, **kw)
    assert_frame_equal(a, b, check_exact=True)


def test_same_second_twice_falls_back_and_keeps_the_first():
    """Two candles in the same second (ms apart) are duplicates in seconds: the first in input order wins."""
    candles = pl.DataFrame(
        {
            "chain": "solana",
            "address": "tok",
            "open_ts": pl.Series([T0 * 1000, T0 * 1000 + 500, (T0 + 60) * 1000]).cast(
                pl.Datetime("ms", "UTC")
            ),
            "open": [1.0, 9.0, 1.0],
            "high": [2.0, 9.0, 3.0],
            "low": [1.0, 9.0, 1.0],
            "close": [1.0, 9.0, 1.0],
        }
    )
    calls = pl.DataFrame(
        {
            "chain": ["solana"],
            "address": ["tok"],
            "call_ts": pl.Series([T0 * 1000]).cast(pl.Datetime("ms", "UTC")),
        }
    )
    p = call_windows(calls, candles, horizon_s=600)
    assert list(p.ts) == [T0, T0 + 60] and p.entry_price[0] == 1.0 and list(p.high) == [2.0, 3.0]


def test_empty_candles_and_calls():
    calls, candles = market(np.random.default_rng(9), "ms")
    p = call_windows(calls, candles.clear())
    assert (p.status == "no_candles").all() and (p.stop == 0).all()
    assert token_analytics(calls.clear(), candles, now=T0).height == 0



PER_CALL = ("start", "stop", "entry_ts", "entry_price", "ok", "has_any", "last_ts")
PRICES = ("open", "high", "low", "close")


@pytest.mark.parametrize(("seed", "unit"), [(4, "ms"), (5, "us"), (6, "ns")])
def test_sorted_and_sorting_paths_give_identical_windows(seed, unit):
    rng = np.random.default_rng(seed)
    calls, candles = market(rng, unit)
    keys = ["chain", "address"]
    args = (30, 300, 3 * 3600)  # entry delay, max entry gap, horizon
    kw = dict(zip(("entry_delay_s", "max_entry_gap_s", "horizon_s"), args, strict=True))
    c = candles.select(*keys, "open_ts", "open", "high", "low", "close")
    fast = _sorted_windows(calls, c, keys, *args)
    slow = _sorting_windows(calls, c, keys, *args)
    assert isinstance(fast, CallWindows) and fast.per > 1 and slow.per == 1
    # the same sorted candles: the same layout, field by field
    assert np.array_equal(fast.ts, slow.ts)
    for f in PER_CALL + PRICES:
        assert np.array_equal(getattr(fast, f), getattr(slow, f), equal_nan=True), f
    assert list(fast.status) == list(slow.status)

    # shuffled, with some rows twice: the fast path declines and the sorting path gives every call the same
    # entry and the same window candles (tokens may sit elsewhere in the arrays)
    shuffled = pl.concat([candles, candles.head(60)]).sample(fraction=1.0, shuffle=True, seed=seed)
    assert _sorted_windows(calls, shuffled.select(c.columns), keys, *args) is None
    w = call_windows(calls, shuffled, **kw)
    assert len(w.ts) == len(fast.ts) and list(w.status) == list(fast.status)
    for f in ("entry_ts", "entry_price", "ok", "has_any", "last_ts"):
        assert np.array_equal(getattr(w, f), getattr(fast, f), equal_nan=True), f
    assert np.array_equal(w.stop - w.start, fast.stop - fast.start)
    for k in range(w.n_calls):
        a, b = slice(w.start[k], w.stop[k]), slice(fast.start[k], fast.stop[k])
        for f in ("ts", *PRICES):
            assert np.array_equal(getattr(w, f)[a], getattr(fast, f)[b]), (k, f)
    for x in (w, fast):
        assert np.array_equal(x.seconds(x.start), x.ts[x.start])
