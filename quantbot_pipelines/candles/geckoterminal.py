"""GeckoTerminal (free, no key, pool based; contract: docs/formats.md#candle-apis).

A token's candles come from one pool: its most liquid (largest `reserve_in_usd`), looked up once and recorded
in the ledger's `pool_address`, then reused so a token's series is never stitched from two pools. OHLCV pages
run backwards from the window's end with `before_timestamp`, 1,000 candles a page, paced to the per-minute
limit; 429/5xx/timeouts/malformed answers are retried (`http.Retrying`: a total deadline per attempt, a budget
per request, Retry-After in every form, long waits logged at WARNING). Each result is handed to `on_result` as it
arrives. A pool-keyed series can miss a pump.fun token's bonding-curve phase before it migrated to a DEX pool.

The pool's `reserve_in_usd` from that listing (both sides, USD, as of the listing: today's, not the call's) is
reported with every answer of the token as `pool_liquidity_usd`; a pool reused from the ledger was not
listed, so its answers report none. With `currency=usd` an OHLCV row's volume is in USD; its volume in tokens
is derived as `volume / close` (the whole candle's volume priced at its close), null when the close is no
positive number.
"""

from __future__ import annotations

import logging
import math

import httpx
import polars as pl

from quantbot_pipelines.candles.base import (
    CANDLE_COLUMNS,
    CandleRequest,
    CandleSource,
    FetchOutcome,
    FetchResult,
    OnResult,
    clip_to_window,
    normalize_interval,
)
from quantbot_pipelines.candles.birdeye import loads_lenient, number, open_time
from quantbot_pipelines.candles.http import (
    Again,
    Attempt,
    AttemptFailed,
    Done,
    GaveUp,
    Retrying,
    RetryPolicy,
    get_sync,
)
from quantbot_pipelines.candles.ratelimit import Pacer

log = logging.getLogger(__name__)

NETWORKS = {"solana": "solana", "ethereum": "eth", "eth": "eth", "bsc": "bsc", "bnb": "bsc", "base": "base",
            "arbitrum": "arbitrum", "polygon": "polygon_pos", "avalanche": "avax", "optimism": "optimism"}
# our interval -> (timeframe, aggregate)
TIMEFRAMES = {"1m": ("minute", 1), "5m": ("minute", 5), "15m": ("minute", 15), "1h": ("hour", 1),
              "4h": ("hour", 4), "12h": ("hour", 12), "1d": ("day", 1)}
PAGE = 1000


class _Failed(Exception):
    def __init__(self, status: FetchOutcome, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class GeckoTerminalSource(CandleSource):
    name = "geckoterminal"
    max_candles_per_request = None

    def __init__(self, *, base_url: str = "https://api.geckoterminal.com", requests_per_minute: float = 30.0,
                 timeout_s: float = 20.0, max_attempts: int = 5, backoff_base_s: float = 2.0,
                 backoff_max_s: float = 60.0, attempt_timeout_s: float = 30.0, request_budget_s: float = 300.0,
                 retry_after_cap_s: float = 120.0, warn_wait_s: float = 5.0, log: logging.Logger | None = None):
        self.base_url = base_url.rstrip("/")
        self.requests_per_minute = requests_per_minute
        self.timeout_s = timeout_s                  # one connect or read
        # one attempt is cut at attempt_timeout_s (whole body included); request_budget_s bounds all attempts
        # and waits of one page or lookup
        self.retry_policy = RetryPolicy(
            max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
            attempt_timeout_s=attempt_timeout_s, request_budget_s=request_budget_s,
            retry_after_cap_s=retry_after_cap_s, warn_wait_s=warn_wait_s)
        self.log = log or globals()["log"]
        self._pacer = Pacer(requests_per_minute / 60.0)
        # token -> (pool, "base"|"quote", the pool's reserve_in_usd when the listing gave one)
        self._pools: dict[tuple[str, str], tuple[str, str, float | None]] = {}

    def __repr__(self) -> str:
        return f"GeckoTerminalSource(base_url={self.base_url!r}, requests_per_minute={self.requests_per_minute})"

    def chain_id(self, chain: str) -> str | None:
        return NETWORKS.get((chain or "").lower())

    def supports_interval(self, interval: str) -> bool:
        return normalize_interval(interval) in TIMEFRAMES

    def fetch_many(self, requests: list[CandleRequest], on_result: OnResult | None = None) -> list[FetchResult]:
        out = []
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s,
                          headers={"accept": "application/json"}) as client:
            for r in requests:
                res = self._fetch(client, r)
                if on_result is not None:
                    on_result(res)
                out.append(res)
        return out

    def fetch(self, request: CandleRequest) -> FetchResult:
        return self.fetch_many([request])[0]

    # -- one window --------------------------------------------------------------------------------------
    def _fetch(self, client: httpx.Client, req: CandleRequest) -> FetchResult:
        network = self.chain_id(req.chain)
        iv = normalize_interval(req.interval)
        if network is None:
            return FetchResult(req, FetchOutcome.SKIPPED, detail=f"chain {req.chain!r} unknown to GeckoTerminal")
        if iv not in TIMEFRAMES:
            return FetchResult(req, FetchOutcome.BAD_REQUEST,
                               detail=f"GeckoTerminal has no {iv} candles ({', '.join(TIMEFRAMES)})")
        spent = [0]
        try:
            pool, side, reserve = self._pool(client, network, req, spent)
            frames = []
            timeframe, aggregate = TIMEFRAMES[iv]
            before = req.end_ts
            while True:
                doc = self._get(client, f"/api/v2/networks/{network}/pools/{pool}/ohlcv/{timeframe}", {
                    "aggregate": aggregate, "before_timestamp": before, "limit": PAGE, "currency": "usd",
                    "token": side}, spent)
                rows = _page(doc)
                if not rows:
                    break
                page = _rows_frame(rows)
                frames.append(page)
                oldest = page["open_ts"].min()
                if oldest is None or oldest <= req.start_ts or len(rows) < PAGE or oldest >= before:
                    break
                before = int(oldest)
        except _Failed as f:
            known = self._pools.get((req.chain, req.address), (None, None, None))
            return FetchResult(req, f.status, requests=spent[0], detail=f.detail, pool_address=known[0],
                               pool_liquidity_usd=known[2])
        frame = clip_to_window(pl.concat(frames), req) if frames else pl.DataFrame(schema=CANDLE_COLUMNS)
        if frame.is_empty():
            return FetchResult(req, FetchOutcome.NO_TRADES, requests=spent[0], pool_address=pool,
                               pool_liquidity_usd=reserve, detail=f"pool {pool} has no candles in the window")
        return FetchResult(req, FetchOutcome.OK, frame, requests=spent[0], pool_address=pool,
                           pool_liquidity_usd=reserve)

    def _pool(self, client: httpx.Client, network: str, req: CandleRequest,
              spent: list) -> tuple[str, str, float | None]:
        key = (req.chain, req.address)
        if key not in self._pools:
            if req.pool_address:
                self._pools[key] = (req.pool_address, "base", None)
            else:
                doc = self._get(client, f"/api/v2/networks/{network}/tokens/{req.address}/pools", {"page": 1},
                                spent, unknown_on_404=True)
                pools = [p for p in (doc.get("data") or []) if isinstance(p, dict)] \
                    if isinstance(doc.get("data") or [], list) else []
                pools = [p for p in pools if isinstance((p.get("attributes") or {}).get("address"), str)]
                if not pools:
                    raise _Failed(FetchOutcome.TOKEN_UNKNOWN, f"no pools for the token on {network}")

                best = max(pools, key=lambda p: _reserve(p) or 0.0)
                base_id = (((best.get("relationships") or {}).get("base_token") or {}).get("data") or {}).get("id", "")
                side = "quote" if base_id and not base_id.lower().endswith(req.address.lower()) else "base"
                self._pools[key] = (best["attributes"]["address"], side, _reserve(best))
        return self._pools[key]

    def _get(self, client: httpx.Client, path: str, params: dict, spent: list, unknown_on_404: bool = False) -> dict:
        def attempt(a: Attempt) -> Done | Again:
            self._pacer.acquire(a.waiting)
            spent[0] += 1
            try:
                reply = get_sync(client, path, params=params, deadline_s=a.deadline_s, io_timeout_s=self.timeout_s)
            except AttemptFailed as e:
                return Again(str(e))
            status = reply.status
            if status == 200:
                try:
                    doc = loads_lenient(reply.body)
                except (ValueError, UnicodeDecodeError):
                    return Again("malformed answer")
                return Done(doc) if isinstance(doc, dict) else Again("malformed answer (not an object)")
            if status == 404 and unknown_on_404:
                raise _Failed(FetchOutcome.TOKEN_UNKNOWN, "token not found (HTTP 404)")
            if status in (400, 404, 422):
                raise _Failed(FetchOutcome.BAD_REQUEST, f"HTTP {status}")
            if status == 429 or status >= 500:
                return Again(f"HTTP {status}", retry_after=reply.headers.get("retry-after"), hold=self._pacer.hold)
            raise _Failed(FetchOutcome.ERROR, f"HTTP {status}")

        out = Retrying(self.retry_policy, self.log).run_sync(f"geckoterminal {path}", attempt)
        if isinstance(out, GaveUp):
            raise _Failed(FetchOutcome.ERROR, out.detail)
        return out.value


def _reserve(pool: dict) -> float | None:
    """A listed pool's `reserve_in_usd` (a number or a string spelling one); None when it is missing, not a
    number, not finite or negative."""
    try:
        value = float((pool.get("attributes") or {}).get("reserve_in_usd"))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _page(doc: dict) -> list:
    """The rows of an OHLCV page (an answer of another shape has none)."""
    data = doc.get("data")
    attrs = data.get("attributes") if isinstance(data, dict) else None
    rows = attrs.get("ohlcv_list") if isinstance(attrs, dict) else None
    return rows if isinstance(rows, list) else []


def _rows_frame(rows: list) -> pl.DataFrame:
    """`[[t, o, h, l, c, v], ...]` as a candle frame; what is no number becomes null (NaN for a volume), for the
    candle check to count, and a row of another shape is all null. `v` is USD (currency=usd); the volume in
    tokens is derived, v / close, and null when the close is no positive finite number (that candle is invalid
    for its price, not for a volume made up from it)."""
    out = []
    for r in rows:
        if not isinstance(r, list | tuple) or len(r) < 5:
            out.append((None, None, None, None, None, None, None))
            continue
        vol = number(r[5], math.nan) if len(r) > 5 else None
        prices = [number(x) for x in r[1:5]]
        close = prices[3]
        tokens = vol / close if vol is not None and close is not None and math.isfinite(close) and close > 0 \
            else None
        out.append((open_time(r[0]), *prices, vol, tokens))
    return pl.DataFrame(out, schema=CANDLE_COLUMNS, orient="row")
