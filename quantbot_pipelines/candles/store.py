"""Reading stored candles back by token ranges: what makes "never fetch what is stored" cheap."""

from __future__ import annotations

import datetime as dt

import polars as pl

from quantbot_pipelines.schemas import RAW_CANDLES
from quantbot_pipelines.warehouse import Warehouse


def _ts(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(int(value), dt.UTC)


def stored_candles(warehouse: Warehouse, ranges: pl.DataFrame) -> pl.DataFrame:
    """Stored RAW_CANDLES rows inside `ranges` (chain, address, interval, start_ts, end_ts; end exclusive),
    from any day partition, one row per (chain, address, interval, open_ts)."""
    if ranges.is_empty():
        return pl.from_arrow(RAW_CANDLES.empty())
    r = ranges.with_columns(
        *(pl.col(c).dt.epoch("s") if ranges.schema[c].is_temporal() else pl.col(c).cast(pl.Int64)
          for c in ("start_ts", "end_ts")))
    lo, hi = _ts(r["start_ts"].min()), _ts(r["end_ts"].max())
    found = warehouse.read(RAW_CANDLES, where=[
        ("address", "in", r["address"].unique().to_list()),
        ("open_ts", ">=", lo), ("open_ts", "<", hi),
    ])
    if found.is_empty():
        return found
    inside = (found.with_columns(pl.col("open_ts").dt.epoch("s").alias("_t"))
              .join(r.select("chain", "address", "interval", "start_ts", "end_ts"),
                    on=["chain", "address", "interval"], how="inner")
              .filter((pl.col("_t") >= pl.col("start_ts")) & (pl.col("_t") < pl.col("end_ts"))))
    return (inside.select(RAW_CANDLES.columns)
            .unique(subset=["chain", "address", "interval", "open_ts"], keep="first")
            .sort("chain", "address", "interval", "open_ts"))
