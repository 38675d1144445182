"""GeckoTerminal client against a loopback server: pool choice, backward paging, pool recorded, limits."""

from __future__ import annotations

import datetime as dt
import time

import polars as pl
import pytest

from quantbot_pipelines.candles import CandleRequest, GeckoTerminalSource, collect_candles
from quantbot_pipelines.candles.geckoterminal import _reserve, _rows_frame
from quantbot_pipelines.candles.validate import check_candles
from tests.candles.fake_market import FakeMarket, MemoryStore, calls_frame, expected_open_times

DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC).timestamp())
LATER = T0 + 10 * 86400


@pytest.fixture
def market():
    with FakeMarket() as m:
        yield m


def gecko(market, rpm=60000.0) -> GeckoTerminalSource:
    return GeckoTerminalSource(base_url=market.url, requests_per_minute=rpm, timeout_s=0.5, max_attempts=3,
                               backoff_base_s=0.01, backoff_max_s=0.05)


def run(src, store, calls, now=LATER):
    b = collect_candles(calls, day=DAY, source=src, ledger=store.ledger, read_stored=store.read_stored, now=now)
    store.save(DAY, b)
    return b


def test_most_liquid_pool_paged_backwards_and_recorded(market):
    store, src = MemoryStore(), gecko(market)
    b = run(src, store, calls_frame([("ethereum", "0xtok", T0)]))
    pools = [r for r in market.requests if r["path"].endswith("/pools")]
    assert len(pools) == 1 and pools[0]["path"] == "/api/v2/networks/eth/tokens/0xtok/pools"
    pages = [r for r in market.requests if "/ohlcv/" in r["path"]]
    assert all(r["path"] == "/api/v2/networks/eth/pools/0xtok_main/ohlcv/minute" for r in pages)
    befores = [int(r["params"]["before_timestamp"]) for r in pages]
    assert befores == sorted(befores, reverse=True) and len(pages) == 3  # 2,941 minutes, ~2,670 traded
    s, e = (T0 - 3600), T0 + 172800 + 60
    assert b.candles["open_ts"].dt.epoch("s").to_list() == expected_open_times("0xtok", s, e)
    row = b.ledger.row(0, named=True)
    assert row["status"] == "ok" and row["pool_address"] == "0xtok_main" and row["requests"] == 4
    assert row["pool_liquidity_usd"] == 85000.1  # the listed reserve_in_usd of the pool picked
    # v is USD (currency=usd): the volume in tokens is derived at the close
    assert (b.candles["volume_tokens"] - b.candles["volume_usd"] / b.candles["close"]).abs().max() < 1e-9
    n = len(market.requests)
    assert run(src, store, calls_frame([("ethereum", "0xtok", T0)])).stats["requests"] == 0
    assert len(market.requests) == n


def test_tail_reuses_the_recorded_pool(market):
    store = MemoryStore()
    calls = calls_frame([("solana", "Sol1", T0)])
    run(gecko(market), store, calls, now=T0 + 3 * 3600)
    n = len(market.requests)
    b = run(gecko(market), store, calls)  # a fresh client: the pool comes from the ledger, no lookup
    new = market.requests[n:]
    assert new and not any(r["path"].endswith("/pools") for r in new)
    assert set(b.ledger["pool_address"]) == {"Sol1_main"} and b.stats["windows_complete"] == 1
    # the first run's answer has the listed reserve; the tail's pool came from the ledger, unlisted: none
    assert sorted(b.ledger["pool_liquidity_usd"].to_list(), key=lambda x: x is None) == [85000.1, None]
    assert b.candles.select(pl.col("open_ts").is_unique().all()).item()


def test_unknown_token_and_retries(market):
    market.gecko_unknown.add("0xnone")
    market.faults["0xflaky"] = ["429:0", "500"]
    b = run(gecko(market), MemoryStore(), calls_frame([("bsc", "0xnone", T0), ("bsc", "0xflaky", T0),
                                                        ("unknown", "zzz", T0)]))
    st = dict(zip(b.ledger["address"], b.ledger["status"], strict=True))
    assert st == {"0xnone": "token_unknown", "0xflaky": "ok", "zzz": "skipped"}
    assert b.ledger.filter(pl.col("address") == "0xflaky")["requests"][0] == 2 + 1 + 3  # 2 failed + lookup + 3 pages


def test_requests_per_minute_is_kept(market):
    src = gecko(market, rpm=600)  # one request per 0.1 s
    t = time.perf_counter()
    run(src, MemoryStore(), calls_frame([("solana", "Paced", T0)]))
    assert len(market.requests) == 4 and time.perf_counter() - t >= 0.29


def test_volume_in_tokens_is_derived_at_the_close():
    f = _rows_frame([[0, 1.0, 2.0, 0.5, 1.6, 8.0], [60, 1.0, 2.0, 0.5, 0.0, 8.0],
                     [120, 1.0, 2.0, 0.5, "x", 8.0], [180, 1.0, 2.0, 0.5, 1.6],
                     [240, 1.0, 2.0, 0.5, 1.6, "junk"], [300, 1.0, 2.0, 0.5, 1.6, -8.0]])
    vt = f["volume_tokens"].to_list()
    assert vt[0] == 5.0 and vt[1] is None and vt[2] is None and vt[3] is None  # no close, no volume: none
    assert vt[4] != vt[4] and vt[5] == -5.0  # garbage stays NaN, a negative volume stays negative
    # a close that is no price is counted for the price, not for a volume made up from it
    got = check_candles(f, CandleRequest("eth", "0xt", "1m", 0, 360))
    assert got.invalid == {"not_a_number": 1, "non_finite": 1, "non_positive_price": 1, "negative_volume": 1}
    # the reserve of a listed pool: a number or its spelling, else none
    listed = ("85000.1", 12, None, "n/a", "NaN", "-1")
    assert [_reserve({"attributes": {"reserve_in_usd": v}}) for v in listed] == [85000.1, 12.0] + [None] * 4
    assert _reserve({}) is None
