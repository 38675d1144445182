"""Worker threads whose exceptions reach the test: a test that cannot see its workers fail cannot fail."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Self


def fault_trials(default: int) -> int:
    """How many seeded trials a fault test runs: QUANTBOT_FAULT_TRIALS overrides the suite's bounded default."""
    raw = os.environ.get("QUANTBOT_FAULT_TRIALS")
    return max(1, int(raw)) if raw else default


class Workers:
    """Run callables in threads; `join()` re-raises the first exception any of them raised.

        with Workers() as w:
            reads = w.loop(read_once)   # called again and again until the block ends
            write_all()
        # leaving the block sets `stop`, joins, and raises what a worker raised; reads.result() = calls made
    """

    def __init__(self, max_workers: int = 8):
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers)
        self._futures: list[Future] = []

    def start(self, fn: Callable, *args) -> Future:
        f = self._pool.submit(fn, *args)
        self._futures.append(f)
        return f

    def loop(self, fn: Callable[[], object]) -> Future:
        """Call `fn` until `stop` is set; returns a future of how many calls completed."""
        def run() -> int:
            n = 0
            while not self.stop.is_set():
                fn()
                n += 1
            return n
        return self.start(run)

    def join(self, timeout: float | None = 120) -> list:
        self.stop.set()
        try:
            return [f.result(timeout=timeout) for f in self._futures]
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.join()
        else:
            self.stop.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
