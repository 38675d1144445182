"""Per-call token analytics: how far and how fast the token ran after entry (no costs).

Every figure as defined in docs/semantics.md#entry-and-window, #path-analytics:
- entry (call_windows): first candle opening at or after call_ts + entry_delay, within max_entry_gap;
- ath_multiple = max high in [entry_ts, entry_ts + horizon) / entry_price; ath_ts = open of the first candle
  that made it; time_to_ath_s = ath_ts - entry_ts;
- time_to_Nx_s (N = 1.5, 2, 3, 5, 10) = open of the first candle with high >= N x entry_price - entry_ts;
- min_multiple = min low / entry_price; drawdown_before_2x = min low of the candles before the first 2x
  candle (the whole window if none) / entry_price - 1, 0 when 2x comes on the entry candle itself;
- end_multiple = last close in the window / entry_price;
- window_complete: coverage spans (CANDLE_LEDGER rows ok/no_trades) cover the whole window and the window
  has ended (entry_ts + horizon <= now). Without coverage: the token has a candle at or beyond the window's
  end, or now is beyond it. A call without entry is judged on the window it would have had (from
  call_ts + entry_delay), so `no_entry` is final only once that span is known.

From the call price (docs/semantics.md#caller-stats): call_price = the card's price, else the open of the 1m
candle in progress at the call, else the entry price; x_from_call = max high in the window / call_price;
time_to_peak_s = ath_ts - call_ts; low_from_call = the kernel's low before 2x, run again with the call price
in place of the entry price, / call_price.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import polars as pl
import pyarrow as pa

from quantbot_pipelines.analytics.kernels import merge_spans, window_metrics
from quantbot_pipelines.backtest import (
    DEFAULT_HORIZON_S,
    DEFAULT_MAX_ENTRY_GAP_S,
    CallWindows,
    call_windows,
    epoch_seconds,
)
from quantbot_pipelines.schemas import TOKEN_ANALYTICS

LEVELS = (1.5, 2.0, 3.0, 5.0, 10.0)
LEVEL_COLUMNS = ("time_to_1_5x_s", "time_to_2x_s", "time_to_3x_s", "time_to_5x_s", "time_to_10x_s")
_LEVELS = np.array(LEVELS)
_TWO = LEVELS.index(2.0)
_CALL_COLUMNS = (
    "day",
    "chat_id",
    "message_id",
    "caller_id",
    "caller_name",
    "chain",
    "address",
    "card_ticker",
    "call_ts",
    "first_call",
    "repeat",
)


def path_metrics(paths: CallWindows) -> dict[str, np.ndarray]:
    """The kernel part: metrics per call over packed arrays (nan / -1 where a call has no entry)."""
    ath_i, ath, low_min, low_before, end_close, hit = window_metrics(
        paths.ts_raw,  # unused by the kernel: any int64 array
        paths.high,
        paths.low,
        paths.close,
        paths.start,
        paths.stop,
        paths.entry_price,
        _LEVELS,
        _TWO,
    )
    n_candles, seconds = len(paths.ts_raw), paths.seconds
    p = paths.entry_price
    has = paths.stop > paths.start
    out = {
        "ath_multiple": ath / p,
        "ath_ts": np.where(has, seconds(np.maximum(ath_i, 0)) if n_candles else -1, -1),
        "min_multiple": low_min / p,
        "drawdown_before_2x": low_before / p - 1.0,
        "end_multiple": end_close / p,
        "candles": paths.stop - paths.start,
    }
    out["time_to_ath_s"] = np.where(has, out["ath_ts"] - paths.entry_ts, -1)
    for j, name in enumerate(LEVEL_COLUMNS):
        idx = hit[:, j]
        out[name] = np.where(idx >= 0, seconds(np.maximum(idx, 0)) - paths.entry_ts if n_candles else -1, -1)
    out["peak"] = ath  # prices, for the figures from the call price
    out["low_before_2x"] = low_before
    return out


IN_PROGRESS_S = 60  # the candle in progress at the call is the 1m one with open_ts <= call_ts < open_ts + 60


def _positive(a: np.ndarray) -> np.ndarray:
    return np.isfinite(a) & (a > 0)


# the card's price is taken when it is within this factor of the market's at the call (docs/semantics.md#caller-stats)
CARD_PRICE_TOLERANCE = 2.0


def call_prices(
    calls: pl.DataFrame, candles: pl.DataFrame, paths: CallWindows
) -> tuple[np.ndarray, np.ndarray]:
    """Per call the call price (nan: none) and its source (card, candle, entry; None), as in
    docs/semantics.md#caller-stats. `paths`: the calls' analytics windows (their entry is the last resort)."""
    n = paths.n_calls
    card = np.full(n, np.nan)
    if "card_price_usd" in calls.columns:
        card = calls.get_column("card_price_usd").cast(pl.Float64).fill_null(np.nan).to_numpy()
    candle = np.full(n, np.nan)
    need = paths.has_any
    if need.any():
        # the entry rule with the entry moved back: the first candle opening in [call_ts - 59, call_ts] is the
        # one in progress (open seconds are whole)
        back = IN_PROGRESS_S - 1
        w = call_windows(calls.filter(pl.Series(need)), candles, entry_delay_s=-back, max_entry_gap_s=back,
                         horizon_s=0)
        candle[need] = np.where(w.ok, w.entry_price, np.nan)
    entry = np.where(paths.ok & _positive(paths.entry_price), paths.entry_price, np.nan)
    market = np.where(_positive(candle), candle, entry)
    # a card price far from the market at the call is stale or in other units (quoted in SOL, per 1,000 tokens)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = card / market
    has_card = (paths.has_any & _positive(card) & np.isfinite(market)
                & (ratio >= 1 / CARD_PRICE_TOLERANCE) & (ratio <= CARD_PRICE_TOLERANCE))
    has_candle = ~has_card & _positive(candle)
    has_entry = ~has_card & ~has_candle & np.isfinite(entry)
    price = np.where(has_card, card, np.where(has_candle, candle, np.where(has_entry, paths.entry_price, np.nan)))
    source = np.where(has_card, "card", np.where(has_candle, "candle", np.where(has_entry, "entry", None)))
    return price, source.astype(object)


def from_call(paths: CallWindows, m: dict[str, np.ndarray], call_ts: np.ndarray, price: np.ndarray) -> dict:
    """x_from_call, time_to_peak_s and low_from_call per call (nan / -1 without entry or call price)."""
    valid = paths.ok & np.isfinite(price)
    # the second kernel pass is needed only where the call price is not the entry price
    rerun = valid & (price != paths.entry_price)
    low_before = np.where(valid, m["low_before_2x"], np.nan)
    if rerun.any():
        _, _, _, low2, _, _ = window_metrics(
            paths.ts_raw,
            paths.high,
            paths.low,
            paths.close,
            paths.start,
            np.where(rerun, paths.stop, paths.start),
            np.where(rerun, price, 1.0),
            _LEVELS,
            _TWO,
        )
        low_before = np.where(rerun, low2, low_before)
    return {
        "x_from_call": np.where(valid, m["peak"] / price, np.nan),
        "time_to_peak_s": np.where(valid & (m["ath_ts"] >= 0), m["ath_ts"] - call_ts, -1),
        "low_from_call": low_before / price,
    }


def _covered(
    calls: pl.DataFrame, coverage: pl.DataFrame, interval: str | None, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Whether [a, b) per call lies inside the union of the token's coverage spans."""
    keys = ["chain", "address"]
    cov = coverage
    if interval is not None and "interval" in cov.columns:
        cov = cov.filter(pl.col("interval") == interval)
    tokens = calls.select(keys).unique().with_row_index("tid")
    cov = (
        cov.select(*keys, "start_ts", "end_ts")
        .join(tokens, on=keys, how="inner")
        .with_columns(pl.col("tid").cast(pl.Int64))
    )
    ctid = (
        calls.select(keys)
        .join(tokens, on=keys, how="left", maintain_order="left")
        .get_column("tid")
        .cast(pl.Int64)
        .to_numpy()
    )
    if cov.height == 0:
        return np.zeros(len(a), bool)
    cs, ce = epoch_seconds(cov.get_column("start_ts")), epoch_seconds(cov.get_column("end_ts"))
    ct = cov.get_column("tid").to_numpy()
    order = np.lexsort((cs, ct))
    mt, ms, me = merge_spans(ct[order], cs[order], ce[order])
    shift = np.int64(1) << np.int64(33)
    span_key = mt * shift + ms
    i = np.searchsorted(span_key, ctid * shift + a, side="right") - 1
    j = np.maximum(i, 0)
    return (i >= 0) & (mt[j] == ctid) & (ms[j] <= a) & (me[j] >= b)


def token_analytics(
    calls: pl.DataFrame,
    candles: pl.DataFrame,
    *,
    coverage: pl.DataFrame | None = None,
    entry_delay_s: int = 0,
    max_entry_gap_s: int = DEFAULT_MAX_ENTRY_GAP_S,
    horizon_s: int = DEFAULT_HORIZON_S,
    now: int | None = None,
) -> pl.DataFrame:
    """One TOKEN_ANALYTICS row per call, in the order of `calls`. `candles`: RAW_CANDLES rows, 1m."""
    now = int(time.time()) if now is None else int(now)
    paths = call_windows(
        calls, candles, entry_delay_s=entry_delay_s, max_entry_gap_s=max_entry_gap_s, horizon_s=horizon_s
    )
    m = path_metrics(paths)
    ok = paths.ok
    call_ts = epoch_seconds(calls.get_column("call_ts"))
    call_price, call_price_source = call_prices(calls, candles, paths)
    fc = from_call(paths, m, call_ts, call_price)
    win_start = np.where(ok, paths.entry_ts, call_ts + entry_delay_s)
    win_end = win_start + horizon_s
    ended = win_end <= now
    if coverage is not None:
        interval = None
        if "interval" in candles.columns and candles.height:
            ivs = candles.get_column("interval").unique()
            interval = ivs[0] if ivs.len() == 1 else None
        complete = ended & _covered(calls, coverage, interval, win_start, win_end)
    else:
        last = paths.last_ts
        complete = ended | ((last >= 0) & (last >= win_end))

    # columns as Arrow arrays with validity masks, one frame at the end (no per-column polars passes)
    def ts_col(a: np.ndarray) -> pa.Array:
        missing = ~ok | (a < 0)
        return pa.array(np.where(missing, 0, a) * 1000, pa.timestamp("ms", "UTC"), mask=missing)

    def f(a: np.ndarray) -> pa.Array:
        v = np.where(ok, a, np.nan)
        return pa.array(v, pa.float64(), mask=np.isnan(v))

    def i(a: np.ndarray) -> pa.Array:
        return pa.array(a.astype(np.int64, copy=False), pa.int64(), mask=~ok | (a < 0))

    base = calls.select([c for c in _CALL_COLUMNS if c in calls.columns])
    if "day" not in base.columns:
        base = base.with_columns(pl.col("call_ts").dt.date().alias("day"))
    cols = {
        "status": pa.array(paths.status, pa.string()),
        "entry_ts": ts_col(paths.entry_ts),
        "entry_price": f(paths.entry_price),
        "ath_multiple": f(m["ath_multiple"]),
        "ath_ts": ts_col(m["ath_ts"]),
        "time_to_ath_s": i(m["time_to_ath_s"]),
        **{name: i(m[name]) for name in LEVEL_COLUMNS},
        "min_multiple": f(m["min_multiple"]),
        "drawdown_before_2x": f(m["drawdown_before_2x"]),
        "end_multiple": f(m["end_multiple"]),
        "window_complete": pa.array(complete, pa.bool_()),
        "candles": pa.array(np.where(ok, m["candles"], 0).astype(np.int64, copy=False), pa.int64()),
        "call_price": pa.array(call_price, pa.float64(), mask=np.isnan(call_price)),
        "call_price_source": pa.array(call_price_source, pa.string()),
        "x_from_call": pa.array(fc["x_from_call"], pa.float64(), mask=~ok | np.isnan(fc["x_from_call"])),
        "time_to_peak_s": i(fc["time_to_peak_s"]),
        "low_from_call": pa.array(fc["low_from_call"], pa.float64(), mask=~ok | np.isnan(fc["low_from_call"])),
    }
    base = base.drop([c for c in cols if c in base.columns])
    out = pl.concat([base, pl.from_arrow(pa.table(cols))], how="horizontal")
    schema = _schema()
    missing = [pl.lit(None, schema[c]).alias(c) for c in schema if c not in out.columns]
    return out.with_columns(missing).select(schema.names()).cast(dict(schema))


@functools.cache
def _schema() -> pl.Schema:
    return pl.from_arrow(TOKEN_ANALYTICS.empty()).schema
