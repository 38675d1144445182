"""Birdeye `/defi/v3/ohlcv` client (contract: docs/formats.md#candle-apis).

Async httpx with bounded concurrency behind a sync `fetch_many`; a pacer per key at the plan's requests/s;
retries with exponential backoff and jitter on 429, 5xx, timeouts and malformed answers, honouring
Retry-After. 400/422 are recorded as bad_request; 401/403 raise `CandleSourceAuthError` (the run fails: every
request would). The key travels only in the `X-API-KEY` header: never in logs, results, errors or repr.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import orjson
import polars as pl

from quantbot_pipelines.candles.base import (
    CANDLE_COLUMNS,
    CandleRequest,
    CandleSource,
    CandleSourceAuthError,
    FetchOutcome,
    FetchResult,
    clip_to_window,
    normalize_interval,
)
from quantbot_pipelines.candles.ratelimit import KeyPacer, backoff_seconds, retry_after_seconds

log = logging.getLogger(__name__)

# our chain names (and common aliases) -> Birdeye's x-chain
CHAINS = {
    "solana": "solana", "ethereum": "ethereum", "eth": "ethereum", "bsc": "bsc", "bnb": "bsc", "base": "base",
    "arbitrum": "arbitrum", "avalanche": "avalanche", "avax": "avalanche", "polygon": "polygon",
    "optimism": "optimism", "zksync": "zksync", "sui": "sui",
}
MAX_CANDLES = 5000
PACE_MARGIN = 0.97
RETRY_STATUS = {429, 500, 502, 503, 504, 520, 522, 524}


def birdeye_interval(interval: str) -> str:
    """'1h' -> '1H': hours and up are upper-case on Birdeye, seconds and minutes lower-case."""
    iv = normalize_interval(interval)
    return iv if iv[-1] in "sm" else iv[:-1] + iv[-1].upper()


def credits_for(candles: int) -> int:
    """Compute units of one v3 OHLCV request (docs/formats.md#candle-apis): 60 under 1,000 candles, 90 to 2,000, else 120."""
    return 60 if candles < 1000 else 90 if candles < 2000 else 120


class _Keys:
    """API keys kept out of every repr, str and traceback."""

    def __init__(self, keys: list[str]):
        self._keys = list(keys)

    def __getitem__(self, i: int) -> str:
        return self._keys[i]

    def __len__(self) -> int:
        return len(self._keys)

    def scrub(self, text: str) -> str:
        for k in self._keys:
            text = text.replace(k, "***")
        return text

    def __repr__(self) -> str:
        return f"<{len(self._keys)} key(s)>"


class BirdeyeSource(CandleSource):
    name = "birdeye"
    max_candles_per_request = MAX_CANDLES

    def __init__(self, keys: list[str], *, base_url: str = "https://public-api.birdeye.so",
                 requests_per_second: float = 15.0, max_concurrency: int = 16, timeout_s: float = 15.0,
                 max_attempts: int = 6, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0):
        keys = [k for k in keys if k]
        if not keys:
            raise ValueError("Birdeye needs at least one API key")
        self._keys = _Keys(keys)
        self.base_url = base_url.rstrip("/")
        self.requests_per_second = requests_per_second
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s

    def __repr__(self) -> str:
        return (f"BirdeyeSource(base_url={self.base_url!r}, keys={len(self._keys)}, "
                f"requests_per_second={self.requests_per_second})")

    def chain_id(self, chain: str) -> str | None:
        return CHAINS.get((chain or "").lower())

    # -- sync face ---------------------------------------------------------------------------------------
    def fetch(self, request: CandleRequest) -> FetchResult:
        return self.fetch_many([request])[0]

    def fetch_many(self, requests: list[CandleRequest]) -> list[FetchResult]:
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.fetch_many_async(requests))
        # called from inside an event loop (e.g. a notebook): run ours in a thread
        out: dict = {}

        def run() -> None:
            try:
                out["r"] = asyncio.run(self.fetch_many_async(requests))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                out["e"] = e

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        return out["r"]

    # -- async core --------------------------------------------------------------------------------------
    async def fetch_many_async(self, requests: list[CandleRequest]) -> list[FetchResult]:
        # 3% under the plan's rate: late timer wake-ups bunch requests, and a provider's window counts them
        pacer = KeyPacer(len(self._keys), self.requests_per_second * PACE_MARGIN)
        sem = asyncio.Semaphore(self.max_concurrency)
        auth_failed: list[CandleSourceAuthError] = []
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, limits=limits) as client:

            async def one(req: CandleRequest) -> FetchResult:
                async with sem:
                    return await self._fetch_one(client, pacer, req, auth_failed)

            results = await asyncio.gather(*(one(r) for r in requests))
        if auth_failed:
            raise auth_failed[0]
        return list(results)

    async def _fetch_one(self, client: httpx.AsyncClient, pacer: KeyPacer, req: CandleRequest,
                         auth_failed: list) -> FetchResult:
        chain = self.chain_id(req.chain)
        if chain is None:
            return FetchResult(req, FetchOutcome.SKIPPED, detail=f"chain {req.chain!r} unknown to Birdeye")
        if req.candles_max > MAX_CANDLES:
            raise ValueError(f"window of {req.candles_max} candles: split into chunks of {MAX_CANDLES}")
        params = {
            "address": req.address, "type": birdeye_interval(req.interval), "currency": "usd",
            "time_from": req.start_ts, "time_to": req.end_ts - 1,  # Birdeye's range is inclusive
            "ui_amount_mode": "raw", "mode": "range", "padding": "false",
        }
        sent = 0
        credits = 0
        last = "no answer"
        for attempt in range(self.max_attempts):
            if auth_failed:
                return FetchResult(req, FetchOutcome.ERROR, requests=sent, credits=credits,
                                   detail="not asked: the API key was refused")
            key = await pacer.acquire()
            headers = {"X-API-KEY": self._keys[key], "x-chain": chain, "accept": "application/json"}
            wait = None
            sent += 1
            try:
                resp = await client.get("/defi/v3/ohlcv", params=params, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = f"{type(e).__name__}"
            else:
                status = resp.status_code
                if status == 200:
                    parsed = _parse(resp.content)
                    if isinstance(parsed, str):
                        last = parsed
                    else:
                        credits += credits_for(parsed.height)
                        frame = clip_to_window(parsed, req)
                        if frame.is_empty():
                            return FetchResult(
                                req, FetchOutcome.NO_TRADES, requests=sent, credits=credits,
                                detail=f"empty answer on {chain}: no trades in the window or token unknown")
                        return FetchResult(req, FetchOutcome.OK, frame, requests=sent, credits=credits)
                elif status in (401, 403):
                    what = "rejected the API key" if status == 401 else "refused the endpoint for this plan"
                    err = CandleSourceAuthError(
                        f"Birdeye {what} (HTTP {status}) for key #{key + 1} of {len(self._keys)}; "
                        "check BIRDEYE_API_KEYS")
                    auth_failed.append(err)
                    return FetchResult(req, FetchOutcome.ERROR, requests=sent, credits=credits, detail=str(err))
                elif status in (400, 404, 422):
                    return FetchResult(req, FetchOutcome.BAD_REQUEST, requests=sent, credits=credits,
                                       detail=f"HTTP {status}: {self._message(resp)}")
                else:
                    last = f"HTTP {status}"
                    if status == 429:
                        wait = retry_after_seconds(resp.headers.get("retry-after"))
                        # the whole key is over its limit, not just this request
                        # no Retry-After: pause the key for a few slots so the provider's window drains
                        pacer.hold(key, wait if wait is not None else 3 * pacer.step)
                    elif status not in RETRY_STATUS and status < 500:
                        return FetchResult(req, FetchOutcome.ERROR, requests=sent, credits=credits,
                                           detail=f"HTTP {status}: {self._message(resp)}")
            if attempt + 1 < self.max_attempts:
                delay = wait if wait is not None else backoff_seconds(attempt, self.backoff_base_s,
                                                                      self.backoff_max_s)
                log.info("birdeye %s %s on %s: %s, retry %d in %.2fs", req.address, req.interval, chain, last,
                         attempt + 1, delay)
                await asyncio.sleep(delay)
        log.warning("birdeye %s on %s: giving up after %d attempts (%s)", req.address, chain, sent, last)
        return FetchResult(req, FetchOutcome.ERROR, requests=sent, credits=credits,
                           detail=f"{last} after {sent} attempts")

    def _message(self, resp: httpx.Response) -> str:
        try:
            msg = str(orjson.loads(resp.content).get("message", ""))[:200]
        except (orjson.JSONDecodeError, AttributeError):
            msg = resp.text[:200]
        return self._keys.scrub(msg)


def _parse(body: bytes) -> pl.DataFrame | str:
    """Items of a v3 answer as a candle frame, or the reason it could not be read (then retried)."""
    try:
        doc = orjson.loads(body)
        if not doc.get("success", False):
            return "answer without success"
        items = (doc.get("data") or {}).get("items")
        if items is None:
            return "answer without data.items"
        if not items:
            return pl.DataFrame(schema=CANDLE_COLUMNS)
        return pl.DataFrame({
            "open_ts": [int(it.get("unix_time", it.get("unixTime"))) for it in items],
            "open": [float(it["o"]) for it in items],
            "high": [float(it["h"]) for it in items],
            "low": [float(it["l"]) for it in items],
            "close": [float(it["c"]) for it in items],
            "volume_usd": [None if it.get("v_usd") is None else float(it["v_usd"]) for it in items],
        }, schema=CANDLE_COLUMNS)
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as e:
        return f"malformed answer ({type(e).__name__})"
