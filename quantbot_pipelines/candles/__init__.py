"""Candle sources behind one interface (`CandleSource`) and the fetch-once logic around them.

Sources: `BirdeyeSource` (paid, token keyed), `GeckoTerminalSource` (free, pool keyed), `FileSource` (your own
CSV/Parquet files) and `SyntheticMarket` (offline, deterministic; the default). `collect_candles` builds one
call day's raw_candles and candle_ledger rows, asking a source only for what no ledger row covers and keeping
only valid candles (`check_candles`); `CandleDays` runs it over days against a warehouse, journaling every answer
the moment it arrives (`AnswerJournal`), so that nothing paid for is asked twice.
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
from quantbot_pipelines.candles.journal import Answer, AnswerJournal
from quantbot_pipelines.candles.synthetic import SyntheticMarket
from quantbot_pipelines.candles.validate import check_candles
from quantbot_pipelines.candles.windows import plan_requests, token_windows

__all__ = [
    "Answer", "AnswerJournal", "BirdeyeSource", "CandleBatch", "CandleRequest", "CandleSource",
    "CandleSourceAuthError", "FetchOutcome", "FetchResult", "FileSource", "GeckoTerminalSource", "SyntheticMarket",
    "check_candles", "collect_candles", "interval_seconds", "normalize_interval", "plan_requests", "token_windows",
]
