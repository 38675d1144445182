"""The pool each call's trade meets: docs/semantics.md#pool-liquidity.

From the call's card (a pump.fun bonding curve's progress, else the card's liquidity) or else the liquidity the
candle source reported for the token (`pool_liquidity_usd`, joined onto the calls by the caller); moved along
the constant-product curve from the card's price to the entry price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from quantbot_pipelines.simulation.impact import PUMP_CURVE_TOKENS, PUMP_VIRTUAL_TOKENS
from quantbot_pipelines.telegram.cards import PUMP_FUN_VENUE

POOL_COLUMNS = {"card_liquidity_usd": pl.Float64, "card_price_usd": pl.Float64, "card_dex": pl.String,
                "card_bonding_pct": pl.Float64, "pool_liquidity_usd": pl.Float64}


@dataclass(frozen=True)
class Pools:
    """Per call: quote-side reserve at entry (nan: unknown), whether it is a pump.fun curve, and where the
    figure came from (card, bonding_curve, candle_source, none)."""

    pool_usd: np.ndarray
    on_curve: np.ndarray
    source: pl.Series


def source_liquidity(ledger: pl.DataFrame) -> pl.DataFrame:
    """(chain, address, pool_liquidity_usd): the latest liquidity a candle source reported for each token (the
    last resort after the card), from CANDLE_LEDGER rows with fetched_at and pool_liquidity_usd."""
    return (ledger.filter(pl.col("pool_liquidity_usd").is_not_null()).sort("fetched_at")
            .group_by("chain", "address").agg(pl.col("pool_liquidity_usd").last()))


def call_pools(calls: pl.DataFrame, entry_price: np.ndarray) -> Pools:
    """The pools of `calls` (rows in order) at their entry prices (nan without entry)."""
    df = calls.select(*(pl.col(c).cast(t) if c in calls.columns else pl.lit(None, t).alias(c)
                        for c, t in POOL_COLUMNS.items()))
    price = pl.col("card_price_usd")
    pct = pl.col("card_bonding_pct")
    # the cards' own rule (telegram.cards.is_pump_fun), as a whole-name match
    on_curve = pl.col("card_dex").str.contains(f"(?i)^(?:{PUMP_FUN_VENUE})$").fill_null(False) | pct.is_not_null()
    valid = lambda e: e.is_not_null() & e.is_finite() & (e > 0)
    curve_x = PUMP_VIRTUAL_TOKENS - pct.clip(0.0, 100.0) / 100.0 * PUMP_CURVE_TOKENS
    out = df.select(
        on_curve.alias("on_curve"),
        pl.when(on_curve & pct.is_not_null() & valid(price)).then(pl.lit("bonding_curve"))
        .when(valid(pl.col("card_liquidity_usd"))).then(pl.lit("card"))
        .when(valid(pl.col("pool_liquidity_usd"))).then(pl.lit("candle_source"))
        .otherwise(pl.lit("none")).alias("source"),
        (price * curve_x).alias("_curve"),
        (pl.col("card_liquidity_usd") / 2).alias("_card"),
        (pl.col("pool_liquidity_usd") / 2).alias("_source"),
        price.alias("_price"),
    )
    src = out.get_column("source")
    at = out.select(
        pl.when(pl.col("source") == "bonding_curve").then(pl.col("_curve"))
        .when(pl.col("source") == "card").then(pl.col("_card"))
        .when(pl.col("source") == "candle_source").then(pl.col("_source"))
        .alias("y")).get_column("y").to_numpy().astype(np.float64)
    # a reserve read at the card's price, moved along the curve to the entry price (sqrt of the price ratio)
    card_price = out.get_column("_price").to_numpy().astype(np.float64)
    from_card = src.is_in(["bonding_curve", "card"]).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(from_card & (card_price > 0) & (entry_price > 0), entry_price / card_price, 1.0)
        pool = at * np.sqrt(ratio)
    return Pools(pool_usd=np.ascontiguousarray(pool), on_curve=out.get_column("on_curve").to_numpy().copy(),
                 source=src)
