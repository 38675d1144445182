"""Tokens of the sample and their made-up market path: what a card shows at the moment of a call.

Each token launches, runs up to `peak_x` times its launch market cap over `peak_h` hours, then bleeds out.
Good callers post before the peak, bad ones near or after it (see world.py), so the card market caps
tell the story the leaderboards should find.

A token's pool has one liquidity figure (`pool_liquidity_usd`), which the synthetic candle market reports
with its answers: a card that shows liquidity shows that pool, give or take 15 %, so the liquidity a card
gives a call and the one the synthetic source reports agree. A pump.fun token (its mint ends in `pump`)
trades on pump.fun's bonding curve until its market cap first reaches the curve's end (`GRADUATION_MCAP`);
until then its cards name the venue Pump.fun and show the curve's progress instead of a pool's liquidity
(a curve is no pool: its reserve follows from its progress).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from quantbot_pipelines.sample.base58 import evm_address, solana_mint

CHAINS = {  # chain -> (Rick's label, dexes, Phanes hashtag, dexscreener/gmgn slug, gmgn slug)
    "solana": ("Solana", ("Raydium", "PumpSwap", "Meteora"), "#SOL", "solana", "sol"),
    "ethereum": ("Ethereum", ("Uniswap V2", "Uniswap V3"), "#ETH", "ethereum", "eth"),
    "bsc": ("BSC", ("PancakeSwap",), "#BSC", "bsc", "bsc"),
    "base": ("Base", ("Aerodrome", "Uniswap V3"), "#BASE", "base", "base"),
}

_ADJ = [
    "Doge",
    "Moon",
    "Baby",
    "Turbo",
    "Giga",
    "Based",
    "Sad",
    "Fat",
    "Tiny",
    "Dark",
    "Wif",
    "Pixel",
    "Cosmic",
    "Frog",
    "Sigma",
    "Retro",
    "Lazy",
    "Neon",
    "Golden",
    "Angry",
    "Pepe's",
    "Cat &",
]
_NOUN = [
    "Captain",
    "Cat",
    "Hat",
    "Pepe",
    "Shiba",
    "Whale",
    "Goblin",
    "Wizard",
    "Penguin",
    "Hamster",
    "Monk",
    "Rocket",
    "Banana",
    "Duck",
    "Bonk",
    "Trump",
    "Llama",
    "Ape",
    "Otter",
    "Dog",
    "Revenge",
    "Mouse",
]


POOL_USD = (5e3, 2e5)  # range of the pools' liquidity (both sides, USD)


def pool_liquidity_usd(seed: int, chain: str, address: str) -> float:
    """A token's pool liquidity (both sides, USD): log-uniform over POOL_USD, a pure function of (seed,
    chain, address as telegram_calls spells it), so the synthetic candle market (candles/synthetic.py)
    reports for any token the pool the sample's cards show for it."""
    d = hashlib.blake2b(f"{int(seed)}|{chain}|{address}|pool".encode(), digest_size=8).digest()
    u = int.from_bytes(d, "little") / 2.0**64
    lo, hi = POOL_USD
    return float(lo * (hi / lo) ** u)


# pump.fun's bonding curve as its program sets every token up
PUMP_SUPPLY = 1e9
PUMP_VIRTUAL_TOKENS = 1_073_000_000.0  # virtual token reserve at launch
PUMP_CURVE_TOKENS = 793_100_000.0  # tokens the curve sells before the token migrates
PUMP_VIRTUAL_SOL = 30.0  # virtual SOL reserve at launch
SOL_USD = 200.0  # the sample's SOL price
# the curve's market cap is supply * k / tokens_left^2: $5.6k at launch, 14.7 times that when it completes
CURVE_START_MCAP = PUMP_SUPPLY * PUMP_VIRTUAL_SOL * SOL_USD / PUMP_VIRTUAL_TOKENS
GRADUATION_MCAP = CURVE_START_MCAP * (PUMP_VIRTUAL_TOKENS / (PUMP_VIRTUAL_TOKENS - PUMP_CURVE_TOKENS)) ** 2
PUMP_FUN = "Pump.fun"


def bonding_pct(mcap: float) -> float:
    """Progress (percent of the curve's tokens sold) of a pump.fun curve at market cap `mcap`."""
    left = PUMP_VIRTUAL_TOKENS * math.sqrt(CURVE_START_MCAP / max(mcap, CURVE_START_MCAP))
    return min(100.0, (PUMP_VIRTUAL_TOKENS - left) / PUMP_CURVE_TOKENS * 100)


@dataclass
class Token:
    chain: str
    address: str  # as the sample spells it (EVM in mixed case, Solana exact)
    pair: str  # pool address: what dexscreener and photon links point at
    name: str
    ticker: str
    dex: str
    launch_ts: int
    base_mcap: float
    peak_x: float
    peak_h: float
    supply: float
    pool_usd: float  # the synthetic candle market's pool liquidity of the token (both sides, USD)

    @property
    def pump_fun(self) -> bool:
        """Launched on pump.fun (its mint ends in `pump`): on the bonding curve until it graduates."""
        return self.chain == "solana" and self.address.endswith("pump")

    def mcap_at(self, ts: int) -> float:
        hours = max(0.0, (ts - self.launch_ts) / 3600)
        if hours <= self.peak_h:
            return self.base_mcap * self.peak_x ** (hours / self.peak_h)
        decayed = self.base_mcap * self.peak_x * math.exp(-(hours - self.peak_h) / 20)
        return max(decayed, self.base_mcap * 0.15)

    def snapshot(self, ts: int, rng: random.Random) -> dict:
        """What a bot card shows at `ts`."""
        mcap = self.mcap_at(ts)
        ath_ts = min(ts, self.launch_ts + int(self.peak_h * 3600))
        ath = max(mcap, self.mcap_at(ath_ts))
        prev = self.mcap_at(ts - 3600)
        on_curve = self.pump_fun and ath < GRADUATION_MCAP  # the highest cap so far never completed the curve
        return {
            "mcap": mcap,
            "price": mcap / self.supply,
            "ath": ath,
            # the token's pool, seen at the card's moment; one draw as before, so the rest of the sample
            # stays as it was
            "liq": self.pool_usd * rng.uniform(0.85, 1.15),
            "venue": PUMP_FUN if on_curve else self.dex,
            "bonding_pct": bonding_pct(mcap) if on_curve else None,
            "vol": mcap * rng.uniform(0.3, 4.0),
            "age_s": max(60, ts - self.launch_ts),
            "change": (mcap / prev - 1) * 100 if prev else 0.0,
            "views": rng.randint(40, 2500),
            "buys": rng.randint(20, 900),
            "sells": rng.randint(10, 600),
            "top10": rng.randint(8, 45),
            "ath_ago_s": max(60, ts - ath_ts),
        }


def make_token(rng: random.Random, launch_ts: int, used: set[str], market_seed: int = 7) -> Token:
    """A token launching at `launch_ts`; its pool is the one the synthetic candle market of `market_seed`
    reports (7: that market's default)."""
    chain = rng.choices(list(CHAINS), weights=[75, 9, 8, 8])[0]
    while True:
        name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        ticker = "".join(w[0] for w in name.replace("'s", "").replace(" &", "").split()).upper()
        ticker += "".join(rng.choice("ABCDEFGHKLMNPRSTWXYZ") for _ in range(rng.randint(1, 3)))
        if ticker not in used:
            used.add(ticker)
            break
    if chain == "solana":
        pump = rng.random() < 0.55
        address = solana_mint(rng, pump=pump)
        pair = solana_mint(rng)
        dex = "PumpSwap" if pump and rng.random() < 0.5 else rng.choice(CHAINS[chain][1])
        base, supply = rng.uniform(6e3, 9e4), 1e9
    else:
        address, pair = evm_address(rng), evm_address(rng).lower()
        dex = rng.choice(CHAINS[chain][1])
        base, supply = rng.uniform(4e4, 1.5e6), rng.choice([1e9, 4.2069e14, 1e12])
    # heavy right tail: most tokens die, a few run 50-500x
    peak_x = max(1.02, math.exp(rng.gauss(0.9, 1.3)))
    return Token(
        chain=chain,
        address=address,
        pair=pair,
        name=name,
        ticker=ticker,
        dex=dex,
        launch_ts=launch_ts,
        base_mcap=base,
        peak_x=peak_x,
        peak_h=rng.uniform(0.7, 36),
        supply=supply,
        # keyed as telegram_calls spells the address (EVM lower-cased), as the candle source is asked
        pool_usd=pool_liquidity_usd(market_seed, chain, address if chain == "solana" else address.lower()),
    )


def money(x: float) -> str:
    """Card-style amounts: $48.2K, $3.38M, $1.2B, $540."""
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if x >= div:
            v = x / div
            return f"${v:.3g}{suf}" if v < 100 else f"${v:.0f}{suf}"
    return f"${x:.0f}"


def price(x: float) -> str:
    if x >= 1:
        return f"${x:.3f}"
    digits = max(3, -math.floor(math.log10(x)) + 2)
    return f"${x:.{digits}f}"


def age(seconds: int) -> str:
    if seconds < 3600:
        return f"{max(1, seconds // 60)}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
