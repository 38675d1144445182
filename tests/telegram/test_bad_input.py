"""Bad input never stops the other messages and is never lost: a quarantine row (reason, file, message, raw)
or, for a file with nothing readable, a ValueError naming the file."""

from __future__ import annotations

import json
import shutil

import pytest

from quantbot_pipelines.telegram import parse_export
from quantbot_pipelines.telegram.calls import CallBuilder
from quantbot_pipelines.telegram.html_export import parse_html_folder
from quantbot_pipelines.telegram.json_export import parse_json_file
from tests.telegram.conftest import CDOG_RAW, DCAP, FIN, GRC, PUMP, SHORT43


def _reasons(res) -> dict[str, list]:
    out: dict[str, list] = {}
    for q in res.quarantine.to_pylist():
        out.setdefault(q["reason"], []).append(q)
    return out


def test_truncated_json_keeps_earlier_messages(fixtures, tmp_path):
    data = (fixtures / "one_chat.json").read_bytes()
    cut = data.index(b'"id": 5009')
    p = tmp_path / "cut.json"
    p.write_bytes(data[:cut + 120])
    res = parse_export(p, export_id="cut")
    (q,) = _reasons(res)["truncated"]
    assert q["message_id"] == 5009 and str(p) in q["detail"] and q["raw"].startswith("{")
    assert q["export_id"] == "cut" and q["chat_name"] == "Alpha Gems"
    assert {DCAP, PUMP, SHORT43} <= set(res.calls.column("address").to_pylist())
    assert res.quarantine.num_rows == 1


def test_truncated_between_messages(fixtures, tmp_path):
    data = (fixtures / "one_chat.json").read_bytes()
    p = tmp_path / "cut.json"
    p.write_bytes(data[:data.rindex(b"]")])  # all messages complete, the closing brackets missing
    res = parse_export(p)
    (q,) = _reasons(res)["truncated"]
    assert str(p) in q["detail"]
    assert res.calls.num_rows == 10


def test_invalid_utf8_in_a_message(fixtures, tmp_path):
    data = (fixtures / "one_chat.json").read_bytes()
    data = data.replace(b'"text": "two for you:', b'"text": "two \xff\xfe for you:')
    p = tmp_path / "bad.json"
    p.write_bytes(data)
    res = parse_export(p)
    (q,) = _reasons(res)["invalid_utf8"]
    assert q["message_id"] == 5012 and "5012" in q["detail"] and str(p) in q["detail"]
    assert FIN in q["raw"] and q["raw_bytes"] > 100
    # where, in the user's terms: the byte in the message and in the file (not orjson's "surrogates")
    at, start = data.index(b"\xff"), data.index(b'{"id": 5012')
    assert f"invalid UTF-8 at byte offset {at - start} of the message (byte {at} of the file)" in q["detail"]
    assert "surrogate" not in q["detail"]
    assert 5012 not in res.calls.column("message_id").to_pylist()
    assert res.calls.num_rows == 8  # the two calls of 5012 are in quarantine, the rest parsed


def test_invalid_json_in_a_message(fixtures, tmp_path):
    data = (fixtures / "one_chat.json").read_bytes()
    data = data.replace(b'"from": "Bob", "from_id": "user700000002",\n   "text": "0xAbCd',
                        b'"from": Bob, "from_id": "user700000002",\n   "text": "0xAbCd')
    p = tmp_path / "bad.json"
    p.write_bytes(data)
    res = parse_export(p)
    (q,) = _reasons(res)["invalid_json"]
    assert q["message_id"] == 5005
    assert res.calls.num_rows == 9


@pytest.mark.parametrize("content", [b"", b"   \n", b"[1, 2]", b"\xff\xfe garbage"])
def test_unreadable_json_file_raises_naming_it(tmp_path, content):
    p = tmp_path / "result.json"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="result.json"):
        parse_export(p)


def test_ten_megabyte_message(tmp_path):
    big = "spam " * (2 * 1024 * 1024) + DCAP
    msgs = [{"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "A", "from_id": "user1",
             "text": f"first {GRC}"},
            {"id": 2, "type": "message", "date_unixtime": "1700000100", "from": "A", "from_id": "user1",
             "text": big},
            {"id": 3, "type": "message", "date_unixtime": "1700000200", "from": "B", "from_id": "user2",
             "text": f"after {FIN}"}]
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"name": "Big", "type": "private_group", "id": 1, "messages": msgs}))
    res = parse_export(p)
    (q,) = _reasons(res)["oversized"]
    assert q["message_id"] == 2 and q["raw_bytes"] > 10_000_000 and len(q["raw"]) <= 64 * 1024
    assert str(p) in q["detail"]
    assert sorted(res.calls.column("message_id").to_pylist()) == [1, 3]


def test_html_missing_and_empty_parts(fixtures, tmp_path):
    folder = tmp_path / "chat"
    shutil.copytree(fixtures / "html_chat", folder)
    (folder / "messages2.html").rename(folder / "messages3.html")
    (folder / "messages4.html").write_text("")
    res = parse_export(folder)
    missing = _reasons(res)["missing_parts"]
    details = " ".join(q["detail"] for q in missing)
    assert "messages2.html" in details and "messages4.html" in details
    assert res.calls.num_rows == 5  # every message that is there is parsed


def test_html_message_without_date_or_header(fixtures, tmp_path):
    folder = tmp_path / "chat"
    folder.mkdir()
    doc = (fixtures / "html_chat" / "messages.html").read_text()
    doc = doc.replace('<div class="pull_right date details" title="02.03.2025 10:14:05 UTC+01:00">10:14</div>', "")
    doc = doc.replace('<div class="text bold">Alpha Gems</div>', "")
    (folder / "messages.html").write_text(doc)
    res = parse_export(folder)
    reasons = _reasons(res)
    (nodate,) = [q for q in reasons["missing_parts"] if q["message_id"] == 5002]
    assert "5002" in nodate["detail"] and DCAP in nodate["raw"]
    assert any("page_header" in q["detail"] for q in reasons["missing_parts"])
    assert set(res.calls.column("chat_name").to_pylist()) == {"chat"}
    assert {5020, 5021} <= set(res.calls.column("message_id").to_pylist())


def test_html_truncated_file(fixtures, tmp_path):
    folder = tmp_path / "chat"
    folder.mkdir()
    doc = (fixtures / "html_chat" / "messages.html").read_text()
    (folder / "messages.html").write_text(doc[:doc.index("same <a href")])
    res = parse_export(folder)
    assert {5002, 5020} <= set(res.calls.column("message_id").to_pylist())


def test_html_invalid_utf8(fixtures, tmp_path):
    folder = tmp_path / "chat"
    folder.mkdir()
    data = (fixtures / "html_chat" / "messages.html").read_bytes().replace(b"and this one", b"and \xff one")
    (folder / "messages.html").write_bytes(data)
    res = parse_export(folder)
    (q,) = _reasons(res)["invalid_utf8"]
    assert "messages.html" in q["detail"]
    assert {5002, 5020, 5021} <= set(res.calls.column("message_id").to_pylist())


def test_html_ten_megabyte_message(fixtures, tmp_path):
    folder = tmp_path / "chat"
    folder.mkdir()
    doc = (fixtures / "html_chat" / "messages.html").read_text()
    doc = doc.replace("and this one", "spam " * (2 * 1024 * 1024))
    (folder / "messages.html").write_text(doc)
    res = parse_export(folder)
    (q,) = _reasons(res)["oversized"]
    assert q["message_id"] == 5020 and len(q["raw"]) <= 64 * 1024
    assert {5002, 5021} <= set(res.calls.column("message_id").to_pylist())


def test_html_folder_with_only_empty_parts_raises(tmp_path):
    (tmp_path / "messages.html").write_text("")
    with pytest.raises(ValueError, match="messages"):
        parse_export(tmp_path)


def _json(path, **kw):
    b = CallBuilder(export_id="t", source_format="json")
    parse_json_file(path, b, None, **kw)
    r = b.result()
    return r.calls.to_pylist(), r.quarantine.to_pylist(), {k: v for k, v in r.stats.items() if k != "seconds"}


def _html(folder, fast: bool):
    b = CallBuilder(export_id="t", source_format="html")
    parse_html_folder(folder, b, None, fast=fast)
    r = b.result()
    return r.calls.to_pylist(), r.quarantine.to_pylist(), {k: v for k, v in r.stats.items() if k != "seconds"}


def test_json_cut_after_an_address_on_every_chunk_size(fixtures):
    """The last message is cut right after its address: every complete one is kept, the cut one quarantined."""
    path = fixtures / "truncated.json"
    ref = _json(path)
    calls, quarantine, stats = ref
    assert sorted(c["message_id"] for c in calls) == [10, 11]
    (q,) = quarantine
    assert (q["reason"], q["message_id"], q["chat_name"]) == ("truncated", 12, "Cut Chat")
    start = path.read_bytes().index(b'{"id": 12')
    assert q["raw"].endswith(SHORT43) and f"(byte {start})" in q["detail"]
    assert stats["messages"] == 2  # the cut message is not counted
    for chunk in (1, 2, 7, 61, 4096):
        for cap in (6, 1 << 16):
            assert _json(path, chunk=chunk, event_cap=cap) == ref, (chunk, cap)


def test_json_cut_inside_the_id_names_no_message(fixtures, tmp_path):
    data = (fixtures / "one_chat.json").read_bytes()
    p = tmp_path / "cut.json"
    p.write_bytes(data[:data.index(b'"id": 5009') + len('"id": 50')])
    (q,) = parse_export(p).quarantine.to_pylist()
    assert q["reason"] == "truncated" and q["message_id"] is None  # not "50"


def test_html_cut_after_an_address_on_both_paths(fixtures):
    folder = fixtures / "html_truncated"
    fast, full = _html(folder, True), _html(folder, False)
    assert fast == full
    calls, quarantine, stats = fast
    assert sorted(c["message_id"] for c in calls) == [6002, 6003]
    (q,) = quarantine
    data = (folder / "messages.html").read_bytes()
    start = data.index(b'<div class="message default clearfix" id="message6004">')
    assert (q["reason"], q["message_id"], q["chat_name"]) == ("truncated", 6004, "Cut Chat")
    assert f"(byte {start})" in q["detail"] and q["raw"].endswith(FIN) and q["raw_bytes"] == len(data) - start
    assert stats["messages"] == 3 and stats["bytes"] == len(data)


@pytest.mark.parametrize(("cut_at", "keep", "read_5021", "row_mid"), [
    ("same <a href", 0, False, 5021),                # in its text
    ('id="message5021"', 5, False, None),            # in its start tag: no id yet
    ('<div class="message default clearfix" id="message5021"', 5, False, None),  # before its class
    ("</div>\n     </div>\n    </div>", 0, True, None),   # after it, in the page's closing tags
    ("</body>", 0, True, None),
])
def test_html_cut_anywhere_gives_the_same_rows_on_both_paths(fixtures, tmp_path, cut_at, keep, read_5021,
                                                              row_mid):
    folder = tmp_path / "chat"
    shutil.copytree(fixtures / "html_chat", folder)
    p = folder / "messages.html"
    doc = p.read_bytes()
    i = doc.rindex(cut_at.encode()) + (keep or (len(cut_at) if cut_at.startswith("</") else 0))
    p.write_bytes(doc[:i])
    fast, full = _html(folder, True), _html(folder, False)
    assert fast == full
    calls, quarantine, _ = fast
    (q,) = quarantine
    assert (q["reason"], q["message_id"]) == ("truncated", row_mid) and "messages.html" in q["detail"]
    ids = {c["message_id"] for c in calls}
    assert {5002, 5020, 5022, 5023} <= ids  # messages2.html is read as usual
    assert (5021 in ids) == read_5021
    if read_5021 or row_mid is not None:  # 5021's from_name is in the kept bytes
        # messages2.html opens with a message joined to 5021: Bob's, also when 5021 itself is cut
        assert rows_by_id(calls)[5022]["caller_name"] == "Bob"


def rows_by_id(calls):
    return {c["message_id"]: c for c in calls}


def test_json_invalid_utf8_in_an_evm_call_names_the_bytes(tmp_path):
    msgs = [{"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "A", "from_id": "user1",
             "text": f"a {GRC}"}]
    raw = json.dumps({"name": "U", "type": "private_group", "id": 3, "messages": msgs}).encode()
    bad = b'{"id": 2, "type": "message", "date_unixtime": "1700000001", "text": "b \xed\xa0\x80 ' \
        + CDOG_RAW.encode() + b'"}'
    p = tmp_path / "u.json"
    p.write_bytes(raw.replace(b"}]}", b"}, " + bad + b"]}"))
    res = parse_export(p)
    (q,) = res.quarantine.to_pylist()
    at, off = p.read_bytes().index(b"\xed"), bad.index(b"\xed")
    assert q["reason"] == "invalid_utf8" and q["message_id"] == 2
    assert f"byte offset {off} of the message (byte {at} of the file)" in q["detail"]
    assert res.calls.column("message_id").to_pylist() == [1]
