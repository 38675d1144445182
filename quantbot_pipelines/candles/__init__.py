"""Candle sources behind one interface (`CandleSource`) and the fetch-once logic around them.

Sources: `BirdeyeSource` (paid, token keyed), `GeckoTerminalSource` (free, pool keyed), `FileSource` (your own
CSV/Parquet files) and `SyntheticMarket` (offline, deterministic; the default). `collect_candles` builds one
call day's raw_candles and candle_ledger rows, asking a source only for what no ledger row covers.
"""

from quantbot_pipelines.candles.base import (
    CandleRequest,
    CandleSource,
    CandleSourceAuthError,
    FetchOutcome,
    FetchResult,
    interval_seconds,
    normalize_interval,
)
from quantbot_pipelines.candles.birdeye import BirdeyeSource
from quantbot_pipelines.candles.collect import CandleBatch, collect_candles
from quantbot_pipelines.candles.files import FileSource
from quantbot_pipelines.candles.geckoterminal import GeckoTerminalSource
from quantbot_pipelines.candles.synthetic import SyntheticMarket
from quantbot_pipelines.candles.windows import plan_requests, token_windows

__all__ = [
    "BirdeyeSource", "CandleBatch", "CandleRequest", "CandleSource", "CandleSourceAuthError", "FetchOutcome",
    "FetchResult", "FileSource", "GeckoTerminalSource", "SyntheticMarket", "collect_candles", "interval_seconds",
    "normalize_interval", "plan_requests", "token_windows",
]
