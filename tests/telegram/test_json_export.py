from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from quantbot_pipelines.schemas import TELEGRAM_CALLS, TELEGRAM_QUARANTINE
from quantbot_pipelines.telegram import parse_export
from quantbot_pipelines.telegram.calls import CallBuilder, finalize_calls
from quantbot_pipelines.telegram.json_export import parse_json_file
from quantbot_pipelines.telegram.scan_nb import MAX_DEPTH
from tests.telegram.conftest import CDOG, CDOG_RAW, DCAP, DCAP_PAIR, FIN, GRC, PEPE, PUMP, SHORT43, rows_by

UTC = dt.UTC


@pytest.fixture(scope="module")
def one_chat():
    from tests.telegram.conftest import FIXTURES

    return parse_export(FIXTURES / "one_chat.json", export_id="e1")


def test_schema_and_stats(one_chat):
    assert one_chat.calls.schema == TELEGRAM_CALLS.schema
    assert one_chat.quarantine.schema == TELEGRAM_QUARANTINE.schema
    s = one_chat.stats
    assert (s["messages"], s["service"], s["chats"], s["cards"], s["calls"]) == (16, 1, 1, 3, 10)
    assert s["bytes"] > 0 and s["seconds"] >= 0
    assert one_chat.days == [dt.date(2025, 3, 2), dt.date(2025, 3, 3)]


def test_card_resolves_call_with_pair_and_fields(one_chat):
    rows = rows_by(one_chat.calls, "message_id", "address")
    r = rows[(5002, DCAP)]
    assert (r["chat_id"], r["chat_name"], r["chat_type"]) == ("1876543210", "Alpha Gems", "public_supergroup")
    assert (r["caller_id"], r["caller_name"], r["resolved_by"], r["card_bot"]) == ("user700000001", "Mia", "card",
                                                                                  "Rick")
    assert r["call_ts"] == dt.datetime.fromtimestamp(1740906845, UTC) and r["day"] == dt.date(2025, 3, 2)
    assert (r["pair_address"], r["card_ticker"], r["card_mcap_usd"], r["card_age_s"]) == (DCAP_PAIR, "DCAP",
                                                                                         48_200, 5 * 3600)
    assert r["first_call"] and not r["repeat"] and r["source_format"] == "json"
    assert (r["card_dex"], r["card_bonding_pct"]) == ("Raydium", None)  # 🌐 Solana @ Raydium


def test_bots_are_never_callers(one_chat):
    assert not {"Rick", "Phanes [Gold]"} & set(one_chat.calls.column("caller_name").to_pylist())


def test_entity_list_text_and_edits(one_chat):
    r = rows_by(one_chat.calls, "message_id")[(5004,)]
    assert (r["address"], r["resolved_by"], r["chain"]) == (PUMP, "link", "solana")
    assert r["edited"] and r["edited_ts"] == dt.datetime.fromtimestamp(1740909900, UTC)
    assert r["text"].startswith("new one https://pump.fun/coin/")


def test_evm_chain_from_phanes_card(one_chat):
    r = rows_by(one_chat.calls, "message_id")[(5005,)]
    assert (r["chain"], r["address"], r["address_raw"], r["resolved_by"]) == ("bsc", CDOG, CDOG_RAW, "card")
    assert (r["card_bot"], r["card_ticker"], r["card_liquidity_usd"]) == ("Phanes", "CDOG", 85_500)
    assert (r["card_dex"], r["card_bonding_pct"]) == (None, None)  # the Phanes card names no venue


def test_deleted_account_forward_and_repeat(one_chat):
    rows = rows_by(one_chat.calls, "message_id", "address")
    deleted = rows[(5007, SHORT43)]
    assert deleted["caller_id"] == "user700000099" and deleted["caller_name"] is None
    fwd = rows[(5008, PEPE)]
    assert (fwd["forwarded_from"], fwd["chain"], fwd["resolved_by"]) == ("Whale Alerts", "ethereum", "link")
    again = rows[(5009, DCAP)]
    assert again["repeat"] and not again["first_call"]
    assert again["first_call_ts"] == rows[(5002, DCAP)]["call_ts"]
    # another caller naming a known token: not a repeat, not first
    bob = rows[(5015, SHORT43)]
    assert not bob["repeat"] and not bob["first_call"] and bob["resolved_by"] == "link"


def test_card_before_its_call_and_two_tokens_in_one_message(one_chat):
    rows = rows_by(one_chat.calls, "message_id", "address")
    assert rows[(5012, FIN)]["resolved_by"] == "card" and rows[(5012, FIN)]["card_ticker"] == "FIN"
    assert rows[(5012, GRC)]["resolved_by"] == "text"


def test_invalid_addresses_and_commands_are_not_calls(one_chat):
    ids = set(one_chat.calls.column("message_id").to_pylist())
    assert not ids & {5001, 5003, 5006, 5010, 5011, 5014}


def test_naive_date_needs_a_timezone(one_chat, fixtures):
    (q,) = one_chat.quarantine.to_pylist()
    assert (q["reason"], q["message_id"], q["export_id"]) == ("no_timezone", 5013, "e1")
    assert "one_chat.json" in q["detail"] and "5013" in q["detail"] and GRC in q["raw"]
    with_tz = parse_export(fixtures / "one_chat.json", tz="Europe/Berlin")
    assert with_tz.quarantine.num_rows == 0
    r = rows_by(with_tz.calls, "message_id")[(5013,)]
    # 10:00 in Berlin (UTC+1 in March) is 09:00 UTC
    assert r["call_ts"] == dt.datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_unixtime_wins_over_naive_date(tmp_path):
    msg = {"id": 1, "type": "message", "date": "2025-01-01T00:00:00", "date_unixtime": "1700000000",
           "from": "A", "from_id": "user1", "text": DCAP}
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"name": "X", "type": "private_group", "id": 5, "messages": [msg]}))
    (row,) = parse_export(p, tz="Asia/Tokyo").calls.to_pylist()
    assert row["call_ts"] == dt.datetime.fromtimestamp(1700000000, UTC)


def test_channel_posts_and_link_hosts(fixtures):
    res = parse_export(fixtures / "channel.json")
    rows = rows_by(res.calls, "message_id", "chain")
    assert {r["caller_id"] for r in rows.values()} == {"channel1999"}
    assert rows[(12, "base")]["address"] == "0x4ed4e862860bed51a9570b96d89af5e1b0efefed"
    assert rows[(14, "unknown")]["resolved_by"] == "text"
    assert {r["chat_type"] for r in rows.values()} == {"public_channel"}


def test_whole_account_with_left_chats(fixtures):
    res = parse_export(fixtures / "whole_account.json")
    rows = rows_by(res.calls, "chat_id", "message_id")
    assert set(rows) == {("4455", 2), ("9911", 300)}
    assert rows[("9911", 300)]["chat_name"] == "Old Calls" and rows[("9911", 300)]["first_call"]
    assert not rows[("4455", 2)]["first_call"]  # same token, later, in another chat
    assert res.stats["chats"] == 3 and res.stats["service"] == 1


def test_extra_bot_names_are_not_callers(fixtures):
    res = parse_export(fixtures / "one_chat.json", bot_names=["Cara"])
    assert "Cara" not in set(res.calls.column("caller_name").to_pylist())


def _run(path: Path, **kw):
    b = CallBuilder(export_id="x", source_format="json")
    parse_json_file(path, b, None, **kw)
    r = b.result()
    return r.calls.to_pylist(), r.quarantine.to_pylist(), {k: v for k, v in r.stats.items() if k != "seconds"}


@pytest.mark.parametrize("name", ["one_chat.json", "whole_account.json", "channel.json", "deep_message.json",
                                  "truncated.json", "sender_ids.json"])
def test_chunk_boundaries_do_not_change_results(fixtures, name):
    """Every chunk size cuts messages, keys and header values at every possible byte."""
    ref = _run(fixtures / name)
    for chunk in (1, 2, 3, 7, 16, 61, 200):
        for cap in (6, 1 << 16):
            assert _run(fixtures / name, chunk=chunk, event_cap=cap) == ref, (chunk, cap)


def test_escapes_and_compact_json(tmp_path):
    # escaped quotes/newlines/unicode before an address; no whitespace at all
    text = 'say \\"hi\\"\\n\\u00e9' + DCAP
    raw = ('{"name":"C\\"x","type":"private_group","id":9,"messages":[{"id":1,"type":"message",'
           '"date_unixtime":"1700000000","from":"A","from_id":"user1","text":"' + text + '"}]}')
    p = tmp_path / "c.json"
    p.write_text(raw)
    (row,) = parse_export(p).calls.to_pylist()
    assert row["address"] == DCAP and row["chat_name"] == 'C"x' and row["chat_id"] == "9"


def test_card_buttons_give_the_pair(tmp_path):
    msgs = [{"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "Mia", "from_id": "user1",
             "text": f"gm {DCAP}"},
            {"id": 2, "type": "message", "date_unixtime": "1700000001", "from": "RickBurpBot", "from_id": "user9",
             "reply_to_message_id": 1, "text": [" Doge Captain [48K/1%] $DCAP\n", {"type": "code", "text": DCAP}],
             "inline_bot_buttons": [[{"type": "url", "text": "Chart",
                                      "data": f"https://dexscreener.com/solana/{DCAP_PAIR}"}]]}]
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"name": "X", "type": "private_group", "id": 5, "messages": msgs}))
    (row,) = parse_export(p).calls.to_pylist()
    assert (row["resolved_by"], row["pair_address"], row["card_ticker"]) == ("card", DCAP_PAIR, "DCAP")


def test_dexscreener_pair_link_mapped_to_mint_by_card(tmp_path):
    """A caller posting the pool link: the card says which token it is."""
    msgs = [{"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "Mia", "from_id": "user1",
             "text": f"https://dexscreener.com/solana/{DCAP_PAIR}"},
            {"id": 2, "type": "message", "date_unixtime": "1700000001", "from": "Rick", "from_id": "user9",
             "reply_to_message_id": 1,
             "text": [" Doge Captain [48K/1%] $DCAP\n", {"type": "code", "text": DCAP}, "\n",
                      {"type": "text_link", "text": "DEX", "href": f"https://dexscreener.com/solana/{DCAP_PAIR}"}]}]
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"name": "X", "type": "private_group", "id": 5, "messages": msgs}))
    (row,) = parse_export(p).calls.to_pylist()
    assert (row["address"], row["pair_address"], row["resolved_by"]) == (DCAP, DCAP_PAIR, "card")


def test_chat_listed_twice_in_one_file_counts_once(tmp_path):
    chat = {"name": "Dup", "type": "private_group", "id": 7, "messages": [
        {"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "A", "from_id": "user1", "text": DCAP}]}
    root = {"about": "x", "chats": {"about": "x", "list": [chat]}, "left_chats": {"about": "x", "list": [chat]}}
    p = tmp_path / "r.json"
    p.write_text(json.dumps(root))
    res = parse_export(p)
    assert res.calls.num_rows == 1 and res.stats["chats"] == 2


def test_json_growing_chunks_match_one_read(fixtures, tmp_path):
    # a file bigger than the first 1 MB read: messages cut by the 1, 2, 4 MB ... steps and the final chunk
    src = (fixtures / "one_chat.json").read_bytes()
    head, _, rest = src.partition(b'"messages": [')
    msgs = rest.rsplit(b"]", 1)[0].strip()
    big = head + b'"messages": [' + b",".join([msgs] * 900) + b"]}"
    p = tmp_path / "big.json"
    p.write_bytes(big)
    assert len(big) > 3 << 20

    def run(**kw):
        b = CallBuilder(export_id="t", source_format="json")
        parse_json_file(p, b, None, **kw)
        return b.result()

    ref, small = run(), run(chunk=64 << 10)
    assert ref.calls.equals(small.calls) and ref.stats["messages"] == small.stats["messages"]
    assert ref.stats["messages"] == 900 * parse_export(fixtures / "one_chat.json").stats["messages"]


def test_a_message_nested_too_deep_is_quarantined_and_the_rest_read(fixtures):
    path = fixtures / "deep_message.json"
    res = parse_export(path, export_id="d")
    assert sorted(res.calls.column("message_id").to_pylist()) == [2, 4, 6]
    (q,) = res.quarantine.to_pylist()
    at = path.read_bytes().index(b'{"id": 3,')
    assert (q["reason"], q["message_id"], q["chat_name"]) == ("too_deep", 3, "Deep Chat")
    assert f"byte {at}" in q["detail"] and str(MAX_DEPTH) in q["detail"] and FIN in q["raw"]
    # message 5 is as deep but holds no address: counted like every message, nothing to quarantine
    assert (res.stats["messages"], res.stats["service"], res.stats["by_reason"]) == (6, 1, {"too_deep": 1})


def test_nesting_too_deep_outside_the_messages_is_skipped(fixtures, tmp_path):
    src = (fixtures / "one_chat.json").read_bytes()
    deep = b'[{"about": "x"}, ' * (MAX_DEPTH + 50) + b"1" + b"]" * (MAX_DEPTH + 50)
    p = tmp_path / "deep.json"
    p.write_bytes(src.replace(b' "messages": [', b' "extra": ' + deep + b',\n "messages": [', 1))
    ref = parse_export(fixtures / "one_chat.json")
    res = parse_export(p)
    assert res.calls.drop_columns(["source_file"]).equals(ref.calls.drop_columns(["source_file"]))
    (q,) = [q for q in res.quarantine.to_pylist() if q["reason"] == "too_deep"]
    assert q["message_id"] is None and "outside any message" in q["detail"]
    assert res.stats["chats"] == 1 and res.stats["messages"] == ref.stats["messages"]


def test_one_id_scheme_for_every_sender(fixtures):
    rows = rows_by(parse_export(fixtures / "sender_ids.json").calls, "message_id")
    ids = {mid: r["caller_id"] for (mid,), r in rows.items()}
    # integer from_id (0 too) -> that id; user/channel strings as written; no or null id -> the name
    assert ids == {20: "0", 21: "5", 22: "user7", 23: "channel99", 24: "name:NoId", 25: "name:NullId", 26: None}
    assert rows[(20,)]["caller_name"] == "Zero" and rows[(26,)]["caller_name"] is None


def test_html_senders_take_the_integer_json_id_of_their_name(fixtures):
    import polars as pl

    staged = []
    for key, path in (("a-json", fixtures / "sender_ids.json"), ("b-html", fixtures / "html_senders")):
        df = pl.from_arrow(parse_export(path, export_id=key).calls)
        staged.append(df.with_columns(pl.lit(key).alias("export_id")).select(["export_id", *df.columns]))
    out = finalize_calls(pl.concat(staged))
    by = {r["message_id"]: r["caller_id"] for r in out.iter_rows(named=True)}
    assert (by[7001], by[20]) == ("0", "0") and (by[7002], by[21]) == ("5", "5")
    assert by[7003] == "name:NoId"  # the JSON NoId has no id either
