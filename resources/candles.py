"""Candle sources as one swappable resource: synthetic (offline default), Birdeye, GeckoTerminal or files."""

from __future__ import annotations

import logging
from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from quantbot_pipelines.backtest import DEFAULT_HORIZON_S, DEFAULT_MAX_ENTRY_GAP_S
from quantbot_pipelines.candles import (
    BirdeyeSource,
    CandleSource,
    FileSource,
    GeckoTerminalSource,
    SyntheticMarket,
)


class CandleSourceResource(ConfigurableResource):
    kind: Literal["synthetic", "birdeye", "geckoterminal", "files"] = "synthetic"
    interval: str = Field(default="1m", description="raw candle interval")
    pre_window_s: int = Field(default=3600, description="candles before each call")
    horizon_s: int = Field(default=DEFAULT_HORIZON_S, description="candles after each call")
    entry_slack_s: int = Field(default=DEFAULT_MAX_ENTRY_GAP_S, description="more candles past call + horizon, so that an entry "
                               "up to max_entry_gap after the call still has its whole window")
    # birdeye
    birdeye_api_keys: str | None = Field(default=None, description="comma-separated keys; set with EnvVar")
    birdeye_base_url: str = "https://public-api.birdeye.so"
    birdeye_requests_per_second: float = Field(default=15.0, description="per key: your plan's limit")
    max_concurrency: int = 16
    # geckoterminal
    geckoterminal_base_url: str = "https://api.geckoterminal.com"
    geckoterminal_requests_per_minute: float = 30.0
    # retries and deadlines of the network sources (None: the source's own default, given in brackets)
    attempt_timeout_s: float | None = Field(
        default=None, description="longest one attempt may take, body included, however slowly the server "
                                  "sends (30)")
    request_budget_s: float | None = Field(
        default=None, description="longest one window may take over all its attempts and waits; past it the "
                                  "window is an error, asked again next run (Birdeye 180, GeckoTerminal 300)")
    retry_after_cap_s: float | None = Field(
        default=None, description="longest Retry-After honoured (Birdeye 60, GeckoTerminal 120)")
    warn_wait_s: float | None = Field(default=None, description="waits longer than this are logged as warnings (5)")
    max_attempts: int | None = Field(default=None, description="attempts per window (Birdeye 6, GeckoTerminal 5)")
    backoff_base_s: float | None = Field(default=None, description="first backoff (Birdeye 0.5, GeckoTerminal 2)")
    backoff_max_s: float | None = Field(default=None, description="longest backoff (Birdeye 30, GeckoTerminal 60)")
    # files / synthetic
    folder: str | None = Field(default=None, description="folder of the files source")
    seed: int = 7
    refine_interval: str = Field(default="", description="finer candles (15s, 1s, ...) fetched for the minutes where "
                                 "a stop and a take-profit were both crossed; empty: no refinement")

    def _retry_settings(self) -> dict:
        names = ("attempt_timeout_s", "request_budget_s", "retry_after_cap_s", "warn_wait_s", "max_attempts",
                 "backoff_base_s", "backoff_max_s")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def source(self, log: logging.Logger | None = None) -> CandleSource:
        """The configured source; network sources log their long waits and give-ups to `log` (the asset passes
        Dagster's run log)."""
        if self.kind == "birdeye":
            keys = [k.strip() for k in (self.birdeye_api_keys or "").split(",") if k.strip()]
            if not keys:
                raise ValueError("candle source 'birdeye' needs BIRDEYE_API_KEYS (comma-separated) in the environment")
            return BirdeyeSource(keys, base_url=self.birdeye_base_url,
                                 requests_per_second=self.birdeye_requests_per_second,
                                 max_concurrency=self.max_concurrency, log=log, **self._retry_settings())
        if self.kind == "geckoterminal":
            return GeckoTerminalSource(base_url=self.geckoterminal_base_url,
                                       requests_per_minute=self.geckoterminal_requests_per_minute, log=log,
                                       **self._retry_settings())
        if self.kind == "files":
            if not self.folder:
                raise ValueError("candle source 'files' needs a folder")
            return FileSource(self.folder)
        return SyntheticMarket(seed=self.seed)
