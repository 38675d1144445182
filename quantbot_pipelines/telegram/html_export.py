"""Telegram Desktop HTML exports: messages.html, messages2.html, ... messagesN.html of one chat
(docs/formats.md#telegram-exports).

Telegram's markup is regular, so the fast path finds message boundaries, classes, ids and senders with
byte searches, and a numba pass (scan_nb.address_runs) marks the few messages holding an address candidate
(docs/semantics.md#calls); of those, only the ones whose text holds a candidate too (`has_candidate`, the
same rule) or that have bot buttons are turned into text. The next file is read, checked for well-formed
UTF-8 and scanned (numba, GIL released) in a thread while this one is parsed. Files whose markup does not
match (or holds undecodable bytes) are parsed and walked with selectolax (lexbor) instead; the tests check
both paths give the same rows. The sender of a `joined` message is carried forward, also across files; card
replies are resolved for the whole folder at the end (calls.CallBuilder), so a card may sit in another file
than its call.

A file that does not end in `</html>` was cut short: it is read up to its last complete message (both paths
get the same bytes; lexbor would otherwise close the cut message and read half a text), and one `truncated`
quarantine row names the cut message with its bytes, or the file when the cut falls after a whole message.
"""

from __future__ import annotations

import calendar
import html
import re
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from quantbot_pipelines.telegram.addresses import has_candidate
from quantbot_pipelines.telegram.calls import CallBuilder, Chat

MAX_MESSAGE_BYTES = 1 << 20  # Telegram caps a message at 4,096 characters; far bigger is not a real message

_PART_RE = re.compile(r"^messages(\d*)\.html$")

_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]+>")
_HREF_RE = re.compile(r'href="([^"]*)"')
_CODE_RE = re.compile(r"<(?:code|pre)[^>]*>(.*?)</(?:code|pre)>", re.DOTALL)
_REPLY_RE = re.compile(r"go_to_message(-?\d+)")
_DIV_TAG_RE = re.compile(rb"<(/?)div[\s>]")
_MSG_ID_RE = re.compile(rb'id="message(-?\d+)"')
_DATE_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?:\s*UTC([+-])(\d{1,2}):(\d{2}))?")


def html_parts(folder: Path) -> list[Path]:
    """messages.html, messages2.html, ... in numeric order (messages.html is part 1)."""
    parts = []
    for p in folder.iterdir():
        m = _PART_RE.match(p.name)
        if m and p.is_file():
            parts.append((int(m.group(1) or 1), p))
    return [p for _, p in sorted(parts)]


_MONTH_DAYS: dict[tuple[int, int], tuple[int, int]] = {}  # (year, month) -> (epoch day of its 1st, days)


def html_ts(title: str | None, tz) -> tuple[int | None, str | None]:
    """'02.03.2025 09:14:05 UTC+01:00' -> UTC epoch seconds; without an offset the zone `tz` is needed."""
    if not title:
        return None, "bad_date"
    m = _DATE_RE.search(title)
    if not m:
        return None, "bad_date"
    d, mo, y, h, mi, s, sign, oh, om = m.groups()
    d, mo, y, h, mi, s = int(d), int(mo), int(y), int(h), int(mi), int(s)
    try:
        if sign:
            off = (int(oh) * 3600 + int(om) * 60) * (1 if sign == "+" else -1)
            # calendar.timegm, with the month looked up once (monthrange raises for a bad year/month too)
            month = _MONTH_DAYS.get((y, mo))
            if month is None:
                month = _MONTH_DAYS[y, mo] = (calendar.timegm((y, mo, 1, 0, 0, 0)) // 86400,
                                              calendar.monthrange(y, mo)[1])
            first, ndays = month
            if d < 1 or d > ndays or h > 23 or mi > 59 or s > 59:  # 31.02. must not roll into March
                return None, "bad_date"
            return (first + d - 1) * 86400 + h * 3600 + mi * 60 + s - off, None
        if tz is None:
            return None, "no_timezone"
        import datetime as dt

        return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp()), None
    except ValueError:
        return None, "bad_date"


def _text_of(inner: str) -> tuple[str, list[str], list[str]]:
    text = html.unescape(_TAG_RE.sub("", _BR_RE.sub("\n", inner)))
    hrefs = [html.unescape(h) for h in _HREF_RE.findall(inner)] if "href=" in inner else []
    codes = [html.unescape(_TAG_RE.sub("", c) if "<" in c else c) for c in _CODE_RE.findall(inner)] \
        if "<code" in inner or "<pre" in inner else []
    return text.strip(), hrefs, codes


def _classes(node) -> str:
    return node.attributes.get("class") or ""


def parse_html_folder(folder: Path, builder: CallBuilder, tz, *, fast: bool = True) -> None:
    """Parse every part of one HTML export into `builder`. Raises ValueError when no part is readable.

    `fast=False` forces the full lexbor walk for every file (the tests check both paths agree)."""
    parts = html_parts(folder)
    if not parts:
        raise ValueError(f"{folder}: no messages.html in this folder")
    numbers = [int(_PART_RE.match(p.name).group(1) or 1) for p in parts]
    missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
    for n in missing:
        name = "messages.html" if n == 1 else f"messages{n}.html"
        builder.add_quarantine(str(folder / name), None, None, None, "missing_parts",
                               f"{folder / name}: part {n} of the export is missing; its messages are lost",
                               None, raw_bytes=0)
    state = {"sender": None, "chat": None}
    readable = 0
    for part, data, valid, runs in _read_ahead(parts, fast):
        builder.count(bytes=len(data))
        if not data or data.isspace():  # = not data.strip(), without copying the file
            builder.add_quarantine(str(part), None, None, None, "missing_parts", f"{part}: empty file", None,
                                   raw_bytes=0)
            continue
        cut = _cut_tail(data)
        if cut is not None:
            whole = data
            data = data[:cut[0]]
            if runs is not None:
                runs = runs[runs < cut[0]]
        doc = None
        try:
            if not valid:  # the numba check said no (or was not run): the decoder names the bad byte
                data.decode("utf-8")
        except UnicodeDecodeError as exc:
            builder.add_quarantine(str(part), None, None, None, "invalid_utf8",
                                   f"{part}: invalid UTF-8 at byte offset {exc.start} of the file"
                                   f"{_in_message(data, exc.start)}; undecodable bytes replaced, the rest of "
                                   "the file parsed", data[max(0, exc.start - 2048):exc.start + 2048],
                                   raw_bytes=len(data))
            doc = data.decode("utf-8", "replace")
        readable += 1
        if fast:
            _parse_part(data, doc, str(part), folder, builder, tz, state, runs)
        else:
            _parse_part_full(doc if doc is not None else data.decode("utf-8"), str(part), folder, builder, tz,
                             state)
        if cut is not None:
            _truncated(whole, cut[1], cut[2], str(part), state, builder)
    if not readable:
        raise ValueError(f"{folder}: every messages*.html file is empty")


def _cut_tail(data: bytes) -> tuple[int, int | None, int | None] | None:
    """None when the file ends like every Telegram page (`</html>`). Otherwise (keep, start, mid): the bytes
    before `keep` hold every complete message; `start` is where the message the file ends in begins (None
    when the last message is whole) and `mid` its id (None when even its start tag is cut)."""
    tail = data[-4096:].rstrip() or data.rstrip()  # the whole file only when its end is all whitespace
    if tail[-7:].lower() == b"</html>":
        return None
    j = data.rfind(b'class="message ')
    s = data.rfind(b"<div", 0, j) if j >= 0 else -1
    if s < 0:  # cut before the first message
        return len(data), None, None
    tag_end = data.find(b">", j)
    m = _MSG_ID_RE.search(data, s, tag_end if tag_end >= 0 else len(data))
    mid = int(m.group(1)) if m else None
    if tag_end < 0:
        return s, s, mid
    depth = 0
    for t in _DIV_TAG_RE.finditer(data, s):
        depth += -1 if t.group(1) else 1
        if depth == 0:  # the message's own </div>: it is whole
            return t.end(), None, None
    return s, s, mid


def _truncated(data: bytes, start: int | None, mid: int | None, src: str, state: dict,
               builder: CallBuilder) -> None:
    chat = state["chat"].name if state["chat"] is not None else None
    if start is None:
        builder.add_quarantine(src, chat, None, None, "truncated",
                               f"{src}: file ends before </html> ({len(data)} bytes) after its last whole message; "
                               "every message before the cut was parsed", None, raw_bytes=0)
    else:
        builder.add_quarantine(src, chat, mid, None, "truncated",
                               f"{src}: file ends inside message {mid if mid is not None else '?'} (byte {start}); "
                               "the messages before it were parsed", data[start:])
        # a `joined` message opening the next part continues this one's sender: keep it when it is all there
        j = data.find(_FROM, start)
        if j >= 0 and b"service" not in data[start:data.find(b">", start)] and data.find(_FWD, start, j) < 0:
            a = j + len(_FROM)
            e = data.find(b"<", a)
            name = data[a:e].decode("utf-8", "replace").strip() if e >= 0 else ""
            if name:
                state["sender"] = html.unescape(name) if "&" in name else name


def _in_message(data: bytes, at: int) -> str:
    """' (in message N)' for the message block holding byte `at`, '' before the first message."""
    j = data.rfind(b'id="message', 0, at)
    m = _MSG_ID_RE.match(data, j) if j >= 0 else None
    return f" (in message {int(m.group(1))})" if m else ""


def _read_ahead(parts: list[Path], fast: bool):
    """(part, bytes, well-formed UTF-8, address-run offsets) per part. The next part is read and scanned in
    a thread (the numba passes release the GIL) while this one is parsed."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from quantbot_pipelines.telegram.scan_nb import BYTE_CLASSES, address_runs, utf8_valid  # numba: to parse

    def load(part: Path):
        data = part.read_bytes()
        if not fast or not data:
            return data, False, None
        arr = np.frombuffer(data, np.uint8)
        if not utf8_valid(arr):  # ~3x faster than decoding to check
            return data, False, None
        return data, True, address_runs(arr, BYTE_CLASSES)

    with ThreadPoolExecutor(1, thread_name_prefix="telegram-html-read") as pool:
        nxt = pool.submit(load, parts[0])
        for i, part in enumerate(parts):
            data, valid, runs = nxt.result()
            if i + 1 < len(parts):
                nxt = pool.submit(load, parts[i + 1])
            yield part, data, valid, runs


_MSG_START_RE = re.compile(rb'<div class="message ([^"]*)" id="message(-?\d+)"')
_HEADER_RE = re.compile(r'<div class="page_header">.*?<div class="text bold">\s*(.*?)\s*</div>', re.DOTALL)
_FROM = b'<div class="from_name">'
_FWD = b'class="forwarded body"'


def _set_chat(doc_head: str | None, tree, src: str, folder: Path, builder: CallBuilder, state: dict) -> None:
    name = None
    if doc_head is not None:
        m = _HEADER_RE.search(doc_head)
        if m:
            name = html.unescape(_TAG_RE.sub("", m.group(1))).strip()
    elif tree is not None:
        header = tree.css_first("div.page_header div.text.bold")
        if header is not None:
            name = header.text().strip()
    if name is not None:
        if state["chat"] is None or state["chat"].name != name:
            state["chat"] = Chat(f"name:{name}", name, None)
            builder.count(chats=1)
    elif state["chat"] is None:
        name = folder.name
        builder.add_quarantine(src, None, None, None, "missing_parts",
                               f"{src}: no chat name (div.page_header); using the folder name {name!r}", None,
                               raw_bytes=0)
        state["chat"] = Chat(f"name:{name}", name, None)
        builder.count(chats=1)


def _parse_part(data: bytes, doc: str | None, src: str, folder: Path, builder: CallBuilder, tz,
                state: dict, runs=None) -> None:
    """Fast path: Telegram's markup is regular, so message boundaries, classes, ids and senders come from the
    raw bytes, and a numba pass marks the messages holding an address candidate; only those are read
    (`_message_raw`). A file whose markup does not look like Telegram's (a message start the pattern
    misses, undecodable bytes) takes the full selectolax/lexbor walk instead (`_parse_part_full`)."""
    import numpy as np

    from quantbot_pipelines.telegram.scan_nb import BYTE_CLASSES, address_runs

    if doc is not None:  # undecodable bytes were replaced: walk the repaired text
        _parse_part_full(doc, src, folder, builder, tz, state)
        return
    starts = list(_MSG_START_RE.finditer(data))
    if len(starts) != data.count(b'class="message '):
        _parse_part_full(data.decode("utf-8"), src, folder, builder, tz, state)
        return
    head = data[:starts[0].start()] if starts else data[:20000]
    _set_chat(head.decode("utf-8", "replace"), None, src, folder, builder, state)
    chat: Chat = state["chat"]
    bounds = [m.start() for m in starts]
    offsets = np.array(bounds, np.int64)
    bounds.append(len(data))
    if runs is None:
        runs = address_runs(np.frombuffer(data, np.uint8), BYTE_CLASSES)
    cand = set(np.unique(np.searchsorted(offsets, runs, "right") - 1).tolist())
    names: dict[bytes, str | None] = {}  # raw from_name bytes -> sender: a chat has few senders
    last = state["sender"]  # the sender a `joined` message (no from_name of its own) continues
    nserv = 0
    for k, m in enumerate(starts):
        cls = m.group(1)
        if b"service" in cls:
            nserv += 1
            continue
        s = bounds[k]
        e = bounds[k + 1]
        j = data.find(_FROM, s, e)
        sender = None
        if j >= 0 and data.find(_FWD, s, j) < 0:
            a = j + len(_FROM)
            raw = data[a:data.find(b"<", a, e)]
            try:
                sender = names[raw]
            except KeyError:
                sender = raw.decode("utf-8", "replace").strip() or None
                if sender and "&" in sender:
                    sender = html.unescape(sender)
                names[raw] = sender
        if sender:
            last = sender
        elif b"joined" in cls:
            sender = last
        if k in cand:
            _message_raw(data[s:e].decode("utf-8", "replace"), int(m.group(2)), sender, chat, src, builder,
                         tz)
    state["sender"] = last
    builder.count(messages=len(starts), service=nserv)


def _parse_part_full(doc: str, src: str, folder: Path, builder: CallBuilder, tz, state: dict) -> None:
    tree = LexborHTMLParser(doc)
    _set_chat(None, tree, src, folder, builder, state)
    chat: Chat = state["chat"]
    nmsg = nserv = 0
    for node in tree.css("div.message"):
        cls = _classes(node)
        nmsg += 1
        if "service" in cls:
            nserv += 1
            continue
        sender = _own_sender(node)
        if "joined" in cls and not sender:
            sender = state["sender"]
        elif sender:
            state["sender"] = sender
        _message(node, cls, sender, chat, src, builder, tz)
    builder.count(messages=nmsg, service=nserv)


def _body(node):
    for child in node.iter():
        if "body" in _classes(child):
            return child
    return None


def _own_sender(node) -> str | None:
    body = _body(node)
    if body is not None:
        for child in body.iter():
            if _classes(child) == "from_name":
                return child.text(deep=False).strip() or None
    return None


def _message(node, cls: str, sender: str | None, chat: Chat, src: str, builder: CallBuilder, tz) -> None:
    """One non-service message walked with lexbor: a card (bot) or a call candidate (person)."""
    ident = node.attributes.get("id") or ""
    try:
        mid = int(ident[7:]) if ident.startswith("message") else None
    except ValueError:
        mid = None
    body = _body(node)
    title = reply = inner = fwd = None
    extra_hrefs: list[str] = []
    if body is not None:
        for child in body.iter():
            c = _classes(child)
            if c.startswith("pull_right date"):
                title = child.attributes.get("title")
            elif c.startswith("reply_to"):
                m = _REPLY_RE.search(child.html or "")
                reply = int(m.group(1)) if m else None
            elif c == "text":
                inner = child.inner_html
            elif c == "forwarded body":
                for sub in child.iter():
                    sc = _classes(sub)
                    if sc == "from_name":
                        fwd = sub.text(deep=False).strip()
                    elif sc == "text":
                        inner = sub.inner_html
            elif "bot_buttons" in c or child.tag == "table":
                extra_hrefs += _HREF_RE.findall(child.html or "")
    else:  # no div.body: its text is still looked for (as the fast path does), so the message is reported
        for child in node.traverse():
            if child.tag == "div" and _classes(child) == "text":
                inner = child.inner_html
                break
        extra_hrefs = [h for t in node.css("table.bot_buttons_table") for h in _HREF_RE.findall(t.html or "")]
    _emit(mid, ident, body is not None, title, reply, inner, fwd, extra_hrefs, sender, chat, src, builder, tz,
          lambda: node.html)


_TITLE_RE = re.compile(r'<div class="pull_right date details" title="([^"]*)"')
_TEXT_DIV = '<div class="text">'
_REPLY_DIV = 'class="reply_to details"'
_FWD_DIV = '<div class="forwarded body">'
_FROM_S = '<div class="from_name">'
_BUTTONS_RE = re.compile(r'<table class="bot_buttons_table">(.*?)</table>', re.DOTALL)


def _message_raw(block: str, mid: int, sender: str | None, chat: Chat, src: str, builder: CallBuilder,
                 tz) -> None:
    """The same as `_message` on Telegram's regular markup, read with string searches (no DOM per message).

    div.text never nests another div, so its inner HTML ends at the first '</div>'."""
    m = _TITLE_RE.search(block)
    title = html.unescape(m.group(1)) if m else None
    reply = None
    r = block.find(_REPLY_DIV)
    if r >= 0:
        m = _REPLY_RE.search(block, r, r + 400)
        reply = int(m.group(1)) if m else None
    fwd = None
    start = 0
    f = block.find(_FWD_DIV)
    if f >= 0:
        start = f
        j = block.find(_FROM_S, f)
        if j >= 0:
            fwd = html.unescape(block[j + len(_FROM_S):block.find("<", j + len(_FROM_S))]).strip() or None
    inner = None
    t = block.find(_TEXT_DIV, start)
    if t >= 0:
        e = block.find("</div>", t)
        if e >= 0:
            inner = block[t + len(_TEXT_DIV):e]
    extra_hrefs: list[str] = []
    if "bot_buttons" in block:
        for table in _BUTTONS_RE.findall(block):
            extra_hrefs += _HREF_RE.findall(table)
    has_body = '<div class="body">' in block
    _emit(mid, f"message{mid}", has_body, title, reply, inner, fwd, extra_hrefs, sender, chat, src, builder, tz,
          lambda: _markup(block))


def _markup(block: str) -> str:
    """A message's markup for its quarantine row as the lexbor walk gives it (`node.html`: re-serialised,
    without the whitespace and closing tags after it), so both paths keep the same raw."""
    node = LexborHTMLParser(block).css_first("div.message")
    return node.html if node is not None else block


def _emit(mid, ident, has_body, title, reply, inner, fwd, extra_hrefs, sender, chat: Chat, src: str,
          builder: CallBuilder, tz, raw) -> None:
    if inner is None or not has_candidate(inner) and not extra_hrefs:
        return
    text, hrefs, codes = _text_of(inner)
    # measured on the text: the markup differs between the paths (lexbor re-serialises entities)
    if len(text) > MAX_MESSAGE_BYTES:
        builder.add_quarantine(src, chat.name, mid, None, "oversized",
                               f"{src}: message {mid} has {len(text)} characters of text "
                               f"(limit {MAX_MESSAGE_BYTES})", raw())
        return
    if mid is None or not has_body:
        builder.add_quarantine(src, chat.name, mid, None, "missing_parts",
                               f"{src}: message {ident or '?'} lacks its id or body", raw())
        return
    hrefs += [html.unescape(h) for h in extra_hrefs]
    bot = builder.bot_of(sender)
    if bot:
        builder.add_card(chat, bot, reply, text, hrefs, codes)
        return
    ts, problem = html_ts(title, tz)
    if title is None:
        problem = "missing_parts"
    builder.add_message(chat, mid=mid, ts=ts, ts_problem=problem,
                        caller_id=f"name:{sender}" if sender else None, caller_name=sender, text=text,
                        hrefs=hrefs, forwarded_from=fwd, source_file=src,
                        raw=raw() if ts is None else None)  # only a quarantine row keeps it
