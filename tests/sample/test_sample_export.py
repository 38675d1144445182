"""The small sample export: deterministic, and the structures of docs/formats.md#telegram-exports."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from quantbot_pipelines.sample import SampleSpec, b58decode, write_sample_inbox

B58_RUN = re.compile(r"(?<![0-9A-Za-z])[1-9A-HJ-NP-Za-km-z]{32,44}(?![0-9A-Za-z])")
TITLE = re.compile(r"^(\d\d)\.(\d\d)\.(\d{4}) (\d\d):(\d\d):(\d\d) UTC\+03:00$")
START, END = dt.datetime(2025, 9, 1, tzinfo=dt.UTC), dt.datetime(2025, 10, 13, tzinfo=dt.UTC)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _flat(text) -> str:
    return text if isinstance(text, str) else "".join(p if isinstance(p, str) else p["text"] for p in text)


def _chats(inbox: Path) -> list[dict]:
    alpha = json.loads((inbox / "alpha_gems" / "result.json").read_text("utf-8"))
    account = json.loads((inbox / "account" / "result.json").read_text("utf-8"))
    return [alpha, *account["chats"]["list"], *account["left_chats"]["list"]]


def test_same_seed_same_bytes_other_seed_differs(tmp_path, sample_inbox):
    paths = write_sample_inbox(tmp_path / "a")
    assert [p.relative_to(tmp_path / "a").as_posix() for p in paths] == [
        "alpha_gems/result.json",
        "account/result.json",
        "degen_calls_html",
    ]
    assert _files(tmp_path / "a") == _files(sample_inbox)
    write_sample_inbox(tmp_path / "b", SampleSpec(seed=8))
    other = _files(tmp_path / "b")
    assert other.keys() == _files(sample_inbox).keys()
    assert other["alpha_gems/result.json"] != _files(sample_inbox)["alpha_gems/result.json"]


def test_json_exports_have_the_reference_structure(sample_inbox):
    account = json.loads((sample_inbox / "account" / "result.json").read_text("utf-8"))
    assert {"about", "personal_information", "chats", "left_chats"} <= account.keys()
    assert [c["type"] for c in account["chats"]["list"]] == [
        "private_supergroup",
        "public_supergroup",
        "public_channel",
        "personal_chat",
    ]
    assert [c["name"] for c in account["left_chats"]["list"]] == ["Old Pump Room"]
    keys = Counter()
    for chat in _chats(sample_inbox):
        assert {"name", "type", "id", "messages"} <= chat.keys()
        ids = [m["id"] for m in chat["messages"]]
        assert ids == sorted(set(ids))
        for m in chat["messages"]:
            keys.update(m.keys())
            ts = dt.datetime.fromtimestamp(int(m["date_unixtime"]), dt.UTC)
            assert START <= ts < END
            # `date` is the exporting computer's wall clock: a whole number of hours from UTC
            offset = dt.datetime.fromisoformat(m["date"]).replace(tzinfo=dt.UTC) - ts
            assert offset in (dt.timedelta(hours=2), dt.timedelta(hours=-4))
            assert _flat(m["text"]) == "".join(e["text"] for e in m["text_entities"])
            if isinstance(m["text"], str):
                assert all(e["type"] == "plain" for e in m["text_entities"])
            if "reply_to_message_id" in m:
                assert m["reply_to_message_id"] in ids
            if m["type"] == "service":
                assert {"actor", "actor_id", "action"} <= m.keys()
            else:
                assert "from" in m and "from_id" in m
    for key in (
        "edited",
        "edited_unixtime",
        "forwarded_from",
        "reply_to_message_id",
        "photo",
        "media_type",
        "sticker_emoji",
        "author",
        "actor",
        "members",
    ):
        assert keys[key] > 0, key
    froms = Counter(
        m.get("from") for c in _chats(sample_inbox) for m in c["messages"] if m["type"] == "message"
    )
    assert froms[None] >= 1  # a deleted account
    assert froms["Rick"] > 20 and froms["Phanes"] > 20 and froms["Phanes [Gold]"] > 0


def test_html_export_has_the_reference_structure(sample_inbox):
    folder = sample_inbox / "degen_calls_html"
    assert (folder / "css").is_dir() and (folder / "js").is_dir()
    names = sorted(p.name for p in folder.glob("messages*.html"))
    assert names == ["messages.html", "messages2.html", "messages3.html"]
    ids_in: dict[str, set[int]] = {}
    docs = {}
    for name in names:
        raw = (folder / name).read_text("utf-8")
        doc = HTMLParser(raw)
        docs[name] = (raw, doc)
        assert doc.css_first("div.page_header div.text.bold").text(strip=True) == "Degen Calls"
        ids_in[name] = {int(n.attributes["id"][7:]) for n in doc.css("div.message.default")}
    seen = Counter()
    sender = None
    for name in names:
        raw, doc = docs[name]
        for node in doc.css("div.message"):
            classes = node.attributes["class"].split()
            if "service" in classes:
                seen["negative_service" if node.attributes["id"].startswith("message-") else "service"] += 1
                sender = None
                continue
            date = node.css_first("div.pull_right.date.details")
            assert TITLE.match(date.attributes["title"]), date.attributes["title"]
            from_name = node.css_first("div.body > div.from_name")
            if "joined" in classes:
                seen["joined"] += 1
                assert from_name is None and sender is not None  # the sender carries over
            else:
                assert from_name is not None
                sender = from_name.text(strip=True)
            link = node.css_first("div.reply_to.details a")
            if link is not None:
                href = link.attributes["href"]
                target_file, _, target = href.partition("#go_to_message")
                assert int(target) in ids_in[target_file or name], href
                seen["cross_file_reply" if target_file else "reply"] += 1
            if node.css_first("div.forwarded.body") is not None:
                seen["forwarded"] += 1
        assert "&apos;" in raw or name != "messages.html" or "&amp;" in raw
    assert seen["negative_service"] >= 30 and seen["service"] > 5 and seen["joined"] > 5
    assert seen["cross_file_reply"] >= 2 and seen["reply"] > 20 and seen["forwarded"] >= 1
    all_raw = "".join(raw for raw, _ in docs.values())
    assert "Deleted Account" in all_raw and "ShowCashtag(&quot;" in all_raw and "&amp;address=" in all_raw


def test_every_solana_address_decodes_to_32_bytes(sample_inbox, sample):
    planted = {
        r for _, m, what in sample.edge_cases if "29 bytes" in what for r in B58_RUN.findall(str(m.parts))
    }
    runs = set()
    for path in sample_inbox.rglob("*"):
        if path.suffix in (".json", ".html"):
            runs |= set(B58_RUN.findall(path.read_text("utf-8")))
    assert len(runs) > 60  # mints and pool addresses
    bad = {r for r in runs if len(b58decode(r)) != 32}
    assert bad == planted and len(bad) == 1  # only the planted 29-byte look-alike
    mints = [t.address for t in sample.tokens if t.chain == "solana"]
    assert all(len(b58decode(m)) == 32 for m in mints)
    assert sum(m.endswith("pump") for m in mints) >= 10


def test_sample_content_covers_the_cases(sample_inbox, sample):
    calls = [m for c in sample.chats.values() for m in c.messages if m.role == "call"]
    assert 150 <= len(calls) <= 300
    callers = Counter(m.sender.name for m in calls)
    assert 6 <= len([n for n in callers if n]) <= 10
    assert Counter(m.token.chain for m in calls).keys() == {"solana", "ethereum", "bsc", "base"}
    by_token = Counter((m.sender.id, m.token.address) for m in calls)
    assert sum(n > 1 for n in by_token.values()) >= 5  # repeats
    chats_of = {}
    for key, chat in sample.chats.items():
        for m in chat.messages:
            if m.role == "call":
                chats_of.setdefault(m.token.address, set()).add(key)
    assert sum(len(v) > 1 for v in chats_of.values()) >= 3  # same token called in several chats
    text = "".join(p.read_text("utf-8") for p in sample_inbox.rglob("*") if p.suffix in (".json", ".html"))
    for host in (
        "dexscreener.com/solana/",
        "dexscreener.com/ethereum/",
        "dexscreener.com/bsc/",
        "dexscreener.com/base/",
        "pump.fun/",
        "birdeye.so/token/",
        "solscan.io/token/",
        "gmgn.ai/sol/token/",
        "photon-sol.tinyastro.io/",
        "bullx.io/terminal",
        "0x0000000000000000000000000000000000000000",
        "💊",
        "🌐 Solana @",
        "🌐 BSC @ PancakeSwap",
        "🌐 Solana @ Pump.fun",  # tokens still on pump.fun's bonding curve
        "📈 Bonding Curve: ",
        "├ 💊 Pump.fun",
        "├ Bonding: ",
        "💰 USD:",
        "💎 FDV:",
        "⇨ ATH:",
        "💦 Liq:",
        "📊 Vol:",
        "🕰️ Age:",
        "├ USD:",
        "├ MC:",
        "├ LP:",
        "└ ATH:",
        "#SOL",
        "#ETH",
        "#BSC",
        "#BASE",
        "🌱",
        "👁️",
    ):
        assert host in text, host

    # skill: the best callers' calls ran further after they posted than the worst callers' calls
    def upside(name):
        xs = sorted(
            max(m.token.mcap_at(m.ts + k * 600) for k in range(1, 288)) / m.token.mcap_at(m.ts)
            for m in calls
            if m.sender.name == name
        )
        return xs[len(xs) // 2]

    assert upside("Mia") > 2 * upside("Late Larry")
