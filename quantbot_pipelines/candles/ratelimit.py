"""Rate limiting and retry timing for paid and free candle APIs.

A provider counts requests per key over short windows; a burst that it refuses (429) still costs time, so
requests are paced: each key hands out evenly spaced slots at its rate (a token bucket of capacity `burst`,
1 by default). Several keys rotate: a request takes whichever key's next slot is soonest.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time


class KeyPacer:
    """Evenly spaced request slots for several keys, `rate` requests per second each (asyncio)."""

    def __init__(self, keys: int, rate: float, *, burst: int = 1):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.step = 1.0 / rate
        self.burst = max(1, burst)
        self._next = [0.0] * keys  # earliest time (monotonic) each key may send again
        self._lock = asyncio.Lock()

    async def acquire(self) -> int:
        """Wait for a slot; returns the index of the key to use."""
        async with self._lock:
            now = time.monotonic()
            i = min(range(len(self._next)), key=self._next.__getitem__)
            # a key idle for a while may spend up to `burst` slots at once, never more
            slot = max(self._next[i], now - (self.burst - 1) * self.step)
            self._next[i] = slot + self.step
        delay = slot - now
        if delay > 0:
            await asyncio.sleep(delay)
        return i

    def hold(self, key: int, seconds: float) -> None:
        """The provider said wait (Retry-After / 429): no request on this key before then."""
        self._next[key] = max(self._next[key], time.monotonic() + seconds)


class Pacer:
    """Blocking pacer for one rate (requests per second), shared across threads."""

    def __init__(self, rate: float):
        self.step = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.step
        if slot > now:
            time.sleep(slot - now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


def retry_after_seconds(value: str | None, cap: float = 120.0) -> float | None:
    """Retry-After as seconds (delta form; an HTTP date is read too), capped."""
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return min(cap, max(0.0, parsedate_to_datetime(value).timestamp() - time.time()))
        except (TypeError, ValueError):
            return None


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter (attempt 0 = first retry)."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** attempt)
