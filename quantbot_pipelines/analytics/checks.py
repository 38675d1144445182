"""Check helpers for the asset checks: impossible candles, and aggregates against a direct rollup."""

from __future__ import annotations

import polars as pl

from quantbot_pipelines.analytics.aggregate import BASE_INTERVAL
from quantbot_pipelines.candles.base import interval_seconds

_PRICES = ("open", "high", "low", "close")


def candle_problems(candles: pl.DataFrame, now: int) -> dict[str, int]:
    """Counts of bad candles by kind (stable keys; all 0 when the candles are consistent)."""
    if candles.height == 0:
        return {
            "high_below_open_or_close": 0,
            "low_above_open_or_close": 0,
            "non_positive_price": 0,
            "duplicate_open_ts": 0,
            "open_ts_in_future": 0,
        }
    key = [k for k in ("chain", "address", "interval", "open_ts") if k in candles.columns]
    ts = pl.col("open_ts").dt.epoch("s") if candles.schema["open_ts"].is_temporal() else pl.col("open_ts")
    # NaN compares as the largest float in polars, so test it on its own
    bad_price = pl.any_horizontal(
        [(pl.col(p) <= 0) | pl.col(p).is_nan() | pl.col(p).is_null() for p in _PRICES]
    )
    counts = candles.select(
        (pl.col("high") < pl.max_horizontal("open", "close")).sum().alias("high_below_open_or_close"),
        (pl.col("low") > pl.min_horizontal("open", "close")).sum().alias("low_above_open_or_close"),
        bad_price.sum().alias("non_positive_price"),
        (pl.len() - pl.struct(key).n_unique()).alias("duplicate_open_ts"),
        (ts > now).sum().alias("open_ts_in_future"),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in counts.items()}


def calls_with_candles(calls: pl.DataFrame, candles: pl.DataFrame) -> int:
    """How many calls (day, chain, address) have at least one candle stored for their day."""
    keys = ["day", "chain", "address"]
    if calls.is_empty():
        return 0
    return calls.join(candles.select(keys).unique(), on=keys, how="semi").height


def _naive_rollup(raw: pl.DataFrame, keys: list[str], step: int) -> pl.DataFrame:
    """Plain polars group_by on the floored epoch second: a code path independent of aggregate_candles."""
    sec = pl.col("open_ts").dt.epoch("s") if raw.schema["open_ts"].is_temporal() else pl.col("open_ts")
    vol = pl.col("volume_usd") if "volume_usd" in raw.columns else pl.lit(None, pl.Float64)
    return (
        raw.with_columns(((sec // step) * step).alias("_bucket"), vol.alias("_v"))
        .unique(subset=[*keys, "open_ts"], keep="first", maintain_order=True)
        .group_by([*keys, "_bucket"])
        .agg(
            pl.col("open").sort_by("open_ts").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").sort_by("open_ts").last(),
            pl.when(pl.col("_v").count() > 0).then(pl.col("_v").sum()).alias("volume_usd"),
        )
    )


def rollup_mismatches(raw: pl.DataFrame, agg: pl.DataFrame, interval: str, sample: int = 200) -> int:
    """Mismatched candles (missing, extra, or a value off by more than 1e-12 relative) between `agg` and a
    direct rollup of `raw`, on up to `sample` tokens picked evenly from the sorted token list
    (deterministic)."""
    step = interval_seconds(interval)
    if "interval" in raw.columns:
        raw = raw.filter(pl.col("interval") == BASE_INTERVAL)
    if "interval" in agg.columns:
        agg = agg.filter(pl.col("interval") == interval)
    keys = [k for k in ("day", "chain", "address") if k in raw.columns and k in agg.columns]
    tokens = pl.concat([raw.select(keys), agg.select(keys)]).unique().sort(keys)
    if tokens.height > sample:
        idx = [i * tokens.height // sample for i in range(sample)]
        tokens = tokens[idx]
    want = _naive_rollup(raw.join(tokens, on=keys, how="semi"), keys, step)
    sec = pl.col("open_ts").dt.epoch("s") if agg.schema["open_ts"].is_temporal() else pl.col("open_ts")
    have = agg.join(tokens, on=keys, how="semi").with_columns(sec.alias("_bucket"))
    cols = [*_PRICES, "volume_usd"]
    j = want.select(*keys, "_bucket", *cols).join(
        have.select(*keys, "_bucket", *[c for c in cols if c in have.columns]),
        on=[*keys, "_bucket"],
        how="full",
        coalesce=True,
        suffix="_agg",
    )
    missing = pl.col("open").is_null() | pl.col("open_agg").is_null()

    def differs(c: str) -> pl.Expr:
        a, b = pl.col(c), pl.col(f"{c}_agg")
        return (a.is_null() != b.is_null()) | (
            (a - b).abs() > 1e-12 * pl.max_horizontal(a.abs(), b.abs())
        ).fill_null(False)

    bad = missing | pl.any_horizontal([differs(c) for c in cols if f"{c}_agg" in j.columns])
    return int(j.select(bad.sum()).item())
