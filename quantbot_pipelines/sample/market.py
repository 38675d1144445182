"""Tokens of the sample and their made-up market path: what a card shows at the moment of a call.

Each token launches, runs up to `peak_x` times its launch market cap over `peak_h` hours, then bleeds out.
Good callers post before the peak, bad ones near or after it (see world.py), so the card market caps
tell the story the leaderboards should find.
"""

from __future__ import annotations

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
        return {
            "mcap": mcap,
            "price": mcap / self.supply,
            "ath": ath,
            "liq": mcap * rng.uniform(0.12, 0.3) if self.chain == "solana" else mcap * rng.uniform(0.05, 0.2),
            "vol": mcap * rng.uniform(0.3, 4.0),
            "age_s": max(60, ts - self.launch_ts),
            "change": (mcap / prev - 1) * 100 if prev else 0.0,
            "views": rng.randint(40, 2500),
            "buys": rng.randint(20, 900),
            "sells": rng.randint(10, 600),
            "top10": rng.randint(8, 45),
            "ath_ago_s": max(60, ts - ath_ts),
        }


def make_token(rng: random.Random, launch_ts: int, used: set[str]) -> Token:
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
