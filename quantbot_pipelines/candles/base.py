"""One interface for every candle source, and the interval arithmetic they share.

A source answers `CandleRequest`s (one token, one interval, one window `[start_ts, end_ts)` in epoch seconds)
with `FetchResult`s: the candles found and what the answer meant (ok, no_trades, token_unknown, bad_request,
error), each handed to `on_result` the moment it arrives so that the caller can keep what was paid for before
anything else can go wrong. What was asked is remembered by the caller in the coverage ledger (`windows.py`,
`collect.py`), so a source never has to know what it fetched before. Sources return candles as the provider
gave them, trimmed to the window; which of them may be stored is decided once for every source by
`validate.check_candles`. Candle open times follow docs/semantics.md: a candle with open time t covers
[t, t + interval).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

INTERVAL_SECONDS: dict[str, int] = {
    "1s": 1, "15s": 15, "30s": 30, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200,
    "1d": 86400, "3d": 259200, "1w": 604800,
}

# the candle frame every source returns: open_ts in epoch seconds, prices and volume_usd in USD, volume_tokens
# in tokens (UI amount; null when the source gives no volume)
CANDLE_COLUMNS: dict[str, pl.DataType] = {
    "open_ts": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
    "close": pl.Float64, "volume_usd": pl.Float64, "volume_tokens": pl.Float64,
}


def normalize_interval(interval: str) -> str:
    """Our spelling: lower-case units ('1H' -> '1h'); minutes stay '1m' (Birdeye's '1M' is a month: rejected)."""
    if interval.endswith("M") and interval[:-1].isdigit():
        raise ValueError(f"interval {interval!r}: monthly candles are not supported")
    low = interval.lower()
    if low not in INTERVAL_SECONDS:
        raise ValueError(f"unknown candle interval {interval!r}; one of {', '.join(INTERVAL_SECONDS)}")
    return low


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# upper-case units read as lower case, but not 'M': a month on Birdeye
_INTERVAL = re.compile(r"\s*(\d+)\s*([smhdwSHDW])\s*")


def interval_seconds(interval: str) -> int:
    """'5m' -> 300, '4h' -> 14400, '2d' -> 172800: N followed by s, m, h, d or w. Agrees with
    INTERVAL_SECONDS on its keys; which intervals a source takes is for normalize_interval to say."""
    m = _INTERVAL.fullmatch(interval)
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"bad interval {interval!r}: expected N followed by s, m, h, d or w")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]


def floor_to(ts: int, step: int) -> int:
    return ts - ts % step


def ceil_to(ts: int, step: int) -> int:
    return -((-ts) // step) * step


def empty_candles() -> pl.DataFrame:
    return pl.DataFrame(schema=CANDLE_COLUMNS)


class FetchOutcome(StrEnum):
    OK = "ok"
    NO_TRADES = "no_trades"          # the source answered, nothing traded in the window (or token too new)
    TOKEN_UNKNOWN = "token_unknown"  # the source does not know the token on that chain
    BAD_REQUEST = "bad_request"      # 400/422 or an interval the source cannot give: asking again won't help
    ERROR = "error"                  # retries exhausted: asked again next run
    SKIPPED = "skipped"              # not asked at all (unknown chain): never guessed
    INVALID = "invalid"              # answered with candles that break the rules: valid ones kept, asked again


# statuses that count as coverage (until retry_after, when one is set)
COVERING = (FetchOutcome.OK, FetchOutcome.NO_TRADES, FetchOutcome.TOKEN_UNKNOWN, FetchOutcome.BAD_REQUEST)
EMPTY = (FetchOutcome.NO_TRADES, FetchOutcome.TOKEN_UNKNOWN)


@dataclass(frozen=True)
class CandleRequest:
    chain: str
    address: str
    interval: str
    start_ts: int  # inclusive, aligned to the interval
    end_ts: int    # exclusive, aligned to the interval
    # the token's first call (epoch s): lets the synthetic market anchor a path that joins across requests
    anchor_ts: int | None = None
    # a pool already used for this token (pool-keyed sources keep to one series)
    pool_address: str | None = None

    @property
    def candles_max(self) -> int:
        return (self.end_ts - self.start_ts) // interval_seconds(self.interval)


@dataclass
class FetchResult:
    request: CandleRequest
    status: FetchOutcome
    candles: pl.DataFrame = field(default_factory=empty_candles)
    requests: int = 0
    credits: int = 0
    detail: str | None = None
    pool_address: str | None = None
    # liquidity of that pool (both sides, USD) as the source reported it with this answer: today's, not the
    # call's; None when the source gives none
    pool_liquidity_usd: float | None = None


OnResult = Callable[[FetchResult], None]


class CandleSourceAuthError(RuntimeError):
    """The provider refused the credentials (401/403): every further request would fail, so the run fails.
    The message names the key by position only, never by value."""


class CandleSource(abc.ABC):
    name: str = "source"
    # longest window one request may ask, in candles (None: the source pages by itself)
    max_candles_per_request: int | None = None
    # empty answers for windows touching the last day are asked again after this long (None: never)
    empty_retry_s: int | None = 6 * 3600
    # also re-ask empty answers for old windows (free local sources, where a file may appear later)
    retry_empty_old: bool = False
    # answers with invalid candles are asked again after max(this, the window's age) (None: every run, for free
    # sources); docs/semantics.md#valid-candles
    invalid_retry_s: int | None = 6 * 3600

    def chain_id(self, chain: str) -> str | None:
        """The provider's name for our chain, or None when it is unknown to this source (then skipped)."""
        return None if not chain or chain == "unknown" else chain

    def supports_interval(self, interval: str) -> bool:
        return normalize_interval(interval) in INTERVAL_SECONDS

    @abc.abstractmethod
    def fetch(self, request: CandleRequest) -> FetchResult:
        """Candles of one window."""

    def fetch_many(self, requests: list[CandleRequest], on_result: OnResult | None = None) -> list[FetchResult]:
        """Candles of many windows, in the order asked; `on_result` sees each result as it arrives (from one
        thread at a time), before the next request is sent or, for concurrent sources, while others are in
        flight. Network sources override this to run concurrently."""
        out = []
        for r in requests:
            res = self.fetch(r)
            if on_result is not None:
                on_result(res)
            out.append(res)
        return out

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def clip_to_window(frame: pl.DataFrame, request: CandleRequest) -> pl.DataFrame:
    """The rows of an answer that belong to the request window, columns as CANDLE_COLUMNS (values that are no
    number become null). Rows without a readable open time are kept, so that the check counts them: which rows
    may be stored is `validate.check_candles`'s to say, not the source's."""
    if frame.is_empty():
        return empty_candles()
    ts = pl.col("open_ts")
    return (frame.select([pl.col(c).cast(t, strict=False) if c in frame.columns else pl.lit(None, t).alias(c)
                          for c, t in CANDLE_COLUMNS.items()])
            .filter(ts.is_null() | ((ts >= request.start_ts) & (ts < request.end_ts)))
            .sort("open_ts", nulls_last=True, maintain_order=True))
