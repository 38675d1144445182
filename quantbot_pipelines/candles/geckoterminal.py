"""GeckoTerminal (free, no key, pool based; contract: docs/formats.md#candle-apis).

A token's candles come from one pool: its most liquid (largest `reserve_in_usd`), looked up once and recorded
in the ledger's `pool_address`, then reused so a token's series is never stitched from two pools. OHLCV pages
run backwards from the window's end with `before_timestamp`, 1,000 candles a page, paced to the per-minute
limit; 429/5xx/timeouts are retried with backoff honouring Retry-After. A pool-keyed series can miss a
pump.fun token's bonding-curve phase before it migrated to a DEX pool.
"""

from __future__ import annotations

import logging
import time

import httpx
import orjson
import polars as pl

from quantbot_pipelines.candles.base import (
    CANDLE_COLUMNS,
    CandleRequest,
    CandleSource,
    FetchOutcome,
    FetchResult,
    clip_to_window,
    normalize_interval,
)
from quantbot_pipelines.candles.ratelimit import Pacer, backoff_seconds, retry_after_seconds

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
                 backoff_max_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.requests_per_minute = requests_per_minute
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._pacer = Pacer(requests_per_minute / 60.0)
        self._pools: dict[tuple[str, str], tuple[str, str]] = {}  # token -> (pool, "base"|"quote")

    def __repr__(self) -> str:
        return f"GeckoTerminalSource(base_url={self.base_url!r}, requests_per_minute={self.requests_per_minute})"

    def chain_id(self, chain: str) -> str | None:
        return NETWORKS.get((chain or "").lower())

    def supports_interval(self, interval: str) -> bool:
        return normalize_interval(interval) in TIMEFRAMES

    def fetch_many(self, requests: list[CandleRequest]) -> list[FetchResult]:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s,
                          headers={"accept": "application/json"}) as client:
            return [self._fetch(client, r) for r in requests]

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
            pool, side = self._pool(client, network, req, spent)
            frames = []
            timeframe, aggregate = TIMEFRAMES[iv]
            before = req.end_ts
            while True:
                doc = self._get(client, f"/api/v2/networks/{network}/pools/{pool}/ohlcv/{timeframe}", {
                    "aggregate": aggregate, "before_timestamp": before, "limit": PAGE, "currency": "usd",
                    "token": side}, spent)
                rows = ((doc.get("data") or {}).get("attributes") or {}).get("ohlcv_list") or []
                if not rows:
                    break
                page = pl.DataFrame([[int(r[0]), *(float(x) for x in r[1:6])] for r in rows],
                                    schema=list(CANDLE_COLUMNS), orient="row")
                frames.append(page)
                oldest = int(page["open_ts"].min())
                if oldest <= req.start_ts or len(rows) < PAGE or oldest >= before:
                    break
                before = oldest
        except _Failed as f:
            return FetchResult(req, f.status, requests=spent[0], detail=f.detail,
                               pool_address=self._pools.get((req.chain, req.address), (None,))[0])
        frame = clip_to_window(pl.concat(frames), req) if frames else pl.DataFrame(schema=CANDLE_COLUMNS)
        if frame.is_empty():
            return FetchResult(req, FetchOutcome.NO_TRADES, requests=spent[0], pool_address=pool,
                               detail=f"pool {pool} has no candles in the window")
        return FetchResult(req, FetchOutcome.OK, frame, requests=spent[0], pool_address=pool)

    def _pool(self, client: httpx.Client, network: str, req: CandleRequest, spent: list) -> tuple[str, str]:
        key = (req.chain, req.address)
        if key not in self._pools:
            if req.pool_address:
                self._pools[key] = (req.pool_address, "base")
            else:
                doc = self._get(client, f"/api/v2/networks/{network}/tokens/{req.address}/pools", {"page": 1},
                                spent, unknown_on_404=True)
                pools = doc.get("data") or []
                if not pools:
                    raise _Failed(FetchOutcome.TOKEN_UNKNOWN, f"no pools for the token on {network}")

                def reserve(p: dict) -> float:
                    try:
                        return float((p.get("attributes") or {}).get("reserve_in_usd") or 0)
                    except (TypeError, ValueError):
                        return 0.0

                best = max(pools, key=reserve)
                base_id = (((best.get("relationships") or {}).get("base_token") or {}).get("data") or {}).get("id", "")
                side = "quote" if base_id and not base_id.lower().endswith(req.address.lower()) else "base"
                self._pools[key] = (best["attributes"]["address"], side)
        return self._pools[key]

    def _get(self, client: httpx.Client, path: str, params: dict, spent: list, unknown_on_404: bool = False) -> dict:
        last = "no answer"
        for attempt in range(self.max_attempts):
            self._pacer.acquire()
            spent[0] += 1
            wait = None
            try:
                resp = client.get(path, params=params)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = type(e).__name__
            else:
                if resp.status_code == 200:
                    try:
                        doc = orjson.loads(resp.content)
                        if isinstance(doc, dict):
                            return doc
                        last = "malformed answer"
                    except orjson.JSONDecodeError:
                        last = "malformed answer"
                elif resp.status_code == 404 and unknown_on_404:
                    raise _Failed(FetchOutcome.TOKEN_UNKNOWN, "token not found (HTTP 404)")
                elif resp.status_code in (400, 404, 422):
                    raise _Failed(FetchOutcome.BAD_REQUEST, f"HTTP {resp.status_code}")
                elif resp.status_code == 429 or resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    wait = retry_after_seconds(resp.headers.get("retry-after"))
                    if wait is not None:
                        self._pacer.hold(wait)
                else:
                    raise _Failed(FetchOutcome.ERROR, f"HTTP {resp.status_code}")
            if attempt + 1 < self.max_attempts:
                delay = wait if wait is not None else backoff_seconds(attempt, self.backoff_base_s, self.backoff_max_s)
                log.info("geckoterminal %s: %s, retry %d in %.2fs", path, last, attempt + 1, delay)
                time.sleep(delay)
        raise _Failed(FetchOutcome.ERROR, f"{last} after {self.max_attempts} attempts")
