from __future__ import annotations

import os
import re
import shutil

from quantbot_pipelines.telegram import find_exports
from quantbot_pipelines.telegram.exports import export_key


def test_finds_json_files_and_html_folders(fixtures, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "acct" / "sub").mkdir(parents=True)
    shutil.copy(fixtures / "one_chat.json", inbox / "acct" / "result.json")
    shutil.copy(fixtures / "whole_account.json", inbox / "acct" / "sub" / "result.json")
    shutil.copytree(fixtures / "html_chat", inbox / "ChatExport 2025-03-02")
    (inbox / "ChatExport 2025-03-02" / "css").mkdir()
    (inbox / "ChatExport 2025-03-02" / "css" / "style.css").write_text("x")
    (inbox / "ChatExport 2025-03-02" / "photos").mkdir()
    (inbox / "ChatExport 2025-03-02" / "photos" / "meta.json").write_text("{}")
    refs = find_exports(inbox)
    assert {(r.format, r.path.relative_to(inbox).as_posix()) for r in refs} == {
        ("json", "acct/result.json"), ("json", "acct/sub/result.json"), ("html", "ChatExport 2025-03-02")}
    keys = [r.key for r in refs]
    assert keys == sorted(keys) and len(set(keys)) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9._-]{1,120}", k) for k in keys)
    html = next(r for r in refs if r.format == "html")
    assert html.size == sum(p.stat().st_size for p in html.path.glob("messages*.html"))


def test_keys_are_stable_and_fingerprint_tracks_growth(fixtures, tmp_path):
    shutil.copy(fixtures / "one_chat.json", tmp_path / "result.json")
    (a,) = find_exports(tmp_path)
    (b,) = find_exports(tmp_path)
    assert a == b and a.key == "result.json"
    with open(tmp_path / "result.json", "a") as f:
        f.write("\n")
    (c,) = find_exports(tmp_path)
    assert c.key == a.key and c.fingerprint != a.fingerprint and c.size == a.size + 1
    st = (tmp_path / "result.json").stat()
    os.utime(tmp_path / "result.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    (d,) = find_exports(tmp_path)
    assert d.fingerprint != c.fingerprint


def test_html_fingerprint_changes_when_a_part_is_added(fixtures, tmp_path):
    shutil.copytree(fixtures / "html_chat", tmp_path / "chat")
    (a,) = find_exports(tmp_path)
    (tmp_path / "chat" / "messages3.html").write_text("<html></html>")
    (b,) = find_exports(tmp_path)
    assert a.key == b.key and a.fingerprint != b.fingerprint and b.size > a.size


def test_export_key_sanitizes_and_stays_unique():
    assert export_key("a/b.json") != export_key("a--b.json")
    assert export_key("a b/c.json") != export_key("a_b/c.json")
    long = export_key("x" * 300 + ".json")
    assert len(long) <= 120 and re.fullmatch(r"[A-Za-z0-9._-]+", long)
    assert export_key("Привет/result.json") != export_key("Пока/result.json")


def test_missing_inbox_is_empty(tmp_path):
    assert find_exports(tmp_path / "nope") == []
