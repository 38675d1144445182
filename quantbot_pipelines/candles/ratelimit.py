"""Rate limiting for paid and free candle APIs (retry timing: http.py).

A provider counts requests per key over short windows; a burst that it refuses (429) still costs time, so
requests are paced: each key hands out evenly spaced slots at its rate (a token bucket of capacity `burst`,
1 by default). Several keys rotate: a request takes whichever key's next slot is soonest.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

# told (seconds, why) before a pacer sleeps, so that long waits can be logged with their reason
OnWait = Callable[[float, str], None]


class KeyPacer:
    """Evenly spaced request slots for several keys, `rate` requests per second each (asyncio)."""

    def __init__(self, keys: int, rate: float, *, burst: int = 1):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.step = 1.0 / rate
        self.burst = max(1, burst)
        self._next = [0.0] * keys  # earliest time (monotonic) each key may send again
        self._held = [0.0] * keys  # until when the provider asked a key to wait
        self._lock = asyncio.Lock()

    async def acquire(self, on_wait: OnWait | None = None) -> int:
        """Wait for a slot; returns the index of the key to use."""
        async with self._lock:
            now = time.monotonic()
            i = min(range(len(self._next)), key=self._next.__getitem__)
            # a key idle for a while may spend up to `burst` slots at once, never more
            slot = max(self._next[i], now - (self.burst - 1) * self.step)
            self._next[i] = slot + self.step
        delay = slot - now
        if delay > 0:
            if on_wait is not None:
                on_wait(delay, f"key #{i + 1} held: the provider asked to wait" if self._held[i] > now
                        else f"pacing to {1 / self.step:.3g} requests/s per key")
            await asyncio.sleep(delay)
        return i

    def hold(self, key: int, seconds: float) -> None:
        """The provider said wait (Retry-After / 429): no request on this key before then."""
        until = time.monotonic() + seconds
        self._next[key] = max(self._next[key], until)
        self._held[key] = max(self._held[key], until)


class Pacer:
    """Blocking pacer for one rate (requests per second), shared across threads."""

    def __init__(self, rate: float):
        self.step = 1.0 / rate
        self._next = 0.0
        self._held = 0.0
        self._lock = threading.Lock()

    def acquire(self, on_wait: OnWait | None = None) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.step
            held = self._held > now
        if slot > now:
            if on_wait is not None:
                on_wait(slot - now, "held: the provider asked to wait" if held
                        else f"pacing to {60 / self.step:.3g} requests/min")
            time.sleep(slot - now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._next = max(self._next, until)
            self._held = max(self._held, until)
