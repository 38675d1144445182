"""Birdeye `/defi/v3/ohlcv` client (contract: docs/formats.md#candle-apis).

Async httpx with bounded concurrency behind a sync `fetch_many`; a pacer per key at the plan's requests/s;
retries (`http.Retrying`: a total deadline per attempt, a budget per request, Retry-After in every form, long waits
logged at WARNING) on 429, 5xx, timeouts and malformed answers. 400/404/422 are recorded as bad_request; 401/403
raise `CandleSourceAuthError` once the answers in flight are in (the run fails: every request would). Each result
is handed to `on_result` as it arrives. The key travels only in the `X-API-KEY` header: never in logs, results,
errors or repr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
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
    OnResult,
    clip_to_window,
    normalize_interval,
)
from quantbot_pipelines.candles.http import (
    Again,
    Attempt,
    AttemptFailed,
    Done,
    GaveUp,
    Retrying,
    RetryPolicy,
    get_async,
    read_retry_after,
)
from quantbot_pipelines.candles.ratelimit import KeyPacer

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
                 max_attempts: int = 6, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 attempt_timeout_s: float = 30.0, request_budget_s: float = 180.0,
                 retry_after_cap_s: float = 60.0, warn_wait_s: float = 5.0, log: logging.Logger | None = None):
        keys = [k for k in keys if k]
        if not keys:
            raise ValueError("Birdeye needs at least one API key")
        self._keys = _Keys(keys)
        self.base_url = base_url.rstrip("/")
        self.requests_per_second = requests_per_second
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s                  # one connect or read
        # one attempt is cut at attempt_timeout_s (whole body included); request_budget_s bounds all attempts
        # and waits of one window
        self.retry_policy = RetryPolicy(
            max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
            attempt_timeout_s=attempt_timeout_s, request_budget_s=request_budget_s,
            retry_after_cap_s=retry_after_cap_s, warn_wait_s=warn_wait_s)
        self.log = log or globals()["log"]

    def __repr__(self) -> str:
        return (f"BirdeyeSource(base_url={self.base_url!r}, keys={len(self._keys)}, "
                f"requests_per_second={self.requests_per_second})")

    def chain_id(self, chain: str) -> str | None:
        return CHAINS.get((chain or "").lower())

    # -- sync face ---------------------------------------------------------------------------------------
    def fetch(self, request: CandleRequest) -> FetchResult:
        return self.fetch_many([request])[0]

    def fetch_many(self, requests: list[CandleRequest], on_result: OnResult | None = None) -> list[FetchResult]:
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.fetch_many_async(requests, on_result))
        # called from inside an event loop (e.g. a notebook): run ours in a thread
        out: dict = {}

        def run() -> None:
            try:
                out["r"] = asyncio.run(self.fetch_many_async(requests, on_result))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                out["e"] = e

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        return out["r"]

    # -- async core --------------------------------------------------------------------------------------
    async def fetch_many_async(self, requests: list[CandleRequest],
                               on_result: OnResult | None = None) -> list[FetchResult]:
        # 3% under the plan's rate: late timer wake-ups bunch requests, and a provider's window counts them
        pacer = KeyPacer(len(self._keys), self.requests_per_second * PACE_MARGIN)
        sem = asyncio.Semaphore(self.max_concurrency)
        handing = asyncio.Lock()  # on_result runs in a worker thread, one result at a time
        auth_failed: list[CandleSourceAuthError] = []
        retrying = Retrying(self.retry_policy, self.log)
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, limits=limits) as client:

            async def one(req: CandleRequest) -> FetchResult:
                async with sem:
                    res = await self._fetch_one(client, pacer, req, auth_failed, retrying)
                    if on_result is not None:
                        # kept before the slot is freed: at most max_concurrency answers are ever unkept
                        async with handing:
                            await asyncio.to_thread(on_result, res)
                    return res

            results = await asyncio.gather(*(one(r) for r in requests))
        if auth_failed:
            raise auth_failed[0]
        return list(results)

    async def _fetch_one(self, client: httpx.AsyncClient, pacer: KeyPacer, req: CandleRequest,
                         auth_failed: list, retrying: Retrying) -> FetchResult:
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
        spent = {"sent": 0, "credits": 0}

        def result(status: FetchOutcome, frame: pl.DataFrame | None = None, detail: str | None = None) -> FetchResult:
            return FetchResult(req, status, frame if frame is not None else pl.DataFrame(schema=CANDLE_COLUMNS),
                               requests=spent["sent"], credits=spent["credits"], detail=detail)

        not_asked = "not asked: the API key was refused"

        async def attempt(a: Attempt) -> Done | Again:
            if auth_failed:
                return Done(result(FetchOutcome.ERROR, detail=not_asked))
            key = await pacer.acquire(a.waiting)
            if auth_failed:  # refused while this one waited for its slot
                return Done(result(FetchOutcome.ERROR, detail=not_asked))
            headers = {"X-API-KEY": self._keys[key], "x-chain": chain, "accept": "application/json"}
            spent["sent"] += 1
            try:
                reply = await get_async(client, "/defi/v3/ohlcv", params=params, headers=headers,
                                        deadline_s=a.deadline_s, io_timeout_s=self.timeout_s)
            except AttemptFailed as e:
                return Again(str(e))
            status = reply.status
            if status == 200:
                parsed = _parse(reply.body)
                # estimated: a 200 is counted as billed whether or not its body can be read
                spent["credits"] += credits_for(0 if isinstance(parsed, str) else parsed.height)
                if isinstance(parsed, str):
                    return Again(parsed)
                frame = clip_to_window(parsed, req)
                if frame.is_empty():
                    return Done(result(FetchOutcome.NO_TRADES,
                                       detail=f"empty answer on {chain}: no trades in the window or token unknown"))
                return Done(result(FetchOutcome.OK, frame))
            if status in (401, 403):
                what = "rejected the API key" if status == 401 else "refused the endpoint for this plan"
                err = CandleSourceAuthError(
                    f"Birdeye {what} (HTTP {status}) for key #{key + 1} of {len(self._keys)}; check BIRDEYE_API_KEYS")
                auth_failed.append(err)
                return Done(result(FetchOutcome.ERROR, detail=str(err)))
            if status in (400, 404, 422):
                return Done(result(FetchOutcome.BAD_REQUEST, detail=f"HTTP {status}: {self._message(reply.body)}"))
            if status in RETRY_STATUS or status >= 500:
                ra = reply.headers.get("retry-after")
                hold = None
                if status == 429:
                    # the whole key is over its limit, not just this request; without a readable Retry-After
                    # the key pauses for a few slots so that the provider's window drains
                    told = read_retry_after(ra, self.retry_policy.retry_after_cap_s)[0] is not None

                    def hold(wait: float, key: int = key, told: bool = told) -> None:
                        pacer.hold(key, wait if told else 3 * pacer.step)
                return Again(f"HTTP {status}", retry_after=ra, hold=hold)
            return Done(result(FetchOutcome.ERROR, detail=f"HTTP {status}: {self._message(reply.body)}"))

        what = f"birdeye {req.address} {req.interval} on {chain} [{req.start_ts}, {req.end_ts})"
        out = await retrying.run_async(what, attempt)
        if isinstance(out, GaveUp):
            return result(FetchOutcome.ERROR, detail=out.detail)
        return out.value

    def _message(self, body: bytes) -> str:
        try:
            msg = str(orjson.loads(body).get("message", ""))[:200]
        except (orjson.JSONDecodeError, AttributeError):
            msg = body[:200].decode("utf-8", "replace")
        return self._keys.scrub(msg)


def loads_lenient(body: bytes):
    """JSON, also as some writers spell it: bare NaN, Infinity or numbers too large for a double (read as
    infinite), so that one spoiled candle does not make a paid answer unreadable; the candle check drops it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)  # raises ValueError (JSONDecodeError) when it is not JSON at all


def number(value, garbage: float | None = None) -> float | None:
    """A JSON number as a float; a string that spells a number is read as it; null is None; anything else
    (other strings, booleans, objects) is `garbage`: None for prices and times (the candle check counts them
    as not_a_number), NaN for a volume (null means "not reported", which is valid; garbage is not)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return garbage
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return garbage
    return garbage


def open_time(value) -> int | None:
    """An open time in epoch seconds: an integral number (or a string spelling one), else None."""
    f = number(value)
    if f is None or not math.isfinite(f) or f != int(f):
        return None
    return int(f)


def _parse(body: bytes) -> pl.DataFrame | str:
    """Items of a v3 answer as a candle frame (values that are no number as nulls, for the candle check to count),
    or the reason the answer could not be read (then retried)."""
    try:
        doc = loads_lenient(body)
    except (ValueError, UnicodeDecodeError) as e:
        return f"malformed answer ({type(e).__name__})"
    if not isinstance(doc, dict):
        return "malformed answer (not an object)"
    if not doc.get("success", False):
        return "answer without success"
    data = doc.get("data")
    items = data.get("items") if isinstance(data, dict) else None
    if items is None:
        return "answer without data.items"
    if not isinstance(items, list) or not all(isinstance(it, dict) for it in items):
        return "malformed answer (data.items is not a list of objects)"
    if not items:
        return pl.DataFrame(schema=CANDLE_COLUMNS)
    return pl.DataFrame({
        "open_ts": [open_time(it.get("unix_time", it.get("unixTime"))) for it in items],
        "open": [number(it.get("o")) for it in items],
        "high": [number(it.get("h")) for it in items],
        "low": [number(it.get("l")) for it in items],
        "close": [number(it.get("c")) for it in items],
        "volume_usd": [number(it.get("v_usd"), math.nan) for it in items],
        # `v` is the traded amount in tokens (UI amount): read as v_usd is (null: not reported, garbage: NaN)
        "volume_tokens": [number(it.get("v"), math.nan) for it in items],
    }, schema=CANDLE_COLUMNS)
