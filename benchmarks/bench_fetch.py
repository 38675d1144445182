"""Birdeye client against a local server limited to 50 requests/s (429 beyond it) with 30 ms latency.

Reports the sustained request rate as a share of the limit, failures, and the requests a second run over the
same windows makes with the first run's ledger (goal: rate_share >= 0.90, failed = 0, rerun_requests = 0).
Scale: BENCH_FETCH_TOKENS (default 2,000) or the first argument.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

from benchmarks._report import table, write_section
from quantbot_pipelines.candles import BirdeyeSource, collect_candles
from tests.candles.fake_market import FakeMarket, MemoryStore, calls_frame

LIMIT = 50.0
LATENCY = 0.030


def main() -> None:
    tokens = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_FETCH_TOKENS", "2000"))
    day = dt.date(2025, 3, 1)
    t0 = int(dt.datetime(2025, 3, 1, tzinfo=dt.UTC).timestamp())
    calls = calls_frame([("solana", f"Tok{i:05d}", t0 + 37 * i % 86400) for i in range(tokens)])
    now = t0 + 10 * 86400
    with FakeMarket(keys=("bench-key",), rate_limit=LIMIT, latency=LATENCY) as market:
        src = BirdeyeSource(["bench-key"], base_url=market.url, requests_per_second=LIMIT, max_concurrency=16)
        store = MemoryStore()
        start = time.perf_counter()
        b1 = collect_candles(calls, day=day, source=src, ledger=store.ledger, read_stored=store.read_stored,
                             now=now)
        elapsed = time.perf_counter() - start
        store.save(day, b1)
        times = sorted(r["t"] for r in market.requests)
        accepted = market.status_counts.get(200, 0)
        span = times[-1] - times[0] if len(times) > 1 else elapsed
        rate = (accepted - 1) / span if span > 0 else 0.0
        n = len(market.requests)
        b2 = collect_candles(calls, day=day, source=src, ledger=store.ledger, read_stored=store.read_stored,
                             now=now)
        rerun = len(market.requests) - n
    failed = b1.stats["errors"]
    share = rate / LIMIT
    rows = [{"tokens": tokens, "requests": b1.stats["requests"], "answered 200": accepted,
             "429 from server": market.status_counts.get(429, 0), "wall s": f"{elapsed:.1f}",
             "sustained req/s": f"{rate:.1f}", "rate_share": f"{share:.3f}", "failed": failed,
             "candles": b1.candles.height, "est. credits": b1.stats["credits"],
             "rerun requests": rerun, "rerun candles": b2.candles.height}]
    write_section("fetch", "Candle fetch: Birdeye client vs a 50 req/s limit",
                  f"Local server: sliding one-second window of {LIMIT:.0f} requests per key (429 beyond), "
                  f"{LATENCY * 1000:.0f} ms latency; client paced at {LIMIT:.0f}/s, 16 concurrent; one 1 h + 48 h "
                  "window (2,941 minutes, one request) per token. Rate = answers with status 200 per second between the "
                  "first and last request.\n\n" + table(rows))
    print(table(rows))
    print(f"rate_share={share:.3f} failed={failed} rerun_requests={rerun}")


if __name__ == "__main__":
    main()
