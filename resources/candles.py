"""Candle sources as one swappable resource: synthetic (offline default), Birdeye, GeckoTerminal or files."""

from __future__ import annotations

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
    # files / synthetic
    folder: str | None = Field(default=None, description="folder of the files source")
    seed: int = 7

    def source(self) -> CandleSource:
        if self.kind == "birdeye":
            keys = [k.strip() for k in (self.birdeye_api_keys or "").split(",") if k.strip()]
            if not keys:
                raise ValueError("candle source 'birdeye' needs BIRDEYE_API_KEYS (comma-separated) in the environment")
            return BirdeyeSource(keys, base_url=self.birdeye_base_url,
                                 requests_per_second=self.birdeye_requests_per_second,
                                 max_concurrency=self.max_concurrency)
        if self.kind == "geckoterminal":
            return GeckoTerminalSource(base_url=self.geckoterminal_base_url,
                                       requests_per_minute=self.geckoterminal_requests_per_minute)
        if self.kind == "files":
            if not self.folder:
                raise ValueError("candle source 'files' needs a folder")
            return FileSource(self.folder)
        return SyntheticMarket(seed=self.seed)
