from __future__ import annotations

import datetime as dt

import polars as pl

from quantbot_pipelines.schemas import TELEGRAM_CALLS, TELEGRAM_STAGED_CALLS
from quantbot_pipelines.telegram import finalize_calls, parse_export
from tests.telegram.conftest import DCAP, PUMP, SHORT43

UTC = dt.UTC


def _staged(*exports) -> pl.DataFrame:
    frames = []
    for export_id, path in exports:
        calls = pl.from_arrow(parse_export(path, export_id=export_id).calls)
        frames.append(calls.with_columns(pl.lit(export_id).alias("export_id")))
    df = pl.concat(frames).select(TELEGRAM_STAGED_CALLS.columns)
    return df.sort("export_id", maintain_order=True)


def test_same_chat_in_json_and_html_counts_once(fixtures):
    staged = _staged(("a-json", fixtures / "one_chat.json"), ("b-html", fixtures / "html_chat"))
    out = finalize_calls(staged)
    assert out.columns == TELEGRAM_CALLS.columns
    assert set(out["chat_id"]) == {"1876543210"}  # the HTML rows took the JSON chat id
    dcap = out.filter((pl.col("message_id") == 5002) & (pl.col("address") == DCAP))
    assert dcap.height == 1 and dcap["source_format"][0] == "html"  # the later export wins
    assert out.select("chat_id", "message_id", "chain", "address").is_duplicated().sum() == 0
    # html-only messages are kept under the real id
    assert {5020, 5021, 5022, 5023} <= set(out["message_id"])


def test_later_export_wins_on_duplicates(fixtures):
    staged = _staged(("x1", fixtures / "one_chat.json"), ("x2", fixtures / "one_chat.json"))
    staged = staged.with_columns(pl.when(pl.col("export_id") == "x2").then(pl.lit("v2"))
                                 .otherwise(pl.col("text")).alias("text"))
    out = finalize_calls(staged)
    assert out.height == 10 and set(out["text"]) == {"v2"}


def test_first_call_and_repeat_are_global(fixtures):
    staged = _staged(("a", fixtures / "one_chat.json"), ("b", fixtures / "whole_account.json"))
    out = finalize_calls(staged)
    pump = out.filter(pl.col("address") == PUMP).sort("call_ts")
    # one_chat (March) came before both whole-account chats (April, May)
    assert pump["first_call"].to_list() == [True, False, False]
    assert pump["first_call_ts"].to_list() == [pump["call_ts"][0]] * 3
    short = out.filter(pl.col("address") == SHORT43).sort("call_ts")
    assert short["repeat"].to_list() == [False, False]  # two different callers


def _row(chat, mid, ts, caller, address=DCAP, export_id="e"):
    return {"export_id": export_id, "day": ts.date(), "chat_id": chat, "chat_name": chat, "message_id": mid,
            "call_ts": ts, "caller_id": caller, "chain": "solana", "address": address, "first_call": False,
            "repeat": False, "edited": False}


def _frame(rows) -> pl.DataFrame:
    import pyarrow as pa

    return pl.from_arrow(TELEGRAM_STAGED_CALLS.conform(pa.Table.from_pylist(rows)))


def test_ties_break_by_chat_then_message_and_repeat_by_caller():
    t = dt.datetime(2025, 1, 1, tzinfo=UTC)
    rows = [_row("b", 1, t, "u1"), _row("a", 9, t, "u2"), _row("a", 2, t, "u1"),
            _row("c", 1, t + dt.timedelta(hours=1), "u1"), _row("c", 2, t + dt.timedelta(hours=2), None),
            _row("c", 3, t + dt.timedelta(hours=3), None)]
    out = finalize_calls(_frame(rows))
    flags = {(r["chat_id"], r["message_id"]): (r["first_call"], r["repeat"]) for r in out.to_dicts()}
    assert flags[("a", 2)] == (True, False)
    assert flags[("a", 9)] == (False, False)
    assert flags[("b", 1)] == (False, True)     # u1 called it in chat a first (same second)
    assert flags[("c", 1)] == (False, True)
    assert flags[("c", 2)] == (False, False) and flags[("c", 3)] == (False, False)  # unknown caller


def test_deterministic_under_input_order():
    t = dt.datetime(2025, 1, 1, tzinfo=UTC)
    rows = [_row(c, m, t + dt.timedelta(minutes=m % 3), f"u{m % 2}", address=a)
            for c in "xyz" for m in range(6) for a in (DCAP, PUMP)]
    a = finalize_calls(_frame(rows))
    b = finalize_calls(_frame(rows[::-1]))
    assert a.equals(b)


def test_ambiguous_chat_name_is_not_merged():
    t = dt.datetime(2025, 1, 1, tzinfo=UTC)
    rows = [_row("111", 1, t, "u1", export_id="a"), _row("222", 1, t, "u2", export_id="a"),
            _row("name:Same", 5, t, "name:X", export_id="b")]
    for r in rows:
        r["chat_name"] = "Same"
    out = finalize_calls(_frame(rows))
    assert set(out["chat_id"]) == {"111", "222", "name:Same"}


def test_empty_input():
    out = finalize_calls(pl.from_arrow(TELEGRAM_STAGED_CALLS.empty()))
    assert out.is_empty() and out.columns == TELEGRAM_CALLS.columns


def test_html_senders_take_the_json_id_of_the_same_name(fixtures):
    staged = _staged(("a-json", fixtures / "one_chat.json"), ("b-html", fixtures / "html_chat"))
    html_only = staged.filter(pl.col("export_id") == "b-html")
    assert html_only.get_column("caller_id").str.starts_with("name:").any()
    out = finalize_calls(staged)
    json_ids = set(staged.filter(pl.col("export_id") == "a-json").get_column("caller_id").drop_nulls())
    for name, ids in out.group_by("caller_name").agg(pl.col("caller_id").unique()).iter_rows():
        if any(i in json_ids for i in ids):
            assert len(ids) == 1, f"{name} split into {ids}"
