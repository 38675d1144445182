"""Rollups against a naive reference (buckets aligned to UTC epoch multiples, gaps stay gaps)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from quantbot_pipelines.analytics import aggregate_candles, rollup_mismatches
from quantbot_pipelines.candles.base import interval_seconds
from quantbot_pipelines.schemas import AGGREGATED_CANDLES, RAW_CANDLES
from tests.analytics._data import T0, candles

INTERVALS = ["5m", "15m", "1h", "4h", "1d"]


def random_raw(seed: int, tokens: int = 6, minutes: int = 3000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(tokens):
        start = T0 + int(rng.integers(-600, 600)) * 60
        keep = rng.random(minutes) < rng.uniform(0.3, 0.95)  # gaps, some long
        keep[int(rng.integers(0, minutes - 300)) :][:240] = False
        ts = start + np.flatnonzero(keep) * 60
        n = len(ts)
        o = rng.uniform(0.5, 2, n)
        c = rng.uniform(0.5, 2, n)
        vol = rng.uniform(0, 100, n)
        frames.append(
            pl.DataFrame(
                {
                    "day": dt.date(2026, 1, 1),
                    "chain": "solana" if t % 2 else "base",
                    "address": f"Tok{t}" if t % 2 else f"0x{t:040x}",
                    "interval": "1m",
                    "open_ts": pl.Series(ts * 1000).cast(pl.Datetime("ms", "UTC")),
                    "open": o,
                    "high": np.maximum(o, c) * 1.1,
                    "low": np.minimum(o, c) * 0.9,
                    "close": c,
                    "volume_usd": pl.Series(vol).set(pl.Series(rng.random(n) < 0.05), None),
                    "source": "synthetic",
                    # missing where the USD volume is not, and the other way round
                    "volume_tokens": pl.Series(vol * rng.uniform(1e3, 1e6)).set(
                        pl.Series(rng.random(n) < 0.1), None),
                }
            )
        )
    return pl.concat(frames)


def naive(raw: pl.DataFrame, interval: str) -> pl.DataFrame:
    """Per token in Python: bucket by floor division of epoch seconds."""
    step = interval_seconds(interval)
    out = {}
    for r in raw.sort("open_ts").iter_rows(named=True):
        sec = int(r["open_ts"].timestamp())
        k = (r["chain"], r["address"], sec // step * step)
        if k not in out:
            out[k] = [r["open"], r["high"], r["low"], r["close"], r["volume_usd"], r.get("volume_tokens")]
        else:
            b = out[k]
            b[1], b[2], b[3] = max(b[1], r["high"]), min(b[2], r["low"]), r["close"]
            for i, col in ((4, "volume_usd"), (5, "volume_tokens")):
                if r.get(col) is not None:
                    b[i] = r[col] if b[i] is None else b[i] + r[col]
    return out


@pytest.mark.parametrize("interval", INTERVALS)
def test_matches_naive_reference(interval):
    raw = random_raw(1)
    agg = aggregate_candles(raw, interval)
    want = naive(raw, interval)
    assert agg.height == len(want)
    assert agg.columns == raw.columns and agg.schema == raw.schema
    assert set(agg.get_column("interval")) == {interval}
    for r in agg.iter_rows(named=True):
        sec = int(r["open_ts"].timestamp())
        assert sec % interval_seconds(interval) == 0  # aligned to epoch multiples (1d: 00:00 UTC)
        b = want[(r["chain"], r["address"], sec)]
        assert [r["open"], r["high"], r["low"], r["close"]] == b[:4]
        assert (r["volume_usd"] is None and b[4] is None) or r["volume_usd"] == pytest.approx(b[4], rel=1e-12)
        vt = r["volume_tokens"]
        assert (vt is None and b[5] is None) or vt == pytest.approx(b[5], rel=1e-12)
    AGGREGATED_CANDLES.conform(agg.to_arrow())
    assert rollup_mismatches(raw, agg, interval) == 0


def test_unsorted_input_with_duplicates_and_other_intervals():
    raw = random_raw(2, tokens=4, minutes=800)
    noisy = pl.concat([raw, raw.head(50), raw.head(20).with_columns(pl.lit("5m").alias("interval"))])
    noisy = noisy.sample(fraction=1.0, shuffle=True, seed=5)
    assert (
        aggregate_candles(noisy, "15m")
        .sort("chain", "address", "open_ts")
        .equals(aggregate_candles(raw, "15m").sort("chain", "address", "open_ts"))
    )


def test_gaps_stay_gaps_and_fill_carries_the_close():
    raw = candles({"a": [(0, 1, 2, 0.5, 1.5, 10), (4, 1.5, 1.6, 1.4, 1.55, 5), (16, 2, 3, 1, 2.5, 7)]})
    agg = aggregate_candles(raw, "5m")
    assert agg.get_column("open_ts").dt.epoch("s").to_list() == [T0, T0 + 900]
    first = agg.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"], first["volume_usd"]) == (
        1,
        2,
        0.5,
        1.55,
        15,
    )
    filled = aggregate_candles(raw, "5m", fill=True)
    assert filled.get_column("open_ts").dt.epoch("s").to_list() == [T0, T0 + 300, T0 + 600, T0 + 900]
    for r in filled.slice(1, 2).iter_rows(named=True):
        assert (r["open"], r["high"], r["low"], r["close"], r["volume_usd"]) == (1.55, 1.55, 1.55, 1.55, 0.0)
        assert r["chain"] == "solana" and r["address"] == "a"
    RAW_CANDLES.conform(filled.to_arrow())
    assert "volume_tokens" not in filled.columns  # columns follow the input
    # the volume in tokens sums like the USD one; a filled gap traded none
    tokens = raw.with_columns(pl.Series("volume_tokens", [100.0, None, 70.0]))
    for fill, want in ((False, [100.0, 70.0]), (True, [100.0, 0.0, 0.0, 70.0])):
        assert aggregate_candles(tokens, "5m", fill=fill)["volume_tokens"].to_list() == want
    none = raw.with_columns(pl.lit(None, pl.Float64).alias("volume_tokens"))
    assert aggregate_candles(none, "5m")["volume_tokens"].to_list() == [None, None]


def test_interval_parsing_and_empty_input():
    assert [interval_seconds(i) for i in ["5m", "15m", "1h", "4h", "1d", "2d"]] == [
        300,
        900,
        3600,
        14400,
        86400,
        172800,
    ]
    with pytest.raises(ValueError):
        interval_seconds("5x")
    empty = aggregate_candles(random_raw(3, tokens=1, minutes=400).head(0), "1h")
    assert empty.height == 0 and "open_ts" in empty.columns


def test_rollup_mismatches_finds_missing_extra_and_changed_candles():
    raw = random_raw(4)
    agg = aggregate_candles(raw, "1h")
    assert rollup_mismatches(raw, agg, "1h") == 0
    assert rollup_mismatches(raw, agg.slice(1), "1h") == 1  # missing
    extra = agg.head(1).with_columns(pl.col("open_ts") + pl.duration(days=30))
    assert rollup_mismatches(raw, pl.concat([agg, extra]), "1h") == 1
    changed = agg.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.col("high") * (1 + 1e-9))
        .otherwise(pl.col("high"))
        .alias("high")
    )
    assert rollup_mismatches(raw, changed, "1h") == 3
    # sampling is deterministic and bounded
    assert rollup_mismatches(raw, agg.slice(1), "1h", sample=2) == rollup_mismatches(
        raw, agg.slice(1), "1h", 2
    )
