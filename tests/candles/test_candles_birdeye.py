"""Birdeye client and fetch-once logic against a real loopback server that answers as Birdeye does."""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl
import pytest

from quantbot_pipelines.candles import BirdeyeSource, CandleSourceAuthError, collect_candles
from quantbot_pipelines.candles.store import stored_candles
from quantbot_pipelines.schemas import CANDLE_LEDGER, RAW_CANDLES
from quantbot_pipelines.warehouse import ParquetWarehouse
from tests.candles.fake_market import FakeMarket, MemoryStore, calls_frame, expected_open_times

KEY = "test-key-SECRET-123"
DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, 0, 30, tzinfo=dt.UTC).timestamp())  # a call, 30 s into a minute
LATER = T0 + 10 * 86400                                                   # windows long complete


@pytest.fixture
def market():
    with FakeMarket(keys=(KEY, "second-key-XYZ")) as m:
        yield m


def source(market: FakeMarket, keys=(KEY,), **kw) -> BirdeyeSource:
    opts = {"requests_per_second": 500.0, "max_concurrency": 8, "timeout_s": 0.3, "max_attempts": 4,
            "backoff_base_s": 0.01, "backoff_max_s": 0.05} | kw
    return BirdeyeSource(list(keys), base_url=market.url, **opts)


def run(src, store: MemoryStore, calls, now=LATER, **kw):
    batch = collect_candles(calls, day=DAY, source=src, ledger=store.ledger, read_stored=store.read_stored,
                            now=now, **kw)
    store.save(DAY, batch)
    return batch


def window(call: int, pre=3600, horizon=172800) -> tuple[int, int]:
    return (call - pre) // 60 * 60, (call + horizon) // 60 * 60 + 60


def assert_no_key(*texts: str) -> None:
    for t in texts:
        assert KEY not in t and "second-key-XYZ" not in t


def test_happy_path_chunks_and_rerun_makes_no_requests(market, caplog):
    caplog.set_level(logging.DEBUG)
    # a 4-day horizon: 5,820 candles, more than one request may carry
    calls = calls_frame([("solana", "TokA", T0), ("solana", "TokB", T0 + 300)])
    store, src = MemoryStore(), source(market)
    b = run(src, store, calls, horizon_s=4 * 86400)
    s, e = window(T0, horizon=4 * 86400)
    want = expected_open_times("TokA", s, e)
    got = b.candles.filter(pl.col("address") == "TokA")["open_ts"].dt.epoch("s").to_list()
    assert got == want and len(want) > 5000
    reqs = market.ohlcv_requests("TokA")
    assert len(reqs) == 2
    assert all(r["headers"]["x-chain"] == "solana" and r["headers"]["accept"] == "application/json"
               and r["params"]["type"] == "1m" and r["params"]["padding"] == "false" for r in reqs)
    # chunks tile the window without gap or overlap (Birdeye's time_to is inclusive)
    spans = sorted((int(r["params"]["time_from"]), int(r["params"]["time_to"])) for r in reqs)
    assert spans[0][0] == s and spans[-1][1] == e - 1 and spans[0][1] + 1 == spans[1][0]
    assert b.stats["requests"] == 4 and b.stats["windows_complete"] == 2 and b.stats["errors"] == 0
    assert b.stats["credits"] == 2 * (120 + 60)  # a 5,000-candle chunk and an 820-candle one per token
    assert b.candles.columns == RAW_CANDLES.columns
    assert b.candles.select(pl.struct("chain", "address", "interval", "open_ts").is_unique().all()).item()
    assert set(b.ledger["status"]) == {"ok"} and b.ledger.columns == CANDLE_LEDGER.columns
    # `v` is the volume in tokens (the fake market trades 1,000 tokens a dollar); OHLCV reports no liquidity
    assert (b.candles["volume_tokens"] == b.candles["volume_usd"] * 1000).all()
    assert b.ledger["pool_liquidity_usd"].is_null().all()
    # second run, same ledger: zero requests, same candles
    n = len(market.requests)
    b2 = run(src, store, calls, horizon_s=4 * 86400)
    assert len(market.requests) == n and b2.stats["requests"] == 0
    assert b2.candles.equals(b.candles)
    assert b2.ledger.height == b.ledger.height
    assert_no_key(caplog.text, repr(src), str(b.ledger["detail"].to_list()))


def test_credits_follow_candle_counts(market):
    # 1h + 48h window = 2,941 minutes, minus quiet ones: one request of 2,000-5,000 candles = 120 units;
    # a 10-hour horizon (about 600 candles) costs 60
    store, src = MemoryStore(), source(market)
    b = run(src, store, calls_frame([("solana", "TokC", T0)]))
    assert b.stats["requests"] == 1 and b.stats["credits"] == 120
    b = run(src, MemoryStore(), calls_frame([("solana", "TokD", T0)]), horizon_s=10 * 3600)
    assert b.stats["requests"] == 1 and b.stats["credits"] == 60


def test_transient_faults_are_retried_and_counted(market, caplog):
    caplog.set_level(logging.DEBUG)
    market.faults["T429"] = ["429:0.05", "429"]     # with and without Retry-After
    market.faults["T500"] = ["500", "503"]
    market.faults["Tslow"] = ["timeout"]
    market.faults["Tjson"] = ["malformed"]
    calls = calls_frame([("solana", a, T0) for a in ("T429", "T500", "Tslow", "Tjson", "Tok")])
    store = MemoryStore()
    b = run(source(market), store, calls)
    led = {r["address"]: r for r in b.ledger.iter_rows(named=True)}
    assert {a: led[a]["requests"] for a in led} == {"T429": 3, "T500": 3, "Tslow": 2, "Tjson": 2, "Tok": 1}
    assert all(r["status"] == "ok" for r in led.values())
    s, e = window(T0)
    for a in led:  # nothing lost, nothing doubled
        assert b.candles.filter(pl.col("address") == a)["open_ts"].dt.epoch("s").to_list() == \
            expected_open_times(a, s, e)
    assert b.stats["requests"] == 11
    assert "retry" in caplog.text
    assert_no_key(caplog.text)


def test_persistent_errors_are_recorded_per_token_and_retried_next_run(market):
    market.faults["Tdown"] = ["500"] * 4
    calls = calls_frame([("solana", "Tdown", T0), ("solana", "Tfine", T0)])
    store, src = MemoryStore(), source(market)
    b = run(src, store, calls)
    st = dict(zip(b.ledger["address"], b.ledger["status"], strict=True))
    assert st == {"Tdown": "error", "Tfine": "ok"}
    assert b.stats["errors"] == 1 and b.stats["by_status"] == {"error": 1, "ok": 1}
    assert "HTTP 500 after 4 attempts" in b.ledger.filter(pl.col("address") == "Tdown")["detail"][0]
    assert b.candles.filter(pl.col("address") == "Tdown").is_empty()
    # next run asks only for the failed token, once, and the error row is replaced
    before = len(market.ohlcv_requests())
    b2 = run(src, store, calls)
    assert [r["params"]["address"] for r in market.ohlcv_requests()[before:]] == ["Tdown"]
    assert sorted(b2.ledger["status"]) == ["ok", "ok"] and b2.ledger.height == 2
    assert b2.stats["windows_complete"] == 2


def test_bad_request_and_empty_answers(market):
    market.bad.add("Tbad")
    market.dead.add("Tdead")
    old_calls = calls_frame([("solana", "Tbad", T0), ("solana", "Tdead", T0)])
    store, src = MemoryStore(), source(market)
    b = run(src, store, old_calls)
    led = {r["address"]: r for r in b.ledger.iter_rows(named=True)}
    assert led["Tbad"]["status"] == "bad_request" and "invalid address" in led["Tbad"]["detail"]
    assert led["Tdead"]["status"] == "no_trades" and led["Tdead"]["retry_after"] is None  # old window: final
    assert led["Tbad"]["requests"] == 1 and led["Tdead"]["requests"] == 1
    n = len(market.requests)
    run(src, store, old_calls, now=LATER + 30 * 86400)
    assert len(market.requests) == n  # neither is asked again, however late


def test_recent_empty_answer_gets_retry_after(market):
    market.dead.add("Tnew")
    calls = calls_frame([("solana", "Tnew", T0)])
    store, src = MemoryStore(), source(market)
    now = T0 + 2 * 3600
    b = run(src, store, calls, now=now)
    row = b.ledger.row(0, named=True)
    assert row["status"] == "no_trades"
    assert row["retry_after"] == dt.datetime.fromtimestamp(now + 6 * 3600, dt.UTC)
    n = len(market.requests)
    run(src, store, calls, now=now)                   # before retry_after: not asked
    assert len(market.requests) == n
    run(src, store, calls, now=now + 3600)            # an hour on: only the new hour is asked
    assert [int(r["params"]["time_from"]) for r in market.requests[n:]] == [now // 60 * 60]
    market.dead.discard("Tnew")                       # the token starts trading
    n = len(market.requests)
    b3 = run(src, store, calls, now=now + 7 * 3600)   # after retry_after: the whole window again
    new = market.requests[n:]
    assert len(new) == 1 and int(new[0]["params"]["time_from"]) == window(T0)[0] and b3.candles.height > 0
    assert set(b3.ledger["status"]) == {"ok"} and b3.ledger.height == 1


def test_token_unknown_on_one_chain_uses_the_call_chain(market):
    market.token_chain["0xabc"] = "bsc"
    calls = calls_frame([("bsc", "0xabc", T0), ("ethereum", "0xabc", T0)])
    b = run(source(market), MemoryStore(), calls)
    st = {(r["chain"], r["status"]) for r in b.ledger.iter_rows(named=True)}
    assert st == {("bsc", "ok"), ("ethereum", "no_trades")}
    assert sorted(r["headers"]["x-chain"] for r in market.ohlcv_requests()) == ["bsc", "ethereum"]
    assert set(b.candles["chain"]) == {"bsc"}


def test_unknown_chain_is_skipped_not_guessed(market):
    calls = calls_frame([("unknown", "Mystery", T0), ("tron", "Txyz", T0), ("solana", "Tok", T0)])
    b = run(source(market), MemoryStore(), calls)
    led = {r["address"]: r for r in b.ledger.iter_rows(named=True)}
    assert led["Mystery"]["status"] == "skipped" and "never guessed" in led["Mystery"]["detail"]
    assert led["Txyz"]["status"] == "skipped" and "tron" in led["Txyz"]["detail"]
    assert b.stats["skipped_unknown_chain"] == 2
    assert [r["params"]["address"] for r in market.ohlcv_requests()] == ["Tok"]


def test_401_fails_the_run_without_the_key(market, caplog):
    caplog.set_level(logging.DEBUG)
    src = BirdeyeSource(["wrong-key-SECRET-999"], base_url=market.url, requests_per_second=100,
                        max_concurrency=4, timeout_s=1)
    with pytest.raises(CandleSourceAuthError) as err:
        run(src, MemoryStore(), calls_frame([("solana", f"T{i}", T0) for i in range(6)]))
    assert "401" in str(err.value) and "wrong-key-SECRET-999" not in str(err.value)
    assert "wrong-key-SECRET-999" not in caplog.text and "wrong-key-SECRET-999" not in repr(src)
    assert len(market.ohlcv_requests()) < 6  # the others are not asked once the key is refused
    # a 401 in the middle of a run (key revoked) fails it as well
    market.faults["T1"] = ["401"]
    with pytest.raises(CandleSourceAuthError):
        run(source(market), MemoryStore(), calls_frame([("solana", "T1", T0)]))


def test_partial_coverage_fetches_only_the_tail(market):
    calls = calls_frame([("solana", "Young", T0)])
    store, src = MemoryStore(), source(market)
    now1 = T0 + 10 * 3600 + 17
    b1 = run(src, store, calls, now=now1)
    assert b1.stats["windows_incomplete"] == 1 and b1.coverage["status"][0] == "incomplete"
    cut = now1 // 60 * 60
    assert b1.ledger["end_ts"].dt.epoch("s").to_list() == [cut]
    assert b1.candles["open_ts"].dt.epoch("s").max() < cut
    n = len(market.ohlcv_requests())
    b2 = run(src, store, calls)  # much later: only [cut, end) is asked
    new = market.ohlcv_requests()[n:]
    s, e = window(T0)
    assert [(int(r["params"]["time_from"]), int(r["params"]["time_to"])) for r in new] == [(cut, e - 1)]
    assert b2.candles["open_ts"].dt.epoch("s").to_list() == expected_open_times("Young", s, e)
    assert b2.stats["windows_complete"] == 1 and b2.ledger.height == 2


def test_overlapping_calls_of_one_token_are_fetched_once(market):
    calls = calls_frame([("solana", "Hot", T0), ("solana", "Hot", T0 + 1800), ("solana", "Hot", T0 + 7200)])
    b = run(source(market), MemoryStore(), calls)
    reqs = market.ohlcv_requests("Hot")
    assert len(reqs) == 1
    s, _ = window(T0)
    _, e = window(T0 + 7200)
    assert (int(reqs[0]["params"]["time_from"]), int(reqs[0]["params"]["time_to"])) == (s, e - 1)
    assert b.coverage.row(0, named=True)["calls"] == 3
    assert b.candles.height == len(expected_open_times("Hot", s, e))


def test_keys_rotate(market):
    calls = calls_frame([("solana", f"K{i}", T0) for i in range(6)])
    # a generous read timeout: a retry on a busy machine would move the rotation by one
    run(source(market, keys=(KEY, "second-key-XYZ"), requests_per_second=50, timeout_s=5.0), MemoryStore(), calls)
    used = [r["headers"]["x-api-key"] for r in market.ohlcv_requests()]
    assert used.count(KEY) == 3 and used.count("second-key-XYZ") == 3


def test_rerun_through_the_parquet_warehouse_reuses_other_days(market, tmp_path):
    """Day 2 calls a token day 1 already holds: the overlap is read back from day 1's partition, not fetched."""
    wh = ParquetWarehouse(tmp_path / "wh")
    src = source(market)

    def materialize(day, calls):
        batch = collect_candles(calls, day=day, source=src, ledger=wh.read(CANDLE_LEDGER),
                                read_stored=lambda r: stored_candles(wh, r), now=LATER)
        wh.write_partition(RAW_CANDLES, {"day": day}, batch.candles)
        wh.write_partition(CANDLE_LEDGER, {"day": day}, batch.ledger)
        return batch

    d2 = DAY + dt.timedelta(days=1)
    materialize(DAY, calls_frame([("solana", "Twice", T0)]))
    n = len(market.ohlcv_requests())
    b2 = materialize(d2, calls_frame([("solana", "Twice", T0 + 86400)]))
    new = market.ohlcv_requests()[n:]
    _, e1 = window(T0)
    s2, e2 = window(T0 + 86400)
    assert [(int(r["params"]["time_from"]), int(r["params"]["time_to"])) for r in new] == [(e1, e2 - 1)]
    assert b2.candles["open_ts"].dt.epoch("s").to_list() == expected_open_times("Twice", s2, e2)
    assert wh.read(RAW_CANDLES, where=[("day", "=", d2)]).height == b2.candles.height
    # both days again: zero requests, partitions unchanged
    n = len(market.requests)
    again = [materialize(DAY, calls_frame([("solana", "Twice", T0)])),
             materialize(d2, calls_frame([("solana", "Twice", T0 + 86400)]))]
    assert len(market.requests) == n and all(b.stats["requests"] == 0 for b in again)
    assert again[1].candles.equals(b2.candles)
    led = wh.read(CANDLE_LEDGER)
    assert led.height == 2 and led.select(pl.struct(*CANDLE_LEDGER.key).is_unique().all()).item()
