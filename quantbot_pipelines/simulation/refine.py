"""Ambiguous candles settled from finer candles: docs/semantics.md#order-bounds ("Finer candles").

A trade's ambiguous candle crossed its stop in force and a take-profit level with the open between them. The
finer candles of that minute say which came first: the first finer candle whose low crosses the stop or whose
high reaches the level decides (its open deciding when it crosses both; a finer candle that crosses both with
the open between them decides nothing). Stop first: the trade is its stop-first reading (`net_multiple_low`,
with that reading's fills); level first: its take-profit-first reading (`net_multiple_high`). The engine
applies the verdict (simulate(..., finer=...)), since it holds both readings' fills.
"""

from __future__ import annotations

import polars as pl

STOP, LEVEL, UNDECIDED = "stop", "take_profit", "undecided"
TRADE_KEY = ["strategy", "chat_id", "message_id", "chain", "address"]


def ambiguous_minutes(trades: pl.DataFrame) -> pl.DataFrame:
    """(chain, address, call_ts = the ambiguous candle's open) once per candle: what finer candles to fetch."""
    return (trades.filter(pl.col("ambiguous_candles").fill_null(0) > 0)
            .select("chain", "address", pl.col("ambiguous_ts").alias("call_ts")).unique()
            .sort("chain", "address", "call_ts"))


def first_crossed(trades: pl.DataFrame, fine: pl.DataFrame, *, span_s: int = 60,
                  key: list[str] = TRADE_KEY) -> pl.DataFrame:
    """Per ambiguous trade (its `key`): which of its two prices the finer candles of [ambiguous_ts,
    ambiguous_ts + span_s) reach first: STOP, LEVEL or UNDECIDED (none of them decides, or none is there)."""
    amb = trades.filter(pl.col("ambiguous_candles").fill_null(0) > 0).select(
        *dict.fromkeys([*key, "chain", "address"]), "ambiguous_ts", "ambiguous_stop", "ambiguous_level")
    if amb.height == 0:
        return amb.select(*key).with_columns(pl.lit(None, pl.String).alias("first"))
    f = fine.select("chain", "address", "open_ts", "open", "high", "low")
    rows = (amb.join(f, on=["chain", "address"], how="inner")
            .filter(pl.col("open_ts") >= pl.col("ambiguous_ts"),
                    pl.col("open_ts") < pl.col("ambiguous_ts") + pl.duration(seconds=span_s)))
    stop_hit = pl.col("low") <= pl.col("ambiguous_stop")
    level_hit = pl.col("high") >= pl.col("ambiguous_level")
    verdict = (pl.when(stop_hit & level_hit)
               .then(pl.when(pl.col("open") <= pl.col("ambiguous_stop")).then(pl.lit(STOP))
                     .when(pl.col("open") >= pl.col("ambiguous_level")).then(pl.lit(LEVEL))
                     .otherwise(pl.lit(UNDECIDED)))
               .when(stop_hit).then(pl.lit(STOP))
               .when(level_hit).then(pl.lit(LEVEL)))
    decided = (rows.with_columns(verdict.alias("first")).filter(pl.col("first").is_not_null())
               .sort("open_ts").group_by(key, maintain_order=True).agg(pl.col("first").first()))
    return (amb.select(key).join(decided, on=key, how="left", nulls_equal=True)
            .with_columns(pl.col("first").fill_null(UNDECIDED)))

