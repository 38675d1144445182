"""Pair (pool) look-ups as one swappable resource: offline (the default: asks nothing), DexScreener or
GeckoTerminal (quantbot_pipelines/candles/pairs.py)."""

from __future__ import annotations

import logging
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
    timeout_s: float = Field(default=15.0, description="longest one connect or read")
    max_attempts: int = Field(default=5, description="attempts per pair on 429, 5xx, timeouts, malformed answers")
    attempt_timeout_s: float = Field(default=30.0, description="longest one attempt may take, body included")
    request_budget_s: float = Field(default=180.0, description="longest one pair may take over all its attempts "
                                                               "and waits; past it the pair is asked again next run")
    retry_after_cap_s: float = Field(default=120.0, description="longest Retry-After honoured")
    warn_wait_s: float = Field(default=5.0, description="waits longer than this are logged as warnings")

    def resolver(self, log: logging.Logger | None = None) -> PairResolver:
        """The configured resolver; long waits and give-ups go to `log` (e.g. Dagster's run log)."""
        opts = {"timeout_s": self.timeout_s, "max_attempts": self.max_attempts,
                "attempt_timeout_s": self.attempt_timeout_s, "request_budget_s": self.request_budget_s,
                "retry_after_cap_s": self.retry_after_cap_s, "warn_wait_s": self.warn_wait_s, "log": log}
        if self.kind == "dexscreener":
            return DexScreenerPairs(base_url=self.dexscreener_base_url,
                                    requests_per_minute=self.dexscreener_requests_per_minute, **opts)
        if self.kind == "geckoterminal":
            return GeckoTerminalPairs(base_url=self.geckoterminal_base_url,
                                      requests_per_minute=self.geckoterminal_requests_per_minute, **opts)
        return OfflinePairs()
