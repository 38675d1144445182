"""Bad input never stops the other messages and is never lost: a quarantine row (reason, file, message, raw)
or, for a file with nothing readable, a ValueError naming the file."""

from __future__ import annotations

import json
import shutil

import pytest

from quantbot_pipelines.telegram import parse_export
from tests.telegram.conftest import DCAP, FIN, GRC, PUMP, SHORT43


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
