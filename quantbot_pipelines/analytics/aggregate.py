"""Roll raw 1-minute candles up to coarser intervals (see docs/semantics.md: a
candle with open time t and interval I covers [t, t + I); times are UTC).

Bucket = floor(open_ts / I) x I, i.e. aligned to UTC epoch multiples (1d buckets start at 00:00 UTC).
First open, max high, min low, last close, summed volume (missing volumes are skipped; a bucket whose
volumes are all missing has none), in USD and, when the input has it, in tokens (`volume_tokens`, summed the
same way). Gaps stay gaps; `fill=True` carries the previous close as flat, zero-volume candles between a
token's first and last bucket.

Speed: input sorted by (day, chain, address, open_ts) is rolled up in one linear numba pass with no hashing;
other input is sorted first.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

from quantbot_pipelines.analytics.kernels import bucket_count, bucket_rollup
from quantbot_pipelines.backtest.nb import token_breaks
from quantbot_pipelines.candles.base import interval_seconds

_TS_PER_S = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
BASE_INTERVAL = "1m"


def _group_keys(df: pl.DataFrame) -> list[str]:
    return [k for k in ("day", "chain", "address") if k in df.columns]


@njit(cache=True, nogil=True)
def _bucket_sums(v, ts, step, out_ts, out_row):
    """Per output bucket of bucket_rollup, the sum of the known values of `v` (nan when none is known; 0 for a
    filled gap, as its USD volume): a second volume in one more linear pass, not a second rollup. A bucket's
    first input row is its out_row; a filled gap's out_row is the last row before it, in another bucket."""
    n_out = out_ts.shape[0]
    out = np.zeros(n_out)
    k = 0
    while k < n_out:
        if out_ts[k] != (ts[out_row[k]] // step) * step:  # a filled gap
            k += 1
            continue
        nxt = k + 1
        while nxt < n_out and out_ts[nxt] != (ts[out_row[nxt]] // step) * step:
            nxt += 1
        end = out_row[nxt] if nxt < n_out else ts.shape[0]
        total = 0.0
        known = 0
        for i in range(out_row[k], end):
            if not np.isnan(v[i]):
                total += v[i]
                known += 1
        out[k] = total if known else np.nan
        k = nxt
    return out


def aggregate_candles(raw: pl.DataFrame, interval: str, *, fill: bool = False) -> pl.DataFrame:
    """Raw candles (RAW_CANDLES rows, several tokens and days allowed) -> AGGREGATED_CANDLES rows
    of `interval`.

    Only rows of the base interval (1m) are used when the frame holds several intervals. Columns and dtypes
    follow the input; `interval` is set to the target, `day` and `source` come from the bucket's first row."""
    step_s = interval_seconds(interval)
    if "interval" in raw.columns and raw.height:
        intervals = raw.get_column("interval").unique()
        if intervals.len() > 1:
            raw = raw.filter(pl.col("interval") == BASE_INTERVAL)
    keys = _group_keys(raw)
    ts_dtype = raw.schema["open_ts"]
    if ts_dtype.is_temporal():
        unit = ts_dtype.time_unit
        step = step_s * _TS_PER_S[unit]
        ts = raw.get_column("open_ts").to_physical().to_numpy()
    else:
        step = step_s
        ts = raw.get_column("open_ts").cast(pl.Int64).to_numpy()
    brk, _, contiguous = token_breaks(raw, keys)
    in_order = contiguous and (len(ts) < 2 or bool(np.all((ts[1:] > ts[:-1]) | brk[1:])))
    if not in_order:  # sort, then drop duplicate open times (first kept), and retry on the sorted frame
        raw = (
            raw.with_row_index("_row")
            .sort([*keys, "open_ts", "_row"])
            .unique(subset=[*keys, "open_ts"], keep="first", maintain_order=True)
            .drop("_row")
        )
        return aggregate_candles(raw, interval, fill=fill)

    def f64(name: str) -> np.ndarray:
        if name not in raw.columns:
            return np.full(raw.height, np.nan)
        return raw.get_column(name).cast(pl.Float64).to_numpy()

    o, h, lo, c, v = (f64(n) for n in ("open", "high", "low", "close", "volume_usd"))
    n_out = bucket_count(ts, brk, step, fill)
    out_ts = np.empty(n_out, np.int64)
    out = [np.empty(n_out) for _ in range(5)]
    out_row = np.empty(n_out, np.int64)
    bucket_rollup(ts, brk, o, h, lo, c, v, step, fill, out_ts, *out, out_row)

    tokens = "volume_tokens" in raw.columns
    out_vt = _bucket_sums(f64("volume_tokens"), ts, step, out_ts, out_row) if tokens else None

    labels = [
        k
        for k in raw.columns
        if k not in ("open_ts", "open", "high", "low", "close", "volume_usd", "volume_tokens", "interval")
    ]
    res = raw.select(labels)[out_row] if labels else pl.DataFrame()
    ts_col = pl.Series("open_ts", out_ts)
    ts_col = (
        ts_col.cast(pl.Datetime(ts_dtype.time_unit)).dt.replace_time_zone(ts_dtype.time_zone)
        if ts_dtype.is_temporal()
        else ts_col.cast(ts_dtype)
    )
    cols = {
        "interval": pl.Series("interval", [interval], pl.String).new_from_index(0, n_out),
        "open_ts": ts_col,
        **{name: pl.Series(name, a) for name, a in zip(("open", "high", "low", "close"), out[:4])},
        "volume_usd": pl.Series("volume_usd", out[4]).fill_nan(None),
        **({"volume_tokens": pl.Series("volume_tokens", out_vt).fill_nan(None)} if tokens else {}),
    }
    res = res.with_columns(list(cols.values()))
    order = [k for k in raw.columns if k in res.columns] + [k for k in cols if k not in raw.columns]
    return res.select(order)
