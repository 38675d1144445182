"""Which token a call is about when its link names a pair (docs/semantics.md#calls, resolution order).

The fixtures `pair_links.json` and `pair_links_html/` hold the same chat in both export formats: a
dexscreener pair link answered by Rick and Phanes naming the mint (and another pool, or none), a pair link no
card answers, two pair links told apart by their tickers, a pump.fun link answered by a card about another
token, and an EVM pair link on Base.
"""

from __future__ import annotations

import polars as pl
import pytest

from quantbot_pipelines.candles.pairs import DexScreenerPairs, OfflinePairs, pairs_to_resolve, resolve_pairs
from quantbot_pipelines.schemas import TELEGRAM_STAGED_CALLS
from quantbot_pipelines.telegram import finalize_calls, parse_export
from quantbot_pipelines.telegram.calls import match_cards
from quantbot_pipelines.telegram.cards import Card
from quantbot_pipelines.telegram.extract import extract_tokens
from tests.candles.fake_market import FakeMarket
from tests.telegram.conftest import CDOG, DCAP, DCAP_PAIR, FIN, GRC, PUMP, SHORT43, rows_by

CALLER_PAIR = "CskBX6spMAx4SGeknMUSQTCKukPxX99yu1N3iP1XCbDh"  # the pool the caller linked (not the card's)
LONE_PAIR = "88MPGZLutaQztvM9iqJbzNnoKFK1q1jf7TPUdPyWpUeT"    # a pool no card answers (PUMP's, for DexScreener)
FIN_PAIR = "4xwqTiZTShYfhQqLFph8fqakb8BybsaWbxfRxhb6HPpr"
GRC_PAIR = "4izbK9eX1xgwtwef6qAKmffdaHXdpK22xSq8fShomnvQ"
BASE_PAIR = "0x5a1fbd7ca5f1ac293b3768fdf319f7aa15181bd5"

EXPORTS = ["pair_links.json", "pair_links_html"]


@pytest.fixture(params=EXPORTS)
def parsed(request, fixtures):
    return parse_export(fixtures / request.param, export_id=request.param)


def test_card_resolves_a_pair_link_whatever_pool_it_names(parsed):
    rows = rows_by(parsed.calls, "message_id", "address")
    assert [k for k in rows if k[0] == 10] == [(10, DCAP)]  # one call: the mint, not the linked pool
    r = rows[(10, DCAP)]
    assert (r["chain"], r["resolved_by"], r["card_bot"], r["card_ticker"], r["card_mcap_usd"]) == (
        "solana", "card", "Rick", "DCAP", 48_200)
    # the pool is the one the caller linked, not the card's chart pool
    assert (r["pair_address"], r["address_kind"], r["pair_status"], r["address_raw"]) == (
        CALLER_PAIR, "mint", None, DCAP)
    assert DCAP_PAIR not in {k[1] for k in rows}


def test_pair_link_without_card_stays_a_pair(parsed):
    r = rows_by(parsed.calls, "message_id")[(20,)]
    assert (r["address"], r["pair_address"], r["resolved_by"]) == (LONE_PAIR, LONE_PAIR, "link")
    assert (r["address_kind"], r["pair_status"], r["card_bot"]) == ("pair", "unresolved", None)


def test_several_pair_links_told_apart_by_ticker(parsed):
    rows = rows_by(parsed.calls, "message_id", "address")
    assert {k for k in rows if k[0] == 30} == {(30, FIN), (30, GRC)}
    assert (rows[(30, FIN)]["pair_address"], rows[(30, FIN)]["card_ticker"]) == (FIN_PAIR, "FIN")
    assert (rows[(30, GRC)]["pair_address"], rows[(30, GRC)]["card_ticker"]) == (GRC_PAIR, "GRC")
    assert {rows[(30, a)]["resolved_by"] for a in (FIN, GRC)} == {"card"}


def test_card_naming_another_token_than_a_mint_link_is_an_orphan(parsed):
    r = rows_by(parsed.calls, "message_id")[(40,)]
    assert (r["address"], r["resolved_by"], r["address_kind"], r["card_bot"]) == (PUMP, "link", "mint", None)
    assert SHORT43 not in set(parsed.calls.column("address").to_pylist())
    assert (parsed.stats["cards"], parsed.stats["orphan_cards"]) == (6, 1)


def test_evm_pair_link_takes_the_cards_mint_and_chain(parsed):
    r = rows_by(parsed.calls, "message_id")[(50,)]
    assert (r["chain"], r["address"], r["pair_address"], r["resolved_by"], r["card_bot"]) == (
        "base", CDOG, BASE_PAIR, "card", "Phanes")


def test_json_and_html_give_the_same_calls(fixtures):
    cols = ["message_id", "chain", "address", "address_raw", "resolved_by", "pair_address", "address_kind",
            "pair_status", "card_bot", "card_ticker", "card_mcap_usd", "card_liquidity_usd", "first_call", "repeat"]
    a, b = (pl.from_arrow(parse_export(fixtures / e).calls).select(cols).sort("message_id", "address")
            for e in EXPORTS)
    assert a.equals(b)


def _staged(fixtures) -> pl.DataFrame:
    calls = pl.from_arrow(parse_export(fixtures / "pair_links.json", export_id="e").calls)
    return calls.with_columns(pl.lit("e").alias("export_id")).select(TELEGRAM_STAGED_CALLS.columns)


def test_offline_resolution_keeps_the_pair_flagged(fixtures):
    staged = _staged(fixtures)
    resolved, new = resolve_pairs(pairs_to_resolve(staged), OfflinePairs(), None)
    assert resolved.select("pair_address", "status").rows() == [(LONE_PAIR, "unresolved")] and new.is_empty()
    out = rows_by(finalize_calls(staged, pair_tokens=resolved).to_arrow(), "message_id")
    assert (out[(20,)]["address"], out[(20,)]["address_kind"], out[(20,)]["pair_status"]) == (
        LONE_PAIR, "pair", "unresolved")


def test_pair_lookup_rekeys_the_call_before_the_flags(fixtures):
    staged = _staged(fixtures)
    with FakeMarket() as m:
        m.pairs[LONE_PAIR] = (PUMP, None)
        src = DexScreenerPairs(base_url=m.url, requests_per_minute=60000, max_attempts=2, backoff_base_s=0.01)
        resolved, new = resolve_pairs(pairs_to_resolve(staged), src, None)
    assert new.select("pair_address", "token_address", "status", "source").rows() == [
        (LONE_PAIR, PUMP, "resolved", "dexscreener")]
    before = rows_by(finalize_calls(staged).to_arrow(), "message_id", "address")
    out = rows_by(finalize_calls(staged, pair_tokens=resolved).to_arrow(), "message_id", "address")
    r = out[(20, PUMP)]
    assert (r["resolved_by"], r["address_kind"], r["pair_status"], r["pair_address"]) == (
        "pair_lookup", "mint", "resolved", LONE_PAIR)
    # Bob's pool call is now the first call of PUMP, and his pump.fun link later a repeat
    assert before[(40, PUMP)]["first_call"] and not out[(40, PUMP)]["first_call"]
    assert r["first_call"] and not r["repeat"]
    assert not before[(60, PUMP)]["repeat"] and out[(60, PUMP)]["repeat"]
    assert (20, LONE_PAIR) not in out


def test_resolved_pair_of_a_token_the_message_names_is_one_call():
    (pair_tok, mint_tok) = extract_tokens(f"https://dexscreener.com/solana/{LONE_PAIR} https://pump.fun/{PUMP}")
    assert (pair_tok.kind, mint_tok.kind) == ("pair", "mint")
    import datetime as dt

    import pyarrow as pa

    t = dt.datetime(2025, 3, 2, tzinfo=dt.UTC)
    base = {"export_id": "e", "day": t.date(), "chat_id": "c", "message_id": 1, "call_ts": t, "caller_id": "u",
            "chain": "solana", "first_call": False, "repeat": False, "edited": False}
    rows = [base | {"address": LONE_PAIR, "resolved_by": "link", "pair_address": LONE_PAIR, "address_kind": "pair",
                    "pair_status": "unresolved"},
            base | {"address": PUMP, "resolved_by": "link", "address_kind": "mint"}]
    staged = pl.from_arrow(TELEGRAM_STAGED_CALLS.conform(pa.Table.from_pylist(rows)))
    found = pl.DataFrame({"chain": ["solana"], "pair_address": [LONE_PAIR], "token_address": [PUMP],
                          "status": ["resolved"]})
    (row,) = finalize_calls(staged, pair_tokens=found).to_dicts()
    assert (row["address"], row["resolved_by"], row["address_kind"]) == (PUMP, "link", "mint")


def _card(mint, pair=None, ticker=None, bot="Rick"):
    return Card(bot, mint, "solana", pair, None, ticker)


def test_match_cards_order():
    (pair_tok,) = extract_tokens(f"https://dexscreener.com/solana/{LONE_PAIR}")
    (mint_tok,) = extract_tokens(f"https://pump.fun/{PUMP}")
    (text_tok,) = extract_tokens(f"ca {SHORT43}")
    # one token: the card resolves it whatever pool it names, unless the cards disagree
    assert match_cards([pair_tok], [_card(DCAP, DCAP_PAIR)], "") == [_card(DCAP, DCAP_PAIR)]
    assert match_cards([text_tok], [_card(DCAP), _card(DCAP, bot="Phanes")], "") == [_card(DCAP)]
    assert match_cards([pair_tok], [_card(DCAP), _card(FIN)], "") == [None]
    assert match_cards([pair_tok], [_card(DCAP, ticker="DCAP"), _card(FIN, ticker="FIN")], "$fin") == [
        _card(FIN, ticker="FIN")]
    # a mint link is resolved only by a card naming that mint
    assert match_cards([mint_tok], [_card(DCAP)], "") == [None]
    assert match_cards([mint_tok], [_card(PUMP)], "") == [_card(PUMP)]
    # several tokens: mint first, then pool, then ticker; a card never takes a token another card resolved
    text = f"$GRC {LONE_PAIR} and {SHORT43}"
    toks = extract_tokens(text)
    cards = [_card(FIN, pair=SHORT43), _card(GRC, ticker="GRC")]
    assert match_cards(toks, cards, text) == [cards[1], cards[0]]
    assert match_cards(toks, [_card(GRC, ticker="GRC")], f"{LONE_PAIR} {SHORT43} $GRC") == [None, None]
    # one token left and one more ticker written: that token
    toks2 = extract_tokens(f"{FIN} {LONE_PAIR} $GRC")
    assert match_cards(toks2, [_card(FIN), _card(GRC, ticker="GRC")], f"{FIN} {LONE_PAIR} $GRC") == [
        _card(FIN), _card(GRC, ticker="GRC")]
