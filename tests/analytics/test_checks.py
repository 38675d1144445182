"""candle_problems detects each kind of bad candle."""

from __future__ import annotations

import polars as pl

from quantbot_pipelines.analytics import candle_problems
from tests.analytics._data import T0, candles

GOOD = [(0, 1.0, 1.2, 0.9, 1.1), (1, 1.1, 1.3, 1.0, 1.2), (2, 1.2, 1.2, 1.2, 1.2)]
KEYS = [
    "high_below_open_or_close",
    "low_above_open_or_close",
    "non_positive_price",
    "duplicate_open_ts",
    "open_ts_in_future",
]


def test_clean_candles_have_no_problems():
    got = candle_problems(candles({"a": GOOD, "b": GOOD}), now=T0 + 3600)
    assert list(got) == KEYS and all(v == 0 for v in got.values())
    assert candle_problems(candles({"a": GOOD}).head(0), now=T0) == dict.fromkeys(KEYS, 0)


def test_each_kind_of_bad_candle_is_counted():
    bad = {
        "hi": GOOD + [(3, 1.0, 0.95, 0.9, 0.97)],  # high below open
        "lo": GOOD + [(3, 1.0, 1.1, 0.99, 0.98)],  # low above close
        "zero": GOOD + [(3, 0.0, 1.0, 0.0, 0.5)],  # non-positive open and low
        "neg": GOOD + [(3, 1.0, 1.0, -1.0, 1.0)],
        "future": GOOD + [(120, 1, 1, 1, 1)],
    }
    df = pl.concat([candles(bad), candles({"dup": GOOD + [GOOD[1]]})])
    got = candle_problems(df, now=T0 + 3600)
    assert got == {
        "high_below_open_or_close": 1,
        "low_above_open_or_close": 1,
        "non_positive_price": 2,
        "duplicate_open_ts": 1,
        "open_ts_in_future": 1,
    }


def test_nan_price_counts_as_bad():
    df = candles({"a": GOOD}).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(float("nan")).otherwise(pl.col("close")).alias("close")
    )
    assert candle_problems(df, now=T0 + 3600)["non_positive_price"] == 1


def test_same_open_time_on_another_token_or_interval_is_not_a_duplicate():
    df = pl.concat([candles({"a": GOOD, "b": GOOD}), candles({"a": GOOD}, interval="5m")])
    assert candle_problems(df, now=T0 + 3600)["duplicate_open_ts"] == 0


def test_calls_with_candles_counts_calls_whose_token_has_candles_that_day():
    import datetime as dt

    import polars as pl

    from quantbot_pipelines.analytics import calls_with_candles

    d1, d2 = dt.date(2025, 9, 1), dt.date(2025, 9, 2)
    calls = pl.DataFrame({"day": [d1, d1, d2], "chain": ["solana"] * 3, "address": ["A", "B", "A"]})
    candles = pl.DataFrame({"day": [d1, d1, d1], "chain": ["solana"] * 3, "address": ["A", "A", "C"]})
    assert calls_with_candles(calls, candles) == 1
    assert calls_with_candles(calls.head(0), candles) == 0
