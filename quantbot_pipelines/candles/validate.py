"""Which candles may be stored: the rule of docs/semantics.md#valid-candles, in one place.

Every source's answer passes through `check_candles` before anything is stored (collect.py applies it to each
answer as it arrives), so no source can store a candle the rule refuses. A candle is valid when its open time is
on the interval grid, its prices are finite and positive with `low <= min(open, close)` and
`max(open, close) <= high`, and each of its volumes (`volume_usd`, `volume_tokens`) is null or a finite number
`>= 0`. Candles outside the window asked
belong to no request and are dropped without being counted (a GeckoTerminal page or a file holds more than the
window). Every other candle that fails is dropped and counted under the first rule it breaks, in the order of
`REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from quantbot_pipelines.candles.base import CANDLE_COLUMNS, CandleRequest, empty_candles, interval_seconds

PRICES = ("open", "high", "low", "close")
# a volume in tokens follows the rules of the USD volume: null is not reported, anything else a number >= 0
VOLUMES = ("volume_usd", "volume_tokens")

# why a candle was dropped, in the order the rules are tried (a candle counts once, under the first it breaks)
REASONS = (
    "not_a_number",              # open time or a price missing, null, or not a number
    "non_finite",                # NaN or infinite price or volume (USD or tokens)
    "non_positive_price",        # a price <= 0
    "off_grid",                  # open time not a multiple of the interval
    "low_above_open_or_close",   # low > min(open, close) (high < low always lands here or below)
    "high_below_open_or_close",  # high < max(open, close)
    "negative_volume",           # a volume (USD or tokens) < 0
)


@dataclass
class CheckedCandles:
    valid: pl.DataFrame                                   # CANDLE_COLUMNS, one per open time, sorted
    invalid: dict[str, int] = field(default_factory=dict)  # reason -> candles dropped (non-zero only)

    @property
    def invalid_count(self) -> int:
        return sum(self.invalid.values())


def _as_candles(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's candle columns as CANDLE_COLUMNS types; values that are no number become null."""
    cols = []
    for name, dtype in CANDLE_COLUMNS.items():
        if name in frame.columns:
            cols.append(pl.col(name).cast(dtype, strict=False))
        else:
            cols.append(pl.lit(None, dtype).alias(name))
    return frame.select(cols)


def _reason(step: int) -> pl.Expr:
    price = [pl.col(p) for p in PRICES]
    vols = [pl.col(v) for v in VOLUMES]
    lo_oc = pl.min_horizontal("open", "close")
    hi_oc = pl.max_horizontal("open", "close")
    return (
        pl.when(pl.any_horizontal([pl.col("open_ts").is_null(), *(p.is_null() for p in price)]))
        .then(pl.lit("not_a_number"))
        .when(pl.any_horizontal([*(~p.is_finite() for p in price),
                                 *(v.is_not_null() & ~v.is_finite() for v in vols)]))
        .then(pl.lit("non_finite"))
        .when(pl.any_horizontal([p <= 0 for p in price]))
        .then(pl.lit("non_positive_price"))
        .when(pl.col("open_ts") % step != 0)
        .then(pl.lit("off_grid"))
        .when(pl.col("low") > lo_oc)
        .then(pl.lit("low_above_open_or_close"))
        .when(pl.col("high") < hi_oc)
        .then(pl.lit("high_below_open_or_close"))
        .when(pl.any_horizontal([v.is_not_null() & (v < 0) for v in vols]))
        .then(pl.lit("negative_volume"))
        .otherwise(pl.lit(None, pl.String))
    )


def check_candles(frame: pl.DataFrame | None, request: CandleRequest) -> CheckedCandles:
    """The valid candles of an answer to `request`, and how many were dropped for each reason."""
    if frame is None or frame.is_empty():
        return CheckedCandles(empty_candles())
    step = interval_seconds(request.interval)
    ts = pl.col("open_ts")
    # one fused query per answer: it runs for every answer, so its fixed cost matters more than its size
    c = (_as_candles(frame).lazy()
         .filter(ts.is_null() | ((ts >= request.start_ts) & (ts < request.end_ts)))
         .with_columns(_reason(step).alias("_reason")).collect())
    reasons = c.get_column("_reason")
    counts = {}
    if reasons.null_count() < c.height:
        counts = dict(c.filter(pl.col("_reason").is_not_null()).group_by("_reason").len().iter_rows())
        c = c.filter(pl.col("_reason").is_null())
    valid = c.drop("_reason")
    times = valid.get_column("open_ts")
    if times.len() > 1 and not (times.diff().drop_nulls() > 0).all():  # not strictly rising: sort, one per time
        valid = valid.unique(subset="open_ts", keep="first", maintain_order=True).sort("open_ts")
    return CheckedCandles(valid, {r: counts[r] for r in REASONS if counts.get(r)})


def describe_invalid(invalid: dict[str, int]) -> str | None:
    """'3 invalid candles dropped (non_finite 1, off_grid 2)', or None when there are none."""
    n = sum(invalid.values())
    if not n:
        return None
    parts = ", ".join(f"{r} {invalid[r]}" for r in REASONS if invalid.get(r))
    return f"{n} invalid candle{'s' if n != 1 else ''} dropped ({parts})"


def stored_candle_problems(candles: pl.DataFrame) -> dict[str, int]:
    """Counts of stored candles (RAW_CANDLES rows) that break the rules beyond prices and order: a negative or
    non-finite volume (USD or tokens; a candle counts once), an open time off its interval's grid. Stable
    keys; all 0 when consistent."""
    out = {"negative_volume": 0, "non_finite_volume": 0, "open_ts_off_grid": 0}
    if candles.is_empty():
        return out
    ts = pl.col("open_ts").dt.epoch("s") if candles.schema["open_ts"].is_temporal() else pl.col("open_ts")
    steps = {}
    for iv in candles.get_column("interval").unique().to_list():
        try:
            steps[iv] = interval_seconds(iv)
        except (ValueError, TypeError):
            steps[iv] = None
    step = pl.col("interval").replace_strict(steps, return_dtype=pl.Int64, default=None)
    vols = [pl.col(v) for v in VOLUMES if v in candles.columns] or [pl.lit(None, pl.Float64)]
    row = candles.select(
        pl.any_horizontal([v.is_not_null() & v.is_finite() & (v < 0) for v in vols]).sum()
        .alias("negative_volume"),
        pl.any_horizontal([v.is_not_null() & ~v.is_finite() for v in vols]).sum().alias("non_finite_volume"),
        (step.is_null() | (ts % step != 0)).sum().alias("open_ts_off_grid"),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


__all__ = ["REASONS", "CheckedCandles", "check_candles", "describe_invalid", "stored_candle_problems"]
