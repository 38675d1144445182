"""Pair look-ups against a loopback server (DexScreener and GeckoTerminal contracts, docs/formats.md#candle-apis):
answers, not found, 429 with Retry-After, 5xx, malformed bodies; each pair asked once ever; calls on pairs
nobody resolved never reach a candle source."""

from __future__ import annotations

import datetime as dt
import time

import polars as pl
import pyarrow as pa
import pytest

from quantbot_pipelines.candles import BirdeyeSource, collect_candles
from quantbot_pipelines.candles.pairs import (
    DexScreenerPairs,
    GeckoTerminalPairs,
    OfflinePairs,
    PairStatus,
    PairTokenStore,
    days_changed_by,
    pairs_to_resolve,
    resolve_pairs,
)
from quantbot_pipelines.schemas import PAIR_TOKENS, TELEGRAM_CALLS
from quantbot_pipelines.telegram import finalize_calls
from quantbot_pipelines.warehouse.parquet import ParquetWarehouse
from tests.candles.fake_market import FakeMarket, MemoryStore

KEY = "test-key-SECRET-123"
PAIR = "CskBX6spMAx4SGeknMUSQTCKukPxX99yu1N3iP1XCbDh"
PAIR2 = "88MPGZLutaQztvM9iqJbzNnoKFK1q1jf7TPUdPyWpUeT"
MINT = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
MINT2 = "8RBsoeyoRwajj86MZfZE6gMDJQVYGYcdSfx1zxqxpump"
WSOL = "So11111111111111111111111111111111111111112"
EVM_PAIR = "0x5a1fbd7ca5f1ac293b3768fdf319f7aa15181bd5"
EVM_TOKEN_RAW = "0xAbCdEf0123456789abcdef0123456789ABCDEF01"
DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC).timestamp())
LATER = T0 + 10 * 86400


@pytest.fixture
def market():
    with FakeMarket() as m:
        yield m


def dex(market, **kw) -> DexScreenerPairs:
    kw = {"requests_per_minute": 60000.0, "max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
          "timeout_s": 2.0} | kw
    return DexScreenerPairs(base_url=market.url, **kw)


def gecko(market, **kw) -> GeckoTerminalPairs:
    kw = {"requests_per_minute": 60000.0, "max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
          "timeout_s": 2.0} | kw
    return GeckoTerminalPairs(base_url=market.url, **kw)


def pair_requests(market) -> list[dict]:
    return [r for r in market.requests if r["path"].startswith(("/latest/dex/pairs/", "/api/v2/networks/"))]


def one(resolver, chain, pair):
    (a,) = resolver.resolve_many([(chain, pair)])
    return a


@pytest.mark.parametrize("make", [dex, gecko])
def test_answers_and_not_found(market, make):
    market.pairs[PAIR] = (MINT, WSOL)
    market.pairs[EVM_PAIR] = (EVM_TOKEN_RAW, None)
    r = make(market)
    a = one(r, "solana", PAIR)
    assert (a.status, a.token_address, a.requests) == (PairStatus.RESOLVED, MINT, 1)
    e = one(r, "base", EVM_PAIR)
    assert (e.status, e.token_address) == (PairStatus.RESOLVED, EVM_TOKEN_RAW.lower())  # normalized as calls are
    n = one(r, "solana", PAIR2)
    assert (n.status, n.token_address, n.requests) == (PairStatus.NOT_FOUND, None, 1)
    paths = [q["path"] for q in pair_requests(market)]
    if make is dex:
        assert paths[0] == f"/latest/dex/pairs/solana/{PAIR}" and paths[1] == f"/latest/dex/pairs/base/{EVM_PAIR}"
    else:
        assert paths[0] == f"/api/v2/networks/solana/pools/{PAIR}" and paths[1] == f"/api/v2/networks/base/pools/{EVM_PAIR}"


def test_dexscreener_empty_list_is_not_found(market):
    market.pairs_empty_list.add(PAIR2)
    assert one(dex(market), "solana", PAIR2).status == PairStatus.NOT_FOUND


@pytest.mark.parametrize("make", [dex, gecko])
def test_a_pool_listed_the_other_way_round_gives_its_token(market, make):
    market.pairs[PAIR] = (WSOL, MINT)
    assert one(make(market), "solana", PAIR).token_address == MINT


@pytest.mark.parametrize("make", [dex, gecko])
def test_429_honours_retry_after(market, make):
    market.pairs[PAIR] = (MINT, None)
    market.faults[PAIR] = ["429:1"]
    t = time.perf_counter()
    a = one(make(market), "solana", PAIR)
    assert (a.status, a.token_address, a.requests) == (PairStatus.RESOLVED, MINT, 2)
    assert time.perf_counter() - t >= 0.9


@pytest.mark.parametrize("make", [dex, gecko])
@pytest.mark.parametrize("fault", ["500", "503", "malformed", "badshape"])
def test_5xx_and_malformed_are_retried_then_errors(market, make, fault):
    market.pairs[PAIR] = (MINT, None)
    market.faults[PAIR] = [fault]
    assert one(make(market), "solana", PAIR).status == PairStatus.RESOLVED  # the second attempt answers
    market.faults[PAIR] = [fault] * 3
    a = one(make(market), "solana", PAIR)
    assert (a.status, a.requests) == (PairStatus.ERROR, 3) and "after 3 attempts" in a.detail


@pytest.mark.parametrize("make", [dex, gecko])
def test_refusals_are_errors_without_retry(market, make):
    market.faults[PAIR] = ["400"]
    a = one(make(market), "solana", PAIR)
    assert (a.status, a.requests, a.detail) == (PairStatus.ERROR, 1, "HTTP 400")


def test_answer_that_is_no_token_of_the_chain_is_malformed(market):
    market.pairs[PAIR] = ("not-an-address", None)
    assert one(dex(market), "solana", PAIR).status == PairStatus.ERROR
    market.pairs[EVM_PAIR] = (MINT, None)  # a Solana mint for a Base pool
    assert one(dex(market), "base", EVM_PAIR).status == PairStatus.ERROR


def test_unserved_chain_and_offline_ask_nothing(market):
    assert one(dex(market), "unknown", EVM_PAIR).status == PairStatus.UNRESOLVED
    assert one(gecko(market), "tron", EVM_PAIR).status == PairStatus.UNRESOLVED
    assert one(OfflinePairs(), "solana", PAIR).status == PairStatus.UNRESOLVED
    assert pair_requests(market) == []


def test_requests_per_minute_is_kept(market):
    market.pairs[PAIR] = (MINT, None)
    r = dex(market, requests_per_minute=600)  # ~0.1 s between requests
    t = time.perf_counter()
    r.resolve_many([("solana", PAIR)] * 4)
    assert len(pair_requests(market)) == 4 and time.perf_counter() - t >= 0.29


# -- asking once ever ---------------------------------------------------------------------------------

def _pairs(*rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"chain": pl.String, "pair_address": pl.String}, orient="row")


def test_each_pair_is_asked_once_ever(market):
    market.pairs[PAIR] = (MINT, None)
    market.faults[EVM_PAIR] = ["500"] * 3  # an error: not an answer, asked again next run
    wanted = _pairs(("solana", PAIR), ("solana", PAIR2), ("base", EVM_PAIR), ("solana", PAIR))
    seen_at: list[int] = []

    def arrived(rows: pl.DataFrame) -> None:  # written the moment each answer comes
        assert rows.columns == PAIR_TOKENS.columns and rows.height == 1
        seen_at.append(len(pair_requests(market)))

    resolved, new = resolve_pairs(wanted, dex(market), None, on_answer=arrived, now=T0)
    assert resolved.select("pair_address", "status", "cached").rows() == [
        (PAIR, "resolved", False), (PAIR2, "not_found", False), (EVM_PAIR, "error", False)]
    assert seen_at == [1, 2]  # each answer handed over before the next request
    assert new.select("pair_address", "token_address", "status").rows() == [(PAIR, MINT, "resolved"),
                                                                              (PAIR2, None, "not_found")]
    assert new["asked_day"].to_list() == [DAY, DAY]
    assert len(pair_requests(market)) == 2 + 3

    # the second run: the answers come from the cache, only the error is asked again
    market.requests.clear()
    again, new2 = resolve_pairs(wanted, dex(market), new)
    assert [r["path"] for r in pair_requests(market)] == [f"/latest/dex/pairs/base/{EVM_PAIR}"]
    assert again.filter(pl.col("cached")).select("pair_address", "status", "token_address").rows() == [
        (PAIR, "resolved", MINT), (PAIR2, "not_found", None)]
    assert new2.select("pair_address", "status").rows() == [(EVM_PAIR, "not_found")]

    # a third run asks nothing at all, whatever the resolver
    market.requests.clear()
    cache = pl.concat([new, new2])
    third, new3 = resolve_pairs(wanted, dex(market), cache)
    assert pair_requests(market) == [] and new3.is_empty() and third["cached"].all()
    assert resolve_pairs(wanted, OfflinePairs(), cache)[0]["status"].to_list() == ["resolved", "not_found",
                                                                                  "not_found"]


def test_offline_caches_nothing():
    resolved, new = resolve_pairs(_pairs(("solana", PAIR)), OfflinePairs(), None)
    assert resolved.select("status", "cached").rows() == [("unresolved", False)] and new.is_empty()


def test_store_appends_answers_to_their_day(tmp_path, market):
    wh = ParquetWarehouse(tmp_path / "wh")
    store = PairTokenStore(wh)
    market.pairs[PAIR] = (MINT, None)
    market.pairs[PAIR2] = (MINT2, None)
    resolve_pairs(_pairs(("solana", PAIR)), dex(market), store.read(), on_answer=store.add, now=T0)
    resolve_pairs(_pairs(("solana", PAIR2)), dex(market), store.read(), on_answer=store.add, now=T0 + 60)
    resolve_pairs(_pairs(("solana", PAIR)), dex(market), store.read(), on_answer=store.add, now=T0 + 86400)
    got = store.read().sort("pair_address")
    assert got.select("pair_address", "token_address", "asked_day").rows() == [
        (PAIR2, MINT2, DAY), (PAIR, MINT, DAY)]
    assert wh.partitions(PAIR_TOKENS) == [{"asked_day": DAY}]
    assert len(pair_requests(market)) == 2


# -- calls on pairs and the candle source -----------------------------------------------------------

def _calls(*rows) -> pl.DataFrame:
    """Staged calls (chain, address, kind, call_ts epoch s, message id)."""
    recs = []
    for chain, address, kind, ts, mid in rows:
        t = dt.datetime.fromtimestamp(ts, dt.UTC)
        recs.append({"export_id": "e", "day": t.date(), "chat_id": "c", "message_id": mid, "call_ts": t,
                     "caller_id": "u1", "chain": chain, "address": address, "address_raw": address,
                     "resolved_by": "link", "pair_address": address if kind == "pair" else None,
                     "address_kind": kind, "pair_status": "unresolved" if kind == "pair" else None,
                     "first_call": False, "repeat": False, "edited": False})
    from quantbot_pipelines.schemas import TELEGRAM_STAGED_CALLS

    return pl.from_arrow(TELEGRAM_STAGED_CALLS.conform(pa.Table.from_pylist(recs)))


def _collect(market, calls):
    src = BirdeyeSource([KEY], base_url=market.url, requests_per_second=1000, max_attempts=2,
                        backoff_base_s=0.01, backoff_max_s=0.02)
    store = MemoryStore()
    return collect_candles(calls, day=DAY, source=src, ledger=store.ledger, read_stored=store.read_stored, now=LATER)


def test_unresolved_pair_is_never_fetched(market):
    staged = _calls(("solana", PAIR, "pair", T0, 1), ("solana", MINT2, "mint", T0, 2))
    resolved, _ = resolve_pairs(pairs_to_resolve(staged), OfflinePairs(), None)
    calls = finalize_calls(staged, pair_tokens=resolved)
    assert calls.columns == TELEGRAM_CALLS.columns
    b = _collect(market, calls)
    asked = {r["params"]["address"] for r in market.ohlcv_requests()}
    assert asked == {MINT2}  # the pool address never reaches the candle source
    assert set(b.ledger["address"]) == {MINT2}
    cov = dict(zip(b.coverage["address"], b.coverage["status"], strict=True))
    assert cov == {MINT2: "ok", PAIR: "unresolved_pair"}
    assert (b.stats["tokens"], b.stats["skipped_unresolved_pair"], b.stats["unresolved_pair_calls"]) == (1, 1, 1)
    assert b.stats["by_status"]["unresolved_pair"] == 1


def test_pair_resolved_by_dexscreener_is_fetched_as_its_token(market):
    market.pairs[PAIR] = (MINT, None)
    staged = _calls(("solana", PAIR, "pair", T0, 1))
    resolved, _ = resolve_pairs(pairs_to_resolve(staged), dex(market), None)
    calls = finalize_calls(staged, pair_tokens=resolved)
    (row,) = calls.to_dicts()
    assert (row["address"], row["pair_address"], row["resolved_by"], row["address_kind"], row["pair_status"]) == (
        MINT, PAIR, "pair_lookup", "mint", "resolved")
    b = _collect(market, calls)
    assert {r["params"]["address"] for r in market.ohlcv_requests()} == {MINT}
    assert b.stats["skipped_unresolved_pair"] == 0 and b.candles.height > 0


def test_days_whose_calls_an_answer_changes(market):
    market.pairs[PAIR] = (MINT, None)
    staged = _calls(("solana", PAIR, "pair", T0, 1), ("solana", MINT, "mint", T0 + 3 * 86400, 2),
                    ("solana", MINT2, "mint", T0 + 5 * 86400, 3), ("solana", PAIR2, "pair", T0 + 7 * 86400, 4))
    _, new = resolve_pairs(pairs_to_resolve(staged).head(1), dex(market), None)
    assert days_changed_by(staged, new) == [DAY, DAY + dt.timedelta(days=3)]
    assert days_changed_by(staged, new.head(0)) == []


def test_not_found_pair_keeps_its_status_and_is_not_fetched(market):
    staged = _calls(("solana", PAIR, "pair", T0, 1))
    resolved, _ = resolve_pairs(pairs_to_resolve(staged), dex(market), None)
    (row,) = finalize_calls(staged, pair_tokens=resolved).to_dicts()
    assert (row["address"], row["address_kind"], row["pair_status"]) == (PAIR, "pair", "not_found")
    assert pairs_to_resolve(finalize_calls(staged, pair_tokens=resolved)).height == 1  # the cache answers it next
    assert _collect(market, finalize_calls(staged, pair_tokens=resolved)).stats["requests"] == 0


def test_calls_without_the_new_columns_are_tokens(market):
    calls = _calls(("solana", MINT2, "mint", T0, 1)).drop("address_kind", "pair_status")
    assert _collect(market, calls).stats["tokens"] == 1 and pairs_to_resolve(calls).is_empty()


def test_resource_builds_each_resolver():
    from resources.pairs import PairResolverResource

    assert isinstance(PairResolverResource().resolver(), OfflinePairs)
    d = PairResolverResource(kind="dexscreener", dexscreener_base_url="http://x", dexscreener_requests_per_minute=5)
    assert isinstance(d.resolver(), DexScreenerPairs) and d.resolver().base_url == "http://x"
    assert isinstance(PairResolverResource(kind="geckoterminal").resolver(), GeckoTerminalPairs)
