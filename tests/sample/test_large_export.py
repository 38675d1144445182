"""Large exports for the ingest benchmark: target size, valid structure, deterministic, the intended mix."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

from selectolax.lexbor import LexborHTMLParser

from quantbot_pipelines.sample import write_large_html, write_large_json

TITLE = re.compile(r"^\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d UTC\+03:00$")


def _kind(m: dict) -> str:
    if m["type"] == "service":
        return "service"
    if m["from"] in ("Rick", "Phanes"):
        return "card"
    text = (
        m["text"]
        if isinstance(m["text"], str)
        else "".join(  # hrefs too: a "chart" text_link names a token
            p if isinstance(p, str) else p["text"] + " " + p.get("href", "") for p in m["text"]
        )
    )
    return "call" if re.search(r"[1-9A-HJ-NP-Za-km-z]{32,44}|0x[0-9a-fA-F]{40}", text) else "noise"


def test_large_json_hits_target_and_is_a_valid_account_export(tmp_path):
    path = tmp_path / "result.json"
    n = write_large_json(path, 8, seed=3)
    assert n == path.stat().st_size
    assert abs(n - 8_000_000) <= 800_000
    doc = json.loads(path.read_bytes())
    chats = doc["chats"]["list"] + doc["left_chats"]["list"]
    assert len(doc["chats"]["list"]) >= 3 and len(doc["left_chats"]["list"]) >= 1
    kinds = Counter()
    for chat in chats:
        assert {"name", "type", "id", "messages"} <= chat.keys()
        ids = [m["id"] for m in chat["messages"]]
        assert ids == sorted(set(ids))
        by_id = {m["id"]: m for m in chat["messages"]}
        for m in chat["messages"]:
            kinds[_kind(m)] += 1
            assert m["date_unixtime"].isdigit()
            if "reply_to_message_id" in m:
                assert _kind(by_id[m["reply_to_message_id"]]) == "call"
    total = sum(kinds.values())
    share = {k: v / total for k, v in kinds.items()}
    assert 0.62 < share["noise"] < 0.78 and 0.11 < share["call"] < 0.19
    assert 0.07 < share["card"] < 0.13 and 0.03 < share["service"] < 0.07
    lists = sum(isinstance(m["text"], list) for c in chats for m in c["messages"])
    assert lists / total > 0.3  # entity lists, like real exports
    again = tmp_path / "again.json"
    write_large_json(again, 8, seed=3)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()


def test_large_html_hits_target_in_several_files_with_working_replies(tmp_path):
    folder = tmp_path / "html"
    n = write_large_html(folder, 9, seed=3, file_mb=3)
    files = sorted(folder.glob("messages*.html"), key=lambda p: int(p.stem[8:] or 1))
    assert n == sum(p.stat().st_size for p in files)
    assert abs(n - 9_000_000) <= 900_000
    assert [p.name for p in files][:2] == ["messages.html", "messages2.html"] and len(files) >= 3
    ids, docs = {}, {}
    for p in files:
        docs[p.name] = LexborHTMLParser(p.read_text("utf-8"))
        ids[p.name] = {int(x.attributes["id"][7:]) for x in docs[p.name].css("div.message.default")}
    seen = Counter()
    for name, doc in docs.items():
        assert doc.css_first("div.page_header div.text.bold").text(strip=True) == "Degen Calls"
        for node in doc.css("div.message.default"):
            assert TITLE.match(node.css_first("div.pull_right.date.details").attributes["title"])
            seen["joined" if "joined" in node.attributes["class"] else "full"] += 1
            link = node.css_first("div.reply_to.details a")
            if link is not None:
                target_file, _, target = link.attributes["href"].partition("#go_to_message")
                assert int(target) in ids[target_file or name]
                seen["reply"] += 1
        seen["dates"] += len(doc.css("div.message.service"))
    assert seen["full"] > 1000 and seen["joined"] > 100 and seen["reply"] > 100 and seen["dates"] > 10
