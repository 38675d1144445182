"""Pair (pool) look-ups as one swappable resource: offline (the default: asks nothing), DexScreener or
GeckoTerminal (quantbot_pipelines/candles/pairs.py)."""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from quantbot_pipelines.candles.pairs import DexScreenerPairs, GeckoTerminalPairs, OfflinePairs, PairResolver


class PairResolverResource(ConfigurableResource):
    kind: Literal["offline", "dexscreener", "geckoterminal"] = Field(
        default="offline", description="who turns a pair address from a link into its token; offline asks nobody, "
                                       "and calls on unresolved pairs get no candles")
    dexscreener_base_url: str = "https://api.dexscreener.com"
    dexscreener_requests_per_minute: float = Field(default=300.0, description="DexScreener's published limit")
    geckoterminal_base_url: str = "https://api.geckoterminal.com"
    geckoterminal_requests_per_minute: float = Field(
        default=30.0, description="GeckoTerminal's free limit (the candle client counts against the same one)")
    timeout_s: float = 15.0
    max_attempts: int = Field(default=5, description="attempts per pair on 429, 5xx, timeouts, malformed answers")

    def resolver(self) -> PairResolver:
        if self.kind == "dexscreener":
            return DexScreenerPairs(base_url=self.dexscreener_base_url,
                                    requests_per_minute=self.dexscreener_requests_per_minute,
                                    timeout_s=self.timeout_s, max_attempts=self.max_attempts)
        if self.kind == "geckoterminal":
            return GeckoTerminalPairs(base_url=self.geckoterminal_base_url,
                                      requests_per_minute=self.geckoterminal_requests_per_minute,
                                      timeout_s=self.timeout_s, max_attempts=self.max_attempts)
        return OfflinePairs()
