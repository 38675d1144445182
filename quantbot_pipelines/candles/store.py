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


def stored_candles(warehouse: Warehouse, ranges: pl.DataFrame, days: list[dt.date] | None = None) -> pl.DataFrame:
    """Stored RAW_CANDLES rows inside `ranges` (chain, address, interval, start_ts, end_ts; end exclusive),
    one row per (chain, address, interval, open_ts): from the day partitions `days` (those that can hold the
    ranges' tokens, see `token_days`), or from every day partition when `days` is None."""
    if ranges.is_empty():
        return pl.from_arrow(RAW_CANDLES.empty())
    r = ranges.with_columns(
        *(pl.col(c).dt.epoch("s") if ranges.schema[c].is_temporal() else pl.col(c).cast(pl.Int64)
          for c in ("start_ts", "end_ts")))
    lo, hi = _ts(r["start_ts"].min()), _ts(r["end_ts"].max())
    if days is not None and not days:
        return pl.from_arrow(RAW_CANDLES.empty())
    found = warehouse.read(RAW_CANDLES, where=[
        *([("day", "in", sorted(days))] if days is not None else []),
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


def token_days(*frames: pl.DataFrame) -> pl.DataFrame:
    """Unique (chain, address, day) of the given frames (calls, ledger rows): the day partitions that can
    hold a token's stored candles. A day's raw_candles partition only ever holds candles inside the windows
    of that day's calls, and every answer is recorded in the ledger of the day that asked for it, so the
    days a token was called on, with the days its ledger rows belong to, are every partition worth opening."""
    cols = ["chain", "address", "day"]
    parts = [f.select(cols).with_columns(pl.col("day").cast(pl.Date)) for f in frames if f.height]
    if not parts:
        return pl.DataFrame(schema={"chain": pl.String, "address": pl.String, "day": pl.Date})
    return pl.concat(parts, how="vertical_relaxed").unique()


def days_of(index: pl.DataFrame, tokens: pl.DataFrame) -> list[dt.date]:
    """The days of `index` (token_days) for the (chain, address) pairs of `tokens`."""
    if index.is_empty() or tokens.is_empty():
        return []
    hit = index.join(tokens.select("chain", "address").unique(), on=["chain", "address"], how="semi")
    return sorted(hit.get_column("day").unique().to_list())
