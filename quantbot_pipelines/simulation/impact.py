"""Fills against a constant-product (x * y = k) pool: docs/semantics.md#price-impact, #pool-liquidity.

A pool holds `x` tokens and `y` USD of quote; its price is y / x. The pool is known once, at entry: its
quote reserve `y0` at the entry price `p0` (half the liquidity a card or a source reports, or the virtual
reserve of a pump.fun bonding curve). Nobody's trade but ours is modelled, so at any later price `p` the pool
is where the curve puts it: `y = y0 sqrt(p / p0)`, `x = y / p` (k = y0^2 / p0 throughout). Our own fills do
not move the pool for the next fill: the candles are the market's path, traded without us.

Plain functions of floats, compiled by numba and callable from Python alike (a notebook can price a fill by
hand with them).
"""

from __future__ import annotations

import math

from numba import njit

# pump.fun's bonding curve, as its program sets every new token up (docs/semantics.md#pool-liquidity)
PUMP_TOTAL_SUPPLY = 1_000_000_000.0  # tokens
PUMP_VIRTUAL_TOKENS = 1_073_000_000.0  # virtual token reserve at launch
PUMP_CURVE_TOKENS = 793_100_000.0  # tokens the curve sells before the token migrates to a DEX pool
PUMP_FEE_BPS = 100.0  # the curve's fee per trade
DEFAULT_DEX_FEE_BPS = 25.0  # a Raydium / Uniswap v2 style pool's fee per trade


@njit(cache=True, nogil=True)
def pool_at(y0: float, p0: float, p: float) -> tuple[float, float]:
    """(token reserve x, quote reserve y) of the pool at price p, for quote reserve y0 at price p0."""
    y = y0 * math.sqrt(p / p0)
    return y / p, y


@njit(cache=True, nogil=True)
def buy_tokens(usd: float, x: float, y: float, fee: float) -> float:
    """Tokens out for `usd` paid into a pool (x, y) that keeps `fee` of the input."""
    a = usd * (1.0 - fee)
    return x * a / (y + a)


@njit(cache=True, nogil=True)
def sell_usd(tokens: float, x: float, y: float, fee: float) -> float:
    """USD out for `tokens` sold into a pool (x, y) that keeps `fee` of the input."""
    t = tokens * (1.0 - fee)
    return y * t / (x + t)


def curve_quote_reserve(price_usd: float, bonding_pct: float) -> float:
    """Quote reserve (USD) of a pump.fun bonding curve `bonding_pct` percent of the way to migration, at
    `price_usd`: the virtual token reserve left, valued at the price (a constant-product pool's quote side
    is worth its token side)."""
    sold = min(max(bonding_pct, 0.0), 100.0) / 100.0 * PUMP_CURVE_TOKENS
    return price_usd * (PUMP_VIRTUAL_TOKENS - sold)
