"""One retry discipline for every HTTP client of the candle and pair sources.

A request is a series of attempts bounded three ways: `max_attempts`; a total deadline per attempt
(`attempt_timeout_s`: connect, headers and the whole body, so a server dripping one byte at a time cannot keep a
request alive past it); and a budget per request across all its attempts and waits (`request_budget_s`).
Between attempts the client waits what the provider asked (`Retry-After`, read in every form and capped at
`retry_after_cap_s`) or an exponential backoff with jitter. A wait that would pass the budget is not waited: the
request gives up at once, saying why. Every wait longer than `warn_wait_s` is logged at WARNING with its reason,
through the logger the source was given (the asset hands it Dagster's run log), so a quiet run is never a
mystery. Keys never reach these logs: callers describe requests by token and window only.

The client decides what an answer means (`Done` or `Again`); this module only runs the loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024  # far above any candle page (5,000 candles are about 1 MB)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    attempt_timeout_s: float = 30.0   # one attempt, whole body included
    request_budget_s: float = 180.0   # all attempts and waits of one request
    retry_after_cap_s: float = 60.0   # longest Retry-After honoured
    warn_wait_s: float = 5.0          # waits above this are logged at WARNING

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter (attempt 0 = first retry)."""
        return random.uniform(0.5, 1.0) * min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt)


def read_retry_after(value: str | None, cap: float, *, now: float | None = None) -> tuple[float | None, str | None]:
    """A Retry-After header as (seconds to wait, a note for the log).

    Delta seconds (`120`, `1.5`) and HTTP dates (`Wed, 21 Oct 2015 07:28:00 GMT`) are read; a date in the past is 0.
    Anything else (garbage, a negative or non-finite number) is unreadable: (None, note), and the caller backs off
    as if there were no header. Waits above `cap` are capped, and the note says so."""
    if value is None or not value.strip():
        return None, None
    raw = value.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None, f"unreadable Retry-After {raw[:40]!r}"
        if when is None or when.tzinfo is None:
            return None, f"unreadable Retry-After {raw[:40]!r}"
        seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    else:
        if not math.isfinite(seconds) or seconds < 0:
            return None, f"unreadable Retry-After {raw[:40]!r}"
    if seconds > cap:
        return cap, f"Retry-After {raw[:40]!r} capped to {cap:g} s"
    return seconds, f"Retry-After {raw[:40]!r}"


# -- one attempt ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes


class AttemptFailed(Exception):
    """No usable reply in this attempt (timeout, deadline, transport error, oversized body): retried."""


def _timeouts(deadline_s: float, io_timeout_s: float) -> httpx.Timeout:
    t = max(0.001, min(deadline_s, io_timeout_s))
    return httpx.Timeout(t)


async def get_async(client: httpx.AsyncClient, path: str, *, deadline_s: float, io_timeout_s: float,
                    params: dict | None = None, headers: dict | None = None) -> Reply:
    """One GET whose whole exchange (connect, headers, body) ends within `deadline_s`."""
    if deadline_s <= 0:
        raise AttemptFailed("no time left for the attempt")
    try:
        async with asyncio.timeout(deadline_s):
            async with client.stream("GET", path, params=params, headers=headers,
                                     timeout=_timeouts(deadline_s, io_timeout_s)) as resp:
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise AttemptFailed(f"answer larger than {MAX_BODY_BYTES // 2**20} MiB")
                    chunks.append(chunk)
                return Reply(resp.status_code, resp.headers, b"".join(chunks))
    except TimeoutError:
        raise AttemptFailed(f"no complete answer within {deadline_s:.3g} s") from None
    except httpx.TimeoutException as e:
        raise AttemptFailed(type(e).__name__) from None
    except (httpx.TransportError, httpx.DecodingError) as e:
        raise AttemptFailed(type(e).__name__) from None


def get_sync(client: httpx.Client, path: str, *, deadline_s: float, io_timeout_s: float,
             params: dict | None = None, headers: dict | None = None) -> Reply:
    """One blocking GET read as a stream against a monotonic deadline: the body is abandoned once `deadline_s`
    has passed. Each read waits at most min(io_timeout_s, what is left), so an attempt ends within the deadline
    plus at most one such read."""
    if deadline_s <= 0:
        raise AttemptFailed("no time left for the attempt")
    end = time.monotonic() + deadline_s
    try:
        with client.stream("GET", path, params=params, headers=headers,
                           timeout=_timeouts(deadline_s, io_timeout_s)) as resp:
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise AttemptFailed(f"answer larger than {MAX_BODY_BYTES // 2**20} MiB")
                chunks.append(chunk)
                if time.monotonic() > end:
                    raise AttemptFailed(f"no complete answer within {deadline_s:.3g} s")
            if time.monotonic() > end:
                raise AttemptFailed(f"no complete answer within {deadline_s:.3g} s")
            return Reply(resp.status_code, resp.headers, b"".join(chunks))
    except httpx.TimeoutException as e:
        if time.monotonic() > end:
            raise AttemptFailed(f"no complete answer within {deadline_s:.3g} s") from None
        raise AttemptFailed(type(e).__name__) from None
    except (httpx.TransportError, httpx.DecodingError) as e:
        raise AttemptFailed(type(e).__name__) from None


# -- the loop ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Done:
    value: Any


@dataclass(frozen=True)
class Again:
    reason: str                       # e.g. "HTTP 503", "malformed answer (JSONDecodeError)"
    retry_after: str | None = None    # the provider's Retry-After header, if it sent one
    hold: Callable[[float], None] | None = None  # told the wait (e.g. pause the key for everyone)


@dataclass(frozen=True)
class GaveUp:
    reason: str   # the last attempt's
    attempts: int
    detail: str   # for the ledger / the answer: why it ended


class Attempt:
    """What one attempt may ask of the loop: how long it may take, and a way to report waits (pacing)."""

    def __init__(self, loop: Retrying, what: str, number: int, budget_end: float):
        self._loop, self.what, self.number, self._budget_end = loop, what, number, budget_end

    @property
    def deadline_s(self) -> float:
        """Seconds this attempt may still take: the attempt timeout, or less when the budget is nearly spent."""
        return min(self._loop.policy.attempt_timeout_s, self._budget_end - time.monotonic())

    def waiting(self, seconds: float, reason: str) -> None:
        """Called before a wait outside the loop (a pacer slot, a key held by the provider)."""
        self._loop.note_wait(self.what, seconds, reason)


class Retrying:
    """Runs attempts under a `RetryPolicy`, logging through `log` (a `logging.Logger`; Dagster's run log works)."""

    def __init__(self, policy: RetryPolicy, logger: logging.Logger | None = None):
        self.policy = policy
        self.log = logger or log

    def note_wait(self, what: str, seconds: float, reason: str) -> None:
        if seconds > self.policy.warn_wait_s:
            self.log.warning("%s: waiting %.1f s (%s)", what, seconds, reason)
        elif seconds > 0:
            self.log.debug("%s: waiting %.2f s (%s)", what, seconds, reason)

    def _next_wait(self, what: str, number: int, again: Again, budget_end: float) -> tuple[float | None, str]:
        """(seconds to wait before attempt number + 1, or None to give up; why)."""
        p = self.policy
        if number >= p.max_attempts:
            return None, f"{again.reason} after {number} attempts"
        wait, note = read_retry_after(again.retry_after, p.retry_after_cap_s)
        if wait is None:
            wait = p.backoff(number - 1)
            why = f"{again.reason}{f', {note}' if note else ''}, backoff"
        else:
            why = f"{again.reason}, {note}"
        if again.hold is not None:
            again.hold(wait)
        left = budget_end - time.monotonic()
        if wait >= left:
            return None, (f"{again.reason} after {number} attempts; the next wait ({wait:.3g} s) would pass the "
                          f"{p.request_budget_s:g} s budget of a request")
        if wait > p.warn_wait_s:
            self.log.warning("%s: %s; waiting %.1f s before attempt %d of %d", what, why, wait, number + 1,
                             p.max_attempts)
        else:
            self.log.info("%s: %s, retry %d in %.2f s", what, why, number, wait)
        return wait, why

    def _budget_spent(self, number: int, reason: str) -> GaveUp:
        return GaveUp(reason, number, f"{reason} after {number} attempts; the {self.policy.request_budget_s:g} s "
                                      "budget of a request is spent")

    async def run_async(self, what: str, attempt: Callable[[Attempt], Awaitable[Done | Again]]) -> Done | GaveUp:
        budget_end = time.monotonic() + self.policy.request_budget_s
        reason = "no answer"
        for number in range(1, self.policy.max_attempts + 1):
            if time.monotonic() >= budget_end:
                return self._budget_spent(number - 1, reason)
            out = await attempt(Attempt(self, what, number, budget_end))
            if isinstance(out, Done):
                return out
            reason = out.reason
            wait, why = self._next_wait(what, number, out, budget_end)
            if wait is None:
                self.log.warning("%s: giving up: %s", what, why)
                return GaveUp(reason, number, why)
            await asyncio.sleep(wait)
        return GaveUp(reason, self.policy.max_attempts, f"{reason} after {self.policy.max_attempts} attempts")

    def run_sync(self, what: str, attempt: Callable[[Attempt], Done | Again]) -> Done | GaveUp:
        budget_end = time.monotonic() + self.policy.request_budget_s
        reason = "no answer"
        for number in range(1, self.policy.max_attempts + 1):
            if time.monotonic() >= budget_end:
                return self._budget_spent(number - 1, reason)
            out = attempt(Attempt(self, what, number, budget_end))
            if isinstance(out, Done):
                return out
            reason = out.reason
            wait, why = self._next_wait(what, number, out, budget_end)
            if wait is None:
                self.log.warning("%s: giving up: %s", what, why)
                return GaveUp(reason, number, why)
            time.sleep(wait)
        return GaveUp(reason, self.policy.max_attempts, f"{reason} after {self.policy.max_attempts} attempts")


__all__ = ["Again", "Attempt", "AttemptFailed", "Done", "GaveUp", "Reply", "RetryPolicy", "Retrying",
           "get_async", "get_sync", "read_retry_after"]
