"""The shared retry discipline (candles/http.py): Retry-After in every form, a total deadline per attempt that a
slow drip cannot stretch, a budget per request, and long waits logged at WARNING with their reason."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time

import pytest

from quantbot_pipelines.candles import BirdeyeSource, CandleRequest, GeckoTerminalSource
from quantbot_pipelines.candles.http import read_retry_after
from quantbot_pipelines.candles.pairs import DexScreenerPairs, PairStatus
from tests.candles.fake_market import FakeMarket

KEY = "test-key-SECRET-123"
T0 = int(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC).timestamp())
REQ = CandleRequest("solana", "Tok", "1m", T0, T0 + 3600)
PAIR = "CskBX6spMAx4SGeknMUSQTCKukPxX99yu1N3iP1XCbDh"
MINT = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"


@pytest.fixture
def market():
    with FakeMarket(keys=(KEY,)) as m:
        yield m


def birdeye(market, **kw) -> BirdeyeSource:
    opts = {"requests_per_second": 500.0, "max_concurrency": 4, "timeout_s": 0.5, "max_attempts": 3,
            "backoff_base_s": 0.01, "backoff_max_s": 0.02, "attempt_timeout_s": 1.0, "request_budget_s": 10.0,
            "retry_after_cap_s": 0.3, "warn_wait_s": 5.0} | kw
    return BirdeyeSource([KEY], base_url=market.url, **opts)


def gecko(market, **kw) -> GeckoTerminalSource:
    opts = {"requests_per_minute": 60000.0, "timeout_s": 0.5, "max_attempts": 3, "backoff_base_s": 0.01,
            "backoff_max_s": 0.02, "attempt_timeout_s": 1.0, "request_budget_s": 10.0, "retry_after_cap_s": 0.3} | kw
    return GeckoTerminalSource(base_url=market.url, **opts)


def http_date(offset_s: float) -> str:
    return email.utils.formatdate(time.time() + offset_s, usegmt=True)


@pytest.mark.parametrize(("header", "want"), [
    ("120", 120.0), ("1.5", 1.5), ("0", 0.0), (" 7 ", 7.0),
    ("1000000000", 600.0),                # huge: capped
    ("-5", None), ("soon", None), ("inf", None), ("nan", None), ("", None), (None, None), ("1e999", None),
])
def test_retry_after_delta_forms(header, want):
    got, note = read_retry_after(header, 600.0)
    assert got == want
    if header and header.strip() and want is None:
        assert "unreadable" in note
    if header == "1000000000":
        assert "capped to 600 s" in note


def test_retry_after_dates():
    assert read_retry_after(http_date(-3600), 600.0)[0] == 0.0          # in the past: go
    assert 25 <= read_retry_after(http_date(30), 600.0)[0] <= 31
    got, note = read_retry_after(http_date(10 ** 7), 600.0)              # months ahead: capped
    assert got == 600.0 and "capped" in note
    assert read_retry_after("Wed, 99 Foo 2015 07:28:00 GMT", 600.0)[0] is None


def test_slow_drip_is_cut_at_the_attempt_deadline(market):
    """A server sending one byte every 0.2 s keeps no request alive past its attempt deadline (httpx's own
    timeout is per read, and each byte resets it)."""
    market.faults["Tok"] = ["drip:400"] * 3  # 80 s of body, per attempt
    t = time.perf_counter()
    (res,) = birdeye(market, max_attempts=2).fetch_many([REQ])
    elapsed = time.perf_counter() - t
    assert res.status == "error" and "no complete answer within 1 s after 2 attempts" in res.detail
    assert res.requests == 2 and elapsed < 2 * 1.0 + 1.0

    market.ohlcv_faults["Gok"] = ["drip:400"] * 3
    t = time.perf_counter()
    (res,) = gecko(market, max_attempts=2).fetch_many([CandleRequest("solana", "Gok", "1m", T0, T0 + 3600)])
    elapsed = time.perf_counter() - t
    assert res.status == "error" and "no complete answer within 1 s after 2 attempts" in res.detail
    # one lookup + two page attempts; the sync client stops within a read of its deadline
    assert res.requests == 3 and elapsed < 2 * (1.0 + 0.5) + 1.0

    market.pairs[PAIR] = (MINT, None)
    market.faults[PAIR] = ["drip:400"]
    t = time.perf_counter()
    (a,) = DexScreenerPairs(base_url=market.url, requests_per_minute=60000.0, timeout_s=0.5, max_attempts=2,
                            backoff_base_s=0.01, attempt_timeout_s=1.0).resolve_many([("solana", PAIR)])
    assert (a.status, a.token_address, a.requests) == (PairStatus.RESOLVED, MINT, 2)  # the second attempt answers
    assert time.perf_counter() - t < 1.0 + 0.5 + 1.0


def test_budget_bounds_a_429_storm(market, caplog):
    """Retry-After of 10^9 is capped, and a window gives up once its budget cannot cover the next wait, saying
    so, instead of waiting through every capped retry."""
    caplog.set_level(logging.INFO)
    market.faults["Tok"] = ["429:1000000000"] * 10
    src = birdeye(market, max_attempts=10, retry_after_cap_s=0.4, request_budget_s=1.0)
    t = time.perf_counter()
    (res,) = src.fetch_many([REQ])
    elapsed = time.perf_counter() - t
    assert res.status == "error" and res.requests == 3 and elapsed < 1.3
    assert "HTTP 429 after 3 attempts; the next wait (0.4 s) would pass the 1 s budget" in res.detail
    assert "capped to 0.4 s" in caplog.text and KEY not in caplog.text


def test_long_waits_are_warnings_with_their_reason(market, caplog):
    caplog.set_level(logging.DEBUG)
    market.faults["Tok"] = ["429:0.3", "503"]
    src = birdeye(market, warn_wait_s=0.2, retry_after_cap_s=5.0, max_attempts=3)
    (res,) = src.fetch_many([REQ])
    assert res.status == "ok" and res.requests == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("HTTP 429, Retry-After '0.3'; waiting 0.3 s before attempt 2 of 3" in w for w in warnings), warnings
    assert any("birdeye Tok 1m on solana" in w for w in warnings)
    # the key held by the 429 makes its next request wait too: that wait is reported as well, not silent
    assert not any("HTTP 503" in w for w in warnings)  # a short backoff is no warning
    assert KEY not in caplog.text


def test_pacer_waits_held_by_the_provider_are_reported(market, caplog):
    caplog.set_level(logging.WARNING)
    market.faults["A"] = ["429:0.8"]
    reqs = [CandleRequest("solana", a, "1m", T0, T0 + 3600) for a in ("A", "B", "C")]
    # one slot every 0.2 s: A is refused at once and holds the key; C, asking for a slot after B, waits
    src = birdeye(market, warn_wait_s=0.1, retry_after_cap_s=5.0, max_concurrency=2, requests_per_second=5.0)
    res = src.fetch_many(reqs)
    assert [r.status for r in res] == ["ok", "ok", "ok"]
    assert "birdeye C 1m on solana" in caplog.text and "key #1 held: the provider asked to wait" in caplog.text
