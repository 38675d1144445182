"""The first day of an export from a peek at its head: a lower bound of its calls' days, exact where the time
is (date_unixtime, an offset in the HTML title, a given zone), a day early where the zone is unknown, and
None, never an exception, for whatever a file holds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from quantbot_pipelines.sample import write_sample_inbox
from quantbot_pipelines.telegram import find_exports, parse_export
from quantbot_pipelines.telegram.first_day import export_first_day, inbox_first_days
from tests.telegram.conftest import DCAP, FIXTURES

D = dt.date


def message(mid: int, **fields) -> dict:
    return {"id": mid, "type": "message", "from": "Mia", "from_id": "user1", "text": f"hi {DCAP}", **fields}


def chat(name: str, messages: list[dict]) -> dict:
    return {"name": name, "type": "private_group", "id": abs(hash(name)) % 10**9, "messages": messages}


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False))
    return path


def html_export(folder: Path, titles: list[str], name: str = "messages.html") -> Path:
    body = "".join(
        f'<div class="message default clearfix" id="message{i + 1}"><div class="body">'
        f'<div class="pull_right date details" title="{t}">00:00</div><div class="from_name">Mia</div>'
        f'<div class="text">{DCAP}</div></div></div>' for i, t in enumerate(titles))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f'<html><body><div class="page_header"><div class="text bold">Chat</div></div>'
                               f'<div class="history"><div class="message service" id="message-1">'
                               f'<div class="body details">1 March 2025</div></div>{body}</div></body></html>')
    return folder


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_never_after_the_first_call_of_any_fixture_or_sample_export(tmp_path, tz):
    write_sample_inbox(tmp_path / "sample")
    refs = find_exports(FIXTURES) + find_exports(tmp_path / "sample")
    assert len(refs) > 10
    for ref in refs:
        first = export_first_day(ref.path, tz=tz)
        calls = pl.from_arrow(parse_export(ref.path, tz=tz).calls)
        assert first is not None, ref.key
        if calls.height:
            assert first <= calls.get_column("call_ts").min().date(), ref.key


def test_the_sample_exports_start_at_their_first_message(tmp_path):
    write_sample_inbox(tmp_path)
    firsts = inbox_first_days(tmp_path)
    account = json.loads((tmp_path / "account" / "result.json").read_text())
    chats = account["chats"]["list"] + account["left_chats"]["list"]
    expected = min(dt.datetime.fromtimestamp(int(c["messages"][0]["date_unixtime"]), dt.UTC).date() for c in chats)
    assert firsts["account--result.json"] == expected
    assert set(firsts) == {"account--result.json", "alpha_gems--result.json", "degen_calls_html"}


def test_json_times_are_read_as_the_reader_reads_them(tmp_path):
    unix = int(dt.datetime(2025, 3, 1, 23, 30, tzinfo=dt.UTC).timestamp())
    # date_unixtime wins over the local date (a zone ahead of UTC shows 2 March already)
    p = write(tmp_path / "a.json", chat("a", [message(1, date="2025-03-02T01:30:00", date_unixtime=str(unix))]))
    assert export_first_day(p) == D(2025, 3, 1)
    # a local time alone: exact with the zone, a day early without it
    p = write(tmp_path / "b.json", chat("b", [message(1, date="2025-03-02T00:30:00")]))
    assert export_first_day(p, tz="Europe/Berlin") == D(2025, 3, 1)
    assert export_first_day(p, tz="America/New_York") == D(2025, 3, 2)
    assert export_first_day(p) == D(2025, 3, 1)
    # an offset in the text is exact
    p = write(tmp_path / "c.json", chat("c", [message(1, date="2025-03-02T00:30:00+02:00")]))
    assert export_first_day(p) == D(2025, 3, 1)


def test_a_message_whose_time_does_not_read_is_skipped(tmp_path):
    p = write(tmp_path / "a.json", chat("a", [
        message(1, date="yesterday"), message(2, date_unixtime="soon"),
        message(3, date="2025-03-04T10:00:00", date_unixtime="1741082400")]))
    assert export_first_day(p) == D(2025, 3, 4)
    # a broken first message (the reader quarantines it) does not hide the next one
    p = write(tmp_path / "b.json", chat("b", [message(1, date_unixtime="1740909600"),
                                              message(2, date_unixtime="1741082400")]))
    p.write_text(p.read_text().replace('"text": "hi', '"text": [}"hi', 1))
    assert export_first_day(p) == D(2025, 3, 4)


def test_keys_inside_texts_are_not_read(tmp_path):
    fake = 'see "date": "2001-01-01T00:00:00", "date_unixtime": "978307200", "messages": [{"id": 1}]'
    p = write(tmp_path / "a.json", {"name": "messages", "type": "private_group", "id": 7, "messages": [
        {"id": 1, "type": "message", "text": fake, "date": "2025-03-02T10:00:00", "date_unixtime": "1740909600"}]})
    assert export_first_day(p) == D(2025, 3, 2)


def test_a_whole_account_export_starts_at_its_earliest_chat(tmp_path):
    def dated(day: int) -> dict:
        ts = int(dt.datetime(2025, 3, day, 12, tzinfo=dt.UTC).timestamp())
        return message(day, date=f"2025-03-{day:02d}T12:00:00", date_unixtime=str(ts))

    account = {"about": "...", "personal_information": {"user_id": 1},
               "chats": {"about": "...", "list": [chat("late", [dated(20), dated(21)]), chat("empty", []),
                                                  chat("mid", [dated(9)])]},
               "left_chats": {"about": "...", "list": [chat("left", [dated(5), dated(30)])]}}
    assert export_first_day(write(tmp_path / "result.json", account)) == D(2025, 3, 5)
    # a one-chat export is read up to its one array, whatever follows
    one = chat("one", [dated(20)])
    assert export_first_day(write(tmp_path / "one.json", one)) == D(2025, 3, 20)


def test_html_titles_with_and_without_an_offset(tmp_path):
    folder = html_export(tmp_path / "a", ["02.03.2025 01:30:00 UTC+03:00", "01.03.2025 09:00:00 UTC+00:00"])
    assert export_first_day(folder) == D(2025, 3, 1)  # the first message, in UTC (files are oldest first)
    assert export_first_day(folder / "messages.html") == D(2025, 3, 1)
    old = html_export(tmp_path / "old", ["02.03.2025 00:30:00"])
    assert export_first_day(old, tz="Europe/Berlin") == D(2025, 3, 1)
    assert export_first_day(old, tz="Asia/Tokyo") == D(2025, 3, 1)
    assert export_first_day(old, tz="America/New_York") == D(2025, 3, 2)
    assert export_first_day(old) == D(2025, 3, 1)  # no zone: a day early
    bad_first = html_export(tmp_path / "bad", ["31.02.2025 10:00:00 UTC+00:00", "03.03.2025 10:00:00 UTC+00:00"])
    assert export_first_day(bad_first) == D(2025, 3, 3)
    # the first part missing: the oldest part there is
    second = html_export(tmp_path / "second", ["05.03.2025 10:00:00 UTC+00:00"], name="messages2.html")
    assert export_first_day(second) == D(2025, 3, 5)


@pytest.mark.parametrize("content", [
    b"", b"   \n", b"[1, 2, 3]", b"\x00\xff" * 5000, b'{"name": "x", "messages": [', b'{"name": "x", "messages": []}',
    b'{"name": "x", "messages": [{"id": 1, "text": "no date"}]}', b'{"name": "x", "messages": "none"}',
    b'{"name": "x", "messages": [{"id": 1, "date_unixtime": "99999999999999"}]}',
    '{"name": "ü", "messages": [{"id": 1, "text": "\udcff'.encode("utf-8", "surrogatepass"),
])
def test_whatever_a_json_file_holds_the_peek_answers_none(tmp_path, content):
    (tmp_path / "result.json").write_bytes(content)
    assert export_first_day(tmp_path / "result.json") is None


def test_broken_html_and_missing_paths_answer_none(tmp_path):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "messages.html").write_bytes(b"\x00\xff<div class=" * 1000)
    assert export_first_day(tmp_path / "garbage") is None
    assert export_first_day(tmp_path / "nowhere.json") is None
    assert export_first_day(tmp_path / "nowhere") is None
    html_export(tmp_path / "unreadable_titles", ["not a date", "32.13.2025 10:00:00 UTC+00:00"])
    assert export_first_day(tmp_path / "unreadable_titles") is None


def test_the_inbox_keeps_the_exports_it_can_date(tmp_path):
    write(tmp_path / "good" / "result.json", chat("g", [message(1, date_unixtime="1740909600")]))
    (tmp_path / "bad.json").write_bytes(b"\x00garbage")
    html_export(tmp_path / "html", ["01.03.2025 10:00:00 UTC+00:00"])
    assert inbox_first_days(tmp_path) == {"good--result.json": D(2025, 3, 2), "html": D(2025, 3, 1)}
    assert inbox_first_days(tmp_path / "missing") == {}
