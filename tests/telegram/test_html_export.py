from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from quantbot_pipelines.schemas import TELEGRAM_CALLS
from quantbot_pipelines.telegram import parse_export
from quantbot_pipelines.telegram.calls import CallBuilder, zone
from quantbot_pipelines.telegram.html_export import html_parts, html_ts, parse_html_folder
from tests.telegram.conftest import CDOG, DCAP, DCAP_PAIR, FIN, GRC, SHORT43, rows_by

UTC = dt.UTC


@pytest.fixture(scope="module")
def chat():
    from tests.telegram.conftest import FIXTURES

    return parse_export(FIXTURES / "html_chat", export_id="h1")


def test_schema_stats_and_chat_name(chat):
    assert chat.calls.schema == TELEGRAM_CALLS.schema
    assert (chat.stats["messages"], chat.stats["service"], chat.stats["cards"]) == (8, 2, 1)
    assert set(chat.calls.column("chat_id").to_pylist()) == {"name:Alpha Gems"}
    assert set(chat.calls.column("chat_type").to_pylist()) == {None}
    assert set(chat.calls.column("source_format").to_pylist()) == {"html"}


def test_offsets_become_utc(chat):
    rows = rows_by(chat.calls, "message_id")
    assert rows[(5002,)]["call_ts"] == dt.datetime(2025, 3, 2, 9, 14, 5, tzinfo=UTC)   # UTC+01:00
    assert rows[(5023,)]["call_ts"] == dt.datetime(2025, 3, 2, 15, 0, tzinfo=UTC)      # UTC-03:00


def test_joined_messages_inherit_the_sender_also_across_files(chat):
    rows = rows_by(chat.calls, "message_id")
    assert rows[(5020,)]["caller_name"] == "Mia" and rows[(5020,)]["caller_id"] == "name:Mia"
    # messages2.html starts with a joined message: Bob wrote the last message of messages.html
    assert rows[(5022,)]["caller_name"] == "Bob"
    # the 'via @bot' detail is not part of the name
    assert rows[(5021,)]["caller_name"] == "Bob"


def test_card_in_another_file_resolves_call_by_reply(chat):
    r = rows_by(chat.calls, "message_id")[(5002,)]
    assert (r["resolved_by"], r["card_bot"], r["card_ticker"], r["pair_address"]) == ("card", "Rick", "DCAP",
                                                                                      DCAP_PAIR)
    assert (r["address"], r["card_mcap_usd"], r["card_age_s"]) == (DCAP, 48_200, 12 * 60)
    assert (r["card_dex"], r["card_bonding_pct"]) == ("Raydium", None)  # the <br> ends the 🌐 line
    assert "Rick" not in set(chat.calls.column("caller_name").to_pylist())


def test_escaped_entities_cashtags_links_and_br(chat):
    rows = rows_by(chat.calls, "message_id")
    assert rows[(5020,)]["text"].startswith("and this one " + SHORT43 + " it's \"early\" & cheap $ZZZ")
    assert rows[(5002,)]["text"] == "aping this\n" + DCAP
    link = rows[(5021,)]
    assert (link["address"], link["resolved_by"], link["chain"]) == (SHORT43, "link", "solana")


def test_forwarded_and_evm_hashtag(chat):
    rows = rows_by(chat.calls, "message_id")
    assert rows[(5023,)]["forwarded_from"] == "Whale Alerts" and rows[(5023,)]["address"] == GRC
    assert (rows[(5022,)]["chain"], rows[(5022,)]["address"]) == ("bsc", CDOG)
    assert not any(chat.calls.column("edited").to_pylist())  # HTML carries no edit info


def test_old_export_without_offsets(fixtures):
    no_tz = parse_export(fixtures / "html_old")
    (q,) = no_tz.quarantine.to_pylist()
    assert (q["reason"], q["message_id"]) == ("no_timezone", 77) and "messages.html" in q["detail"]
    assert no_tz.calls.num_rows == 0
    ny = parse_export(fixtures / "html_old" / "messages.html", tz="America/New_York")
    (row,) = ny.calls.to_pylist()
    assert row["address"] == FIN and row["call_ts"] == dt.datetime(2021, 1, 5, 23, 30, tzinfo=UTC)


def test_html_ts():
    assert html_ts("02.03.2025 09:14:05 UTC+05:30", None)[0] == int(
        dt.datetime(2025, 3, 2, 3, 44, 5, tzinfo=UTC).timestamp())
    assert html_ts("nonsense", None) == (None, "bad_date")
    assert html_ts("02.03.2025 09:14:05", None) == (None, "no_timezone")


def test_parts_in_numeric_order(tmp_path):
    for n in ("messages.html", "messages10.html", "messages2.html", "messages9.html"):
        (tmp_path / n).write_text("x")
    (tmp_path / "style.css").write_text("x")
    assert [p.name for p in html_parts(tmp_path)] == ["messages.html", "messages2.html", "messages9.html",
                                                      "messages10.html"]


def _both(folder: Path):
    out = []
    for fast in (True, False):
        b = CallBuilder(export_id="x", source_format="html")
        parse_html_folder(folder, b, None, fast=fast)
        r = b.result()
        out.append((r.calls.to_pylist(), r.quarantine.to_pylist(),
                    {k: v for k, v in r.stats.items() if k != "seconds"}))
    return out


def test_fast_path_equals_full_lexbor_walk(fixtures):
    fast, full = _both(fixtures / "html_chat")
    assert fast == full and len(fast[0]) == 5


def test_irregular_markup_takes_the_lexbor_walk(fixtures, tmp_path):
    # attribute order swapped: the fast pattern misses it, so the file must go through lexbor
    folder = tmp_path / "chat"
    shutil.copytree(fixtures / "html_chat", folder)
    p = folder / "messages.html"
    p.write_text(p.read_text().replace('<div class="message default clearfix" id="message5002">',
                                       '<div id="message5002" class="message default clearfix">'))
    res = parse_export(folder)
    assert rows_by(res.calls, "message_id")[(5002,)]["resolved_by"] == "card"
    assert res.calls.num_rows == 5


def _html(folder, fast: bool):
    b = CallBuilder(export_id="t", source_format="html")
    parse_html_folder(folder, b, None, fast=fast)
    r = b.result()
    return r.calls.to_pylist(), r.quarantine.to_pylist(), {k: v for k, v in r.stats.items() if k != "seconds"}


def test_html_invalid_utf8_and_blank_part_read_ahead(fixtures, tmp_path):
    folder = tmp_path / "chat"
    shutil.copytree(fixtures / "html_chat", folder)
    first = folder / "messages.html"
    data = first.read_bytes()
    cut = data.index(b'class="text"') + 40
    first.write_bytes(data[:cut] + b"\xff\xfe" + data[cut:])
    (folder / "messages3.html").write_bytes(b" \n\t\n")  # whitespace only: an empty part
    fast, full = _html(folder, True), _html(folder, False)
    assert fast == full
    calls, quarantine, stats = fast
    reasons = {q["reason"]: q for q in quarantine}
    assert set(reasons) == {"invalid_utf8", "missing_parts"}
    detail = reasons["invalid_utf8"]["detail"]
    assert f"invalid UTF-8 at byte offset {cut} of the file (in message 5002)" in detail
    assert "messages3.html" in reasons["missing_parts"]["detail"]
    assert GRC in {c["address"] for c in calls} and stats["chats"] == 1  # the rest still parsed


def _html_folders(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("messages*.html")})


@pytest.fixture(scope="module")
def sample_html(tmp_path_factory) -> list[Path]:
    from quantbot_pipelines.sample import write_sample_inbox

    inbox = tmp_path_factory.mktemp("inbox")
    write_sample_inbox(inbox)
    return _html_folders(inbox)


def test_every_html_fixture_is_covered():
    from tests.telegram.conftest import FIXTURES

    names = {p.name for p in _html_folders(FIXTURES)}
    assert {"html_chat", "html_old", "html_truncated", "html_senders"} <= names


@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_both_paths_agree_on_every_html_fixture_and_the_sample(sample_html, tz):
    """Fast (byte searches) and full (lexbor) walk: the same calls, quarantine and stats, folder by folder."""
    from tests.telegram.conftest import FIXTURES

    folders = _html_folders(FIXTURES) + sample_html
    assert len(folders) >= 5 and sample_html
    for folder in folders:
        out = []
        for fast in (True, False):
            b = CallBuilder(export_id="x", source_format="html")
            parse_html_folder(folder, b, zone(tz), fast=fast)
            r = b.result()
            out.append((r.calls.to_pylist(), r.quarantine.to_pylist(),
                        {k: v for k, v in r.stats.items() if k != "seconds"}))
        assert out[0] == out[1], folder.name
        assert out[0][0] or out[0][1], folder.name  # something was read


def test_html_dates_that_do_not_exist_are_bad_dates():
    for title in ("31.02.2025 10:00:00 UTC+01:00", "02.03.2025 24:00:00 UTC+01:00", "02.13.2025 10:00:00 UTC+01:00",
                  "00.03.2025 10:00:00 UTC+01:00", "02.03.2025 10:60:00 UTC+01:00"):
        assert html_ts(title, None) == (None, "bad_date"), title
    assert html_ts("29.02.2024 23:59:59 UTC+00:00", None)[0] == int(
        dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC).timestamp())
