"""One malformed message inserted anywhere into a valid export (too deep, oversized, invalid UTF-8 bytes, a
broken object, a bad date, a truncated tail) costs that message only: every other call comes out as it does
without it, and the bad one is a quarantine row with its reason (docs/semantics.md#calls)."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantbot_pipelines.telegram.calls import CallBuilder
from quantbot_pipelines.telegram.html_export import MAX_MESSAGE_BYTES as HTML_MAX
from quantbot_pipelines.telegram.html_export import parse_html_folder
from quantbot_pipelines.telegram.json_export import MAX_MESSAGE_BYTES as JSON_MAX
from quantbot_pipelines.telegram.json_export import parse_json_file
from quantbot_pipelines.telegram.scan_nb import MAX_DEPTH
from tests.telegram.conftest import CDOG_RAW, DCAP, FIN, GRC, PEPE, PUMP, SHORT43

BAD_ID = 999
BAD_ADDR = CDOG_RAW  # no good message names it: its call (HTML may still read one) changes no other row's flags
BAD_BYTES = [b"\xff", b"\xfe\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80"]
KINDS = ["too_deep", "oversized", "invalid_utf8", "broken", "bad_date", "truncated"]
EXAMPLES = settings(max_examples=36, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (id, sender, from_id, text) of the good messages; the date is id-derived
GOOD = [
    (1, "Mia", "user1", f"gm {DCAP}"),
    (2, "Bob", "user2", ["look ", {"type": "link", "text": f"https://pump.fun/coin/{PUMP}"}, " lfg"]),
    (3, "Zero", 0, f"{FIN} and {GRC}"),
    (4, "Dan", "user4", "no address here, just chat"),
    (5, "News", "channel5", [{"type": "bold", "text": "new: "}, SHORT43]),
    (6, "Mia", "user1", f"again {DCAP} and {PEPE}"),
]


def _calls(result, drop_bad: bool = True) -> list[dict]:
    rows = []
    for r in result.calls.to_pylist():
        if drop_bad and r["message_id"] == BAD_ID:
            continue
        r["source_file"] = Path(r["source_file"]).name
        rows.append(r)
    return rows


def _quarantine(result) -> list[dict]:
    """Rows without the temporary folder in their file names."""
    rows = result.quarantine.to_pylist()
    for r in rows:
        folder = str(Path(r["source_file"]).parent) + "/"
        r["source_file"] = r["source_file"].replace(folder, "")
        r["detail"] = r["detail"].replace(folder, "")
    return rows


# -- JSON ------------------------------------------------------------------------------------------------
def _json_good(mid, sender, sid, text) -> bytes:
    return json.dumps({"id": mid, "type": "message", "date": "2025-03-02T10:00:00",
                       "date_unixtime": str(1740906000 + 60 * mid), "from": sender, "from_id": sid, "text": text,
                       "text_entities": []}, ensure_ascii=False).encode()


def _json_bad(kind: str, arg) -> bytes:
    head = (b'{"id": %d, "type": "message", "date_unixtime": "1740906500", "from": "Bad Actor", '
            b'"from_id": "user999", ' % BAD_ID)
    if kind == "too_deep":  # the message is level 1, its text list adds `arg` more
        return head + b'"text": ' + b"[" * arg + json.dumps(f"deep {BAD_ADDR}").encode() + b"]" * arg + b"}"
    if kind == "oversized":
        return head + b'"text": "' + b"x " * (JSON_MAX // 2 + arg) + BAD_ADDR.encode() + b'"}'
    if kind == "invalid_utf8":
        return head + b'"text": "before ' + BAD_BYTES[arg % len(BAD_BYTES)] + b" " + BAD_ADDR.encode() + b'"}'
    if kind == "broken":  # brackets and quotes still balance: the scanner finds its end
        text = json.dumps(f"broken {BAD_ADDR}").encode()
        return [head + b'"text" ' + text + b"}",                   # no colon
                head + b'"text": ' + text + b", }",                 # trailing comma
                head + b'"text": ' + text + b', "via": bot}',      # bare word
                head + b'"text": ' + text + b' "x": 1}',           # no comma
                head + b'"text": ' + text + b", \"n\": NaN}"][arg % 5]
    if kind == "bad_date":
        dates = [b'"date_unixtime": "soon", ', b'"date": "yesterday", ', b"",
                 b'"date": "2025-02-30T10:00:00", ']
        return (b'{"id": %d, "type": "message", ' % BAD_ID + dates[arg % len(dates)]
                + b'"from": "Bad Actor", "from_id": "user999", "text": "late ' + BAD_ADDR.encode() + b'"}')
    raise AssertionError(kind)


def _json_doc(messages: list[bytes], *, cut_last: int | None = None) -> bytes:
    head = b'{\n "name": "Props",\n "type": "private_group",\n "id": 31337,\n "messages": [\n  '
    if cut_last is not None:  # the file ends `cut_last` bytes into its last message
        return head + b",\n  ".join(messages[:-1] + [messages[-1][:cut_last]])
    return head + b",\n  ".join(messages) + b"\n ]\n}\n"


def _parse_json(data: bytes, chunk: int | None):
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "result.json"
        p.write_bytes(data)
        b = CallBuilder(export_id="p", source_format="json")
        parse_json_file(p, b, None, **({"chunk": chunk} if chunk else {}))
        return b.result()


@functools.cache
def _json_base():
    return _parse_json(_json_doc([_json_good(*g) for g in GOOD]), None)


@st.composite
def _bad_case(draw):
    kind = draw(st.sampled_from(KINDS))
    arg = draw(st.integers(MAX_DEPTH, 3 * MAX_DEPTH)) if kind == "too_deep" else draw(st.integers(0, 1000))
    return kind, arg


@EXAMPLES
@given(case=_bad_case(), where=st.integers(0, len(GOOD)), cut=st.floats(0, 1, exclude_max=True),
       chunk=st.sampled_from([None, 61, 4096]))
def test_one_bad_json_message_leaves_every_other_call(case, where, cut, chunk):
    kind, arg = case
    good = [_json_good(*g) for g in GOOD]
    if kind == "truncated":  # a cut message can only be the file's last
        bad = _json_good(BAD_ID, "Bad Actor", "user999", f"late {BAD_ADDR}")
        data = _json_doc(good + [bad], cut_last=int(cut * len(bad)))
    else:
        data = _json_doc(good[:where] + [_json_bad(kind, arg)] + good[where:])
    res = _parse_json(data, None if kind == "oversized" else chunk)  # 1 MiB in 61-byte reads: too slow
    base = _json_base()
    assert _calls(res, drop_bad=False) == _calls(base)
    (q,) = res.quarantine.to_pylist()
    assert q["reason"] == {"broken": "invalid_json"}.get(kind, kind)
    assert q["message_id"] == BAD_ID or kind == "truncated" and q["message_id"] is None
    assert "result.json" in q["detail"] and ("byte" in q["detail"] or kind == "bad_date")
    if kind == "invalid_utf8":
        at = data.index(b"before ") + len(b"before ")
        assert f"(byte {at} of the file)" in q["detail"]
    assert res.stats["messages"] == base.stats["messages"] + (kind != "truncated")  # a cut one is not counted


# -- HTML ------------------------------------------------------------------------------------------------
def _html_text(text) -> str:
    if isinstance(text, str):
        return text
    out = []
    for p in text:
        if isinstance(p, str):
            out.append(p)
        elif p["type"] == "link":
            out.append(f'<a href="{p["text"]}">{p["text"]}</a>')
        else:
            out.append(f"<strong>{p['text']}</strong>")
    return "".join(out)


def _html_message(mid, sender: str, text_html: str, *, title: str | None = None, cls="message default clearfix",
                  ident: str | None = None, body="body") -> str:
    minute = mid % 60
    title = title if title is not None else f"02.03.2025 10:{minute:02d}:00 UTC+01:00"
    return (f'     <div class="{cls}" id="{ident or f"message{mid}"}">\n'
            f'      <div class="pull_left userpic_wrap"><div class="userpic userpic1"><div class="initials">'
            f'{sender[0]}</div></div></div>\n'
            f'      <div class="{body}">\n'
            f'       <div class="pull_right date details" title="{title}">10:{minute:02d}</div>\n'
            f'       <div class="from_name">{sender}</div>\n'
            f'       <div class="text">{text_html}</div>\n'
            "      </div>\n     </div>\n")


HTML_HEAD = ('<!DOCTYPE html>\n<html>\n <head><meta charset="utf-8"/><title>Exported Data</title></head>\n'
             ' <body onload="CheckLocation();">\n  <div class="page_wrap">\n'
             '   <div class="page_header"><div class="content"><div class="text bold">Props</div></div></div>\n'
             '   <div class="page_body chat_page">\n    <div class="history">\n'
             '     <div class="message service" id="message-1"><div class="body details">2 March 2025</div></div>\n')
HTML_TAIL = "    </div>\n   </div>\n  </div>\n </body>\n</html>\n"


def _html_bad(kind: str, arg) -> bytes:
    text = f"call {BAD_ADDR}"
    if kind == "too_deep":  # nothing a reader must refuse: the message may be read, the others must be
        return _html_message(BAD_ID, "Bad Actor", "<span>" * arg + text + "</span>" * arg).encode()
    if kind == "oversized":
        return _html_message(BAD_ID, "Bad Actor", "x " * (HTML_MAX // 2 + arg) + text).encode()
    if kind == "invalid_utf8":
        return _html_message(BAD_ID, "Bad Actor", "before @@ " + text).encode().replace(
            b"@@", BAD_BYTES[arg % len(BAD_BYTES)])
    if kind == "broken":  # markup that misses a part: no numeric id, no body, no date
        return [_html_message(BAD_ID, "Bad Actor", text, ident=f"message{BAD_ID}x"),
                _html_message(BAD_ID, "Bad Actor", text, body="bodx"),
                _html_message(BAD_ID, "Bad Actor", text).replace(' title="02.03.2025 10:39:00 UTC+01:00"', "")
                ][arg % 3].encode()
    if kind == "bad_date":
        titles = ["nonsense", "31.02.2025 10:00:00 UTC+01:00", "", "02.03.2025 25:00:00 UTC+01:00"]
        return _html_message(BAD_ID, "Bad Actor", text, title=titles[arg % len(titles)]).encode()
    raise AssertionError(kind)


def _html_good() -> list[bytes]:
    return [_html_message(mid, sender, _html_text(text)).encode() for mid, sender, _, text in GOOD]


def _parse_html(parts: list[bytes], fast: bool):
    with tempfile.TemporaryDirectory() as tmp:
        for k, data in enumerate(parts):
            (Path(tmp) / ("messages.html" if k == 0 else f"messages{k + 1}.html")).write_bytes(data)
        b = CallBuilder(export_id="p", source_format="html")
        parse_html_folder(Path(tmp), b, None, fast=fast)
        return b.result()


def _html_parts(messages: list[bytes], split: int, *, cut_first: int | None = None) -> list[bytes]:
    """Two parts split after `split` messages (one part for 0); `cut_first`: part 1 ends that many bytes into
    its last message, without the page's closing tags."""
    groups = [messages[:split], messages[split:]] if split else [messages]
    out = []
    for k, group in enumerate(groups):
        if k == 0 and cut_first is not None:
            out.append(HTML_HEAD.encode() + b"".join(group[:-1]) + group[-1][:cut_first])
        else:
            out.append(HTML_HEAD.encode() + b"".join(group) + HTML_TAIL.encode())
    return out


@functools.cache
def _html_base(split: int):
    return _parse_html(_html_parts(_html_good(), split), True)


@EXAMPLES
@given(case=_bad_case(), where=st.integers(0, len(GOOD)), split=st.integers(0, len(GOOD) - 1),
       cut=st.floats(0, 1, exclude_max=True))
def test_one_bad_html_message_leaves_every_other_call(case, where, split, cut):
    kind, arg = case
    good = _html_good()
    if kind == "truncated":  # part 1 ends inside (or right after) a last message of its own
        bad = _html_message(BAD_ID, "Bad Actor", f"call {BAD_ADDR}").encode()
        head = split or len(good)
        parts = _html_parts(good[:head] + [bad] + good[head:], head + 1 if split else 0,
                            cut_first=int(cut * len(bad)))
    else:
        messages = good[:where] + [_html_bad(kind, arg)] + good[where:]
        parts = _html_parts(messages, split + (split >= where and split > 0))
    fast = _parse_html(parts, True)
    full = _parse_html(parts, False)
    assert _calls(fast, drop_bad=False) == _calls(full, drop_bad=False)
    assert _quarantine(fast) == _quarantine(full)
    assert {k: v for k, v in fast.stats.items() if k != "seconds"} == \
        {k: v for k, v in full.stats.items() if k != "seconds"}
    base = _html_base(split)
    assert _calls(fast) == _calls(base)
    quarantine = _quarantine(fast)
    if kind == "too_deep":
        assert quarantine == []
        return
    (q,) = quarantine
    assert q["reason"] == {"broken": "missing_parts"}.get(kind, kind)
    if kind == "invalid_utf8":  # a file-wide row: the bytes are replaced, the message named in the detail
        assert f"(in message {BAD_ID})" in q["detail"] and "byte offset" in q["detail"]
    elif kind in ("truncated", "broken"):
        assert q["message_id"] in (BAD_ID, None)
    else:
        assert q["message_id"] == BAD_ID
