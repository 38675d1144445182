"""Streaming scan of Telegram JSON exports (one chat or whole account) of any size.

The file is read in chunks (1, 2, 4 MB, then 8 MB: decoding starts early) straight into numpy buffers
behind the carried tail of the previous chunk. A numba-compiled scanner (string and escape aware) walks the
bytes once, tracks the nesting, finds every object inside a `"messages"` array and the chat header fields
(`name`, `type`, `id`) that precede it, and flags a message as a *candidate* when it holds a run that could be an
address (32-44 base58 characters, or 0x + 40 hex; link hosts always carry the address in their path).
Only candidates are decoded (orjson, from a zero-copy view, without the `text_entities` copy of the
text); the rest are only counted. A message that spans the chunk end is rescanned with the next chunk
(the scanner rolls back to its first byte). Reading and scanning run in a thread of their own (numba
releases the GIL), so they overlap with decoding on a second core.
"""

from __future__ import annotations

import queue
import re
import threading
from typing import NamedTuple

import numba as nb
import numpy as np

from quantbot_pipelines.telegram.calls import TEXT_CHARS
from quantbot_pipelines.telegram.extract import extract_tokens

MAX_DEPTH = 256
# events (rows of an int64 [cap, 5] array)
EV_HDR = 1        # a=key (1 name, 2 type, 3 id), b=value start, c=value end, d=object start
EV_MSGS = 2       # a "messages" array opens; d=chat object start
EV_MSG = 3        # a message: a=start, b=end (exclusive), c=flags, d=chat object start
EV_MSGS_END = 4   # d=chat object start
F_CAND = 1
F_SERVICE = 2
_TE_MASK = (1 << 28) - 1  # flags | text_entities start << 8 | its end << 36 (offsets in the message)
# state slots
S_DEPTH, S_INSTR, S_ESC, S_KEYSTART, S_NMSG, S_NSERV, S_DONE, S_ERR = range(8)
KEY_NAME, KEY_TYPE, KEY_ID, KEY_MESSAGES = 1, 2, 3, 4


def new_state() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(state, kind, expect_key, pending key, [value start, object start, key start] per depth)."""
    return (np.zeros(8, np.int64), np.zeros(MAX_DEPTH + 1, np.int8), np.zeros(MAX_DEPTH + 1, np.int8),
            np.zeros(MAX_DEPTH + 1, np.int8), np.zeros((MAX_DEPTH + 1, 3), np.int64))


@nb.njit(cache=True, inline="always")
def _key_id(buf, s, e):
    n = e - s
    if n == 2 and buf[s] == 105 and buf[s + 1] == 100:  # id
        return KEY_ID
    if n == 4 and buf[s] == 110 and buf[s + 1] == 97 and buf[s + 2] == 109 and buf[s + 3] == 101:  # name
        return KEY_NAME
    if n == 4 and buf[s] == 116 and buf[s + 1] == 121 and buf[s + 2] == 112 and buf[s + 3] == 101:  # type
        return KEY_TYPE
    if n == 8 and buf[s] == 109 and buf[s + 1] == 101 and buf[s + 2] == 115 and buf[s + 3] == 115 \
            and buf[s + 4] == 97 and buf[s + 5] == 103 and buf[s + 6] == 101 and buf[s + 7] == 115:  # messages
        return KEY_MESSAGES
    return 0


# byte classes: 1 alnum, 2 base58, 4 hex digit (passed as an argument: numba reads globals arrays slowly)
_CLS = np.zeros(256, np.uint8)
for _c in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _CLS[_c] |= 1
for _c in b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz":
    _CLS[_c] |= 2
for _c in b"0123456789abcdefABCDEF":
    _CLS[_c] |= 4
_TYPE_PAT = (34, 116, 121, 112, 101, 34)  # "type"
_SERVICE_PAT = (34, 115, 101, 114, 118, 105, 99, 101, 34)  # "service"


@nb.njit(cache=True)
def _is_service(buf, s, e):
    """Telegram writes `{"id": N, "type": "service"` first: look in the first bytes only."""
    lim = min(e, s + 96)
    pat = _TYPE_PAT
    srv = _SERVICE_PAT
    for i in range(s, lim - 6):
        ok = True
        for j in range(6):
            if buf[i + j] != pat[j]:
                ok = False
                break
        if ok:
            k = i + 6
            while k < lim and (buf[k] == 32 or buf[k] == 58 or buf[k] == 10 or buf[k] == 13 or buf[k] == 9):
                k += 1
            if k + 9 > e:
                return False
            for j in range(9):
                if buf[k + j] != srv[j]:
                    return False
            return True
    return False


_TE_KEY = (116, 101, 120, 116, 95, 101, 110, 116, 105, 116, 105, 101, 115, 34)  # text_entities"


@nb.njit(cache=True, inline="always")
def _is_te_key(buf, i):
    for j in range(14):
        if buf[i + j] != _TE_KEY[j]:
            return False
    return True


@nb.njit(cache=True)
def _scan_message(buf, start, n, cls_table):
    """From the '{' of a message: (index after its closing '}' or -1 if buf ends first, candidate flag,
    span of `, "text_entities": [...]` or (0, 0)).

    Only strings can hold an address: a run of [A-Za-z0-9] of 32-44 base58 characters, or '0x' + 40 hex.
    `text_entities` repeats `text` entity by entity; cutting it out halves what orjson decodes for cards.
    """
    i = start
    depth = 0
    comma = 0
    te_start = 0
    te_end = 0
    te_open = 0
    runlen = 0
    runstart = 0
    runcls = 0
    cand = 0
    while i < n:
        c = buf[i]
        if c == 34:
            if depth == 1 and comma > 0 and i + 15 <= n and _is_te_key(buf, i + 1):
                te_start = comma
                te_open = 1
            i += 1
            while i < n:
                c = buf[i]
                if cand == 0:  # once a candidate, only the string's end matters
                    cl = cls_table[c]
                    if cl & 1:
                        if runlen == 0:
                            runstart = i
                            runcls = cl
                        else:
                            runcls &= cl  # bit 2 stays set while every character is base58
                        runlen += 1
                        i += 1
                        continue
                    if runlen >= 32 and runlen <= 44:
                        if runcls & 2:
                            cand = 1
                        elif runlen == 42 and buf[runstart] == 48 and (buf[runstart + 1] == 120
                                                                       or buf[runstart + 1] == 88):
                            cand = 1  # 0x + 40 hex digits?
                            for j in range(runstart + 2, i):
                                if (cls_table[buf[j]] & 4) == 0:
                                    cand = 0
                                    break
                    runlen = 0
                if c == 34:
                    break
                if c == 92:  # escape: \uXXXX or \x, never part of an address
                    if i + 1 < n and buf[i + 1] == 117:
                        i += 6
                    else:
                        i += 2
                    continue
                i += 1
        elif c == 44:
            if depth == 1:
                comma = i
        elif c == 123 or c == 91:
            depth += 1
            if depth > MAX_DEPTH:
                return -2, cand, 0, 0
        elif c == 125 or c == 93:
            depth -= 1
            if depth == 1 and te_open == 1:
                te_end = i + 1
                te_open = 0
            elif depth == 0:
                if te_open == 1:
                    te_start = 0
                    te_end = 0
                return i + 1, cand, te_start, te_end
        i += 1
    return -1, cand, 0, 0


@nb.njit(cache=True, nogil=True)
def address_runs(buf, cls_table):
    """Start offsets of address-like runs in any bytes (HTML): 32-44 base58 characters or 0x + 40 hex,
    bounded by non-alphanumerics. Same rule as the JSON scanner's candidate test."""
    n = buf.shape[0]
    out = np.empty(n // 32 + 1, np.int64)  # a run takes >= 32 bytes: no resizing (it slows the loop 8x)
    k = 0
    i = 0
    while i < n:
        c = cls_table[buf[i]]
        if (c & 1) == 0:
            i += 1
            continue
        s = i
        b58 = 1
        while i < n:
            c = cls_table[buf[i]]
            if (c & 1) == 0:
                break
            if (c & 2) == 0:
                b58 = 0
            i += 1
        ln = i - s
        ok = b58 == 1 and ln >= 32 and ln <= 44
        if not ok and ln == 42 and buf[s] == 48 and (buf[s + 1] == 120 or buf[s + 1] == 88):
            ok = True
            for j in range(s + 2, i):
                if (cls_table[buf[j]] & 4) == 0:
                    ok = False
                    break
        if ok:
            out[k] = s
            k += 1
    return out[:k]


@nb.njit(cache=True, nogil=True)
def utf8_valid(buf):
    """True when buf is well-formed UTF-8 as Python's strict decoder sees it (no overlongs, no surrogates,
    nothing above U+10FFFF)."""
    n = buf.shape[0]
    i = 0
    while i < n:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2:
            return False
        if c < 0xE0:
            if i + 1 >= n or (buf[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
            continue
        if c < 0xF0:
            if i + 2 >= n:
                return False
            c1 = buf[i + 1]
            if (c1 & 0xC0) != 0x80 or (buf[i + 2] & 0xC0) != 0x80:
                return False
            if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0):
                return False
            i += 3
            continue
        if c < 0xF5:
            if i + 3 >= n:
                return False
            c1 = buf[i + 1]
            if (c1 & 0xC0) != 0x80 or (buf[i + 2] & 0xC0) != 0x80 or (buf[i + 3] & 0xC0) != 0x80:
                return False
            if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90):
                return False
            i += 4
            continue
        return False
    return True


@nb.njit(cache=True, nogil=True)
def scan(buf, base, final, st, kind, expkey, keyid, pos, ev, cap, cls_table):
    """Scan buf (file bytes from offset `base`) from its start; returns (n_events, carry_from, stopped_at).

    Resumes from/updates the state arrays. `carry_from` (local index, -1 for none) is the first byte that
    must be kept for the next call (an open message, or an open header key/value); the state is rolled
    back to that byte. With the event array full it stops early at `stopped_at` (then call again on
    buf[stopped_at:]).
    """
    n = buf.shape[0]
    depth = st[S_DEPTH]
    instr = st[S_INSTR]
    esc = st[S_ESC]
    keystart = st[S_KEYSTART]
    nmsg = st[S_NMSG]
    nserv = st[S_NSERV]
    msgd = 0           # depth of the open message object (0: none)
    msgstart = 0
    nev = 0
    i = 0
    while i < n:
        c = buf[i]
        if msgd > 0:
            end, cand, te_s, te_e = _scan_message(buf, msgstart, n, cls_table)
            if end == -2:
                st[S_ERR] = 1
                return nev, -1, i
            if end < 0:
                i = n
                break
            nmsg += 1
            flags = F_CAND if cand else 0
            if _is_service(buf, msgstart, end):
                flags |= F_SERVICE
                nserv += 1
            if cand:
                ev[nev, 0] = EV_MSG
                ev[nev, 1] = base + msgstart
                ev[nev, 2] = base + end
                if te_e > te_s and te_e - msgstart < (1 << 27):
                    flags |= ((te_s - msgstart) << 8) | ((te_e - msgstart) << 36)
                ev[nev, 3] = flags
                ev[nev, 4] = pos[msgd - 2, 1]
                nev += 1
            msgd = 0
            depth -= 1
            i = end
            if nev >= cap - 4:
                break
            continue

        # outside messages: full structure, keys and header values
        if instr:
            if esc > 0:
                esc = 0
            elif c == 92:
                esc = 1
            elif c == 34:
                instr = 0
                if depth > 0 and kind[depth] == 1 and expkey[depth] == 1:
                    keyid[depth] = _key_id(buf, keystart - base + 1, i)
                    pos[depth, 2] = keystart
            i += 1
            continue
        if c == 34:
            instr = 1
            keystart = base + i
        elif c == 123 or c == 91:  # { [
            parent = depth
            depth += 1
            if depth > MAX_DEPTH:
                st[S_ERR] = 1
                return nev, -1, i
            kind[depth] = 1 if c == 123 else 2
            expkey[depth] = 1 if c == 123 else 0
            keyid[depth] = 0
            pos[depth, 1] = base + i
            if parent > 0 and kind[parent] == 1:
                if c == 91 and keyid[parent] == KEY_MESSAGES:
                    expkey[depth] = 3  # marks a messages array
                    ev[nev, 0] = EV_MSGS
                    ev[nev, 4] = pos[parent, 1]
                    nev += 1
                keyid[parent] = 0
            elif parent > 0 and kind[parent] == 2 and expkey[parent] == 3 and c == 123:
                msgd = depth
                msgstart = i
                continue  # _scan_message takes it from its '{'

        elif c == 58:  # :
            if kind[depth] == 1:
                expkey[depth] = 0
                pos[depth, 0] = base + i + 1
        elif c == 44 or c == 125 or c == 93:  # , } ]
            if depth > 0 and kind[depth] == 1 and keyid[depth] >= 1 and keyid[depth] <= 3:
                ev[nev, 0] = EV_HDR
                ev[nev, 1] = keyid[depth]
                ev[nev, 2] = pos[depth, 0]
                ev[nev, 3] = base + i
                ev[nev, 4] = pos[depth, 1]
                nev += 1
            if depth > 0:
                keyid[depth] = 0
                if kind[depth] == 1:
                    expkey[depth] = 1
            if c != 44 and depth > 0:
                if depth > 0 and kind[depth] == 2 and expkey[depth] == 3:
                    ev[nev, 0] = EV_MSGS_END
                    ev[nev, 4] = pos[depth - 1, 1]
                    nev += 1
                depth -= 1
                if depth == 0:
                    st[S_DONE] = 1
        i += 1
        if nev >= cap - 4 and instr == 0:
            break

    stopped = i
    carry = -1
    if i >= n and not final:
        if msgd > 0:
            carry = msgstart
            depth = msgd - 1
            instr = 0
            esc = 0
        elif depth > 0 and kind[depth] == 1 and keyid[depth] >= 1 and keyid[depth] <= 3:
            carry = pos[depth, 2] - base  # rescan the header key and its value
            keyid[depth] = 0
            expkey[depth] = 1
            instr = 0
            esc = 0
        elif instr and depth > 0 and kind[depth] == 1 and expkey[depth] == 1:
            carry = keystart - base
            instr = 0
            esc = 0
    elif i < n and msgd > 0:
        # stopped early inside a message cannot happen (we only stop after a message closes or outside)
        stopped = msgstart
        depth = msgd - 1
        instr = 0
    st[S_DEPTH] = depth
    st[S_INSTR] = instr
    st[S_ESC] = esc
    st[S_KEYSTART] = keystart
    st[S_NMSG] = nmsg
    st[S_NSERV] = nserv
    if i >= n and msgd > 0 and final:
        # truncated inside a message: report it as a message event with no end
        ev[nev, 0] = EV_MSG
        ev[nev, 1] = base + msgstart
        ev[nev, 2] = -1
        ev[nev, 3] = F_CAND
        ev[nev, 4] = pos[msgd - 2, 1]
        nev += 1
    return nev, carry, stopped


# -- driver -------------------------------------------------------------------------------------------

CHUNK = 8 << 20  # small enough that decoding starts soon; the first reads are smaller still
FIRST_CHUNK = 1 << 20
EVENT_CAP = 1 << 16
MAX_MESSAGE_BYTES = 1 << 20  # Telegram messages are <= 4,096 characters: a bigger object is not a message


def message_text(text, want_codes: bool = False) -> tuple[str, list[str], list[str]]:
    """(plain text, hrefs, code parts) from `text` as a string or a list of strings and entities."""
    if text.__class__ is str:
        return text, [], []
    if text.__class__ is not list:
        return "", [], []
    hrefs: list[str] = []
    codes: list[str] = []
    parts: list = []
    add = parts.append
    for p in text:  # one pass: this runs for every call and card
        if p.__class__ is str:
            add(p)
        elif p.__class__ is dict:
            t = p.get("text") or ""
            add(t)
            kind = p.get("type")
            if kind == "text_link":
                h = p.get("href")
                if h:
                    hrefs.append(str(h))
            elif want_codes and (kind == "code" or kind == "pre"):
                codes.append(t)
        else:
            add("")
    try:
        return "".join(parts), hrefs, codes
    except TypeError:  # a non-string "text" inside an entity
        return "".join(str(x) for x in parts), hrefs, codes


def json_ts(msg: dict, key: str, tz) -> tuple[int | None, str | None]:
    """(UTC epoch seconds, problem): `<key>_unixtime` first, the naive `<key>` only with a time zone."""
    import datetime as dt

    unix = msg.get(key + "_unixtime")
    if unix is not None:
        try:
            return int(unix), None
        except (TypeError, ValueError):
            pass
    naive = msg.get(key)
    if naive is None:
        return None, "bad_date"
    try:
        when = dt.datetime.fromisoformat(str(naive))
    except ValueError:
        return None, "bad_date"
    if when.tzinfo is not None:
        return int(when.timestamp()), None
    if tz is None:
        return None, "no_timezone"
    return int(when.replace(tzinfo=tz).timestamp()), None


_ID_RE = re.compile(rb'"id"\s*:\s*(-?\d+)')


def _raw_id(raw) -> int | None:
    m = _ID_RE.search(bytes(raw[:200]))
    return int(m.group(1)) if m else None


def _handle(msg, chat, builder, tz, src: str, raw: memoryview) -> None:
    if not isinstance(msg, dict) or msg.get("type", "message") != "message":
        return
    mid = msg.get("id")
    if not isinstance(mid, int):
        builder.add_quarantine(src, chat.name, None, None, "bad_message", f"{src}: message without an integer id",
                               raw)
        return
    get = msg.get
    sender, sender_id, via = get("from"), get("from_id"), get("via_bot")
    # senders repeat: one lookup per distinct (from, from_id, via_bot)
    cache = builder.sender_bots
    try:
        bot = cache[sender, sender_id, via]
    except KeyError:
        bot = cache[sender, sender_id, via] = builder.bot_of(
            sender, sender_id, via.lstrip("@") if isinstance(via, str) else None)
    except TypeError:  # an unhashable sender (not a real export): bot_of decides, as it always did
        bot = builder.bot_of(sender, sender_id, via.lstrip("@") if isinstance(via, str) else None)
    text, hrefs, codes = message_text(get("text"), bot is not None)
    if bot:
        buttons = get("inline_bot_buttons")
        if buttons.__class__ is list:  # URL buttons of a card (chart, buy) may carry the pool/token links
            hrefs = hrefs + [str(b.get("data") or b.get("url") or "") for row in buttons if row.__class__ is list
                             for b in row if b.__class__ is dict]
        reply = get("reply_to_message_id")
        builder.add_card(chat, bot, reply if isinstance(reply, int) else None, text, hrefs, codes)
        return
    tokens = extract_tokens(text, hrefs)
    if not tokens:  # no valid address: nothing else of this message is needed
        return
    unix = get("date_unixtime")
    ts = problem = None
    if unix is not None:
        try:
            ts = int(unix)
        except (TypeError, ValueError):
            ts, problem = json_ts(msg, "date", tz)
    else:
        ts, problem = json_ts(msg, "date", tz)
    edited_ts = None
    edited = "edited" in msg or "edited_unixtime" in msg
    if edited:
        edited_ts, _ = json_ts(msg, "edited", tz)
    if ts is None:
        builder.add_message(chat, mid=mid, ts=ts, ts_problem=problem, caller_id=None, caller_name=None,
                            text=text, source_file=src, raw=raw, tokens=tokens)  # quarantined there
        return
    fwd = get("forwarded_from")
    # = builder.add_message(...) for a message with tokens and a time, without its keyword-call overhead
    caller_id = str(sender_id) if sender_id else (f"name:{sender}" if sender else None)
    builder.pending.append((chat, mid, ts, caller_id, sender if isinstance(sender, str) else None, tokens,
                            edited, edited_ts, fwd if isinstance(fwd, str) else None, text[:TEXT_CHARS], src))


class _Batch(NamedTuple):
    buf: memoryview       # file bytes (a numpy buffer)
    base: int             # file offset of buf[0]
    events: np.ndarray


class _Done(NamedTuple):
    state: np.ndarray
    total: int


def _produce(path, chunk: int, event_cap: int, out: queue.Queue, stop: threading.Event) -> None:
    """Read and scan (numba, GIL released) ahead of the decoding thread: the two overlap on 2+ cores."""

    def put(item) -> None:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    src = str(path)
    try:
        st, kind, expkey, keyid, pos = new_state()
        ev = np.zeros((event_cap, 5), np.int64)
        carry = b""
        base = 0
        started = False
        total = 0
        nread = 0
        with open(path, "rb") as f:
            while not stop.is_set():
                # read straight behind the carried tail (no second copy of the chunk, which holds the GIL)
                nc = len(carry)
                # 1, 2, 4 MB, ... up to `chunk`: the decoding thread gets its first messages early
                want = min(chunk, FIRST_CHUNK << nread) if nread < 8 else chunk
                nread += 1
                arr = np.empty(nc + want, np.uint8)
                if nc:
                    arr[:nc] = np.frombuffer(carry, np.uint8)
                got = f.readinto(memoryview(arr)[nc:]) or 0
                total += got
                final = got == 0
                size = nc + got
                arr = arr[:size]
                buf = memoryview(arr)
                if not started:
                    head = bytes(buf).lstrip(b" \t\r\n\xef\xbb\xbf")
                    if not head:
                        if final:
                            raise ValueError(f"{src}: empty file, not a Telegram JSON export")
                        carry, base = b"", base + size
                        continue
                    if head[:1] != b"{":
                        raise ValueError(f"{src}: not a Telegram JSON export (does not start with an object)")
                    started = True
                off = 0
                while True:
                    nev, carry_from, stopped = scan(arr[off:], base + off, final, st, kind, expkey, keyid, pos,
                                                    ev, event_cap, _CLS)
                    if nev:
                        put(_Batch(buf, base, ev[:nev].copy()))
                    if st[S_ERR]:
                        raise ValueError(f"{src}: nesting deeper than {MAX_DEPTH} at byte {base + off + stopped}")
                    if carry_from >= 0 or stopped >= size - off:
                        break
                    off += stopped
                if final:
                    break
                if carry_from >= 0:
                    cut = off + carry_from
                    carry = buf[cut:]
                    base += cut
                else:
                    carry = b""
                    base += size
        put(_Done(st.copy(), total))
    except BaseException as exc:  # noqa: BLE001 -- handed to the decoding thread, which raises it
        put(exc)


def parse_json_file(path, builder, tz, *, chunk: int = CHUNK, event_cap: int = EVENT_CAP) -> None:
    """Stream one JSON export into `builder`. Raises ValueError for an empty or non-JSON-object file."""
    import orjson

    from quantbot_pipelines.telegram.calls import Chat

    src = str(path)
    headers: dict[int, dict] = {}
    chats: dict[int, Chat] = {}
    truncated_msg = False
    batches: queue.Queue = queue.Queue(maxsize=4)  # bounds memory: a few chunks in flight
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(path, chunk, event_cap, batches, stop), daemon=True,
                                name="telegram-json-scan")
    producer.start()
    try:
        while True:
            item = batches.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _Done):
                break
            buf, base, events = item
            view = memoryview(buf)
            for e, a, b, c, d in events.tolist():
                if e == EV_MSG:
                    chat = chats.get(d) or Chat("unknown", None, None)
                    if b < 0:
                        raw = view[a - base:]
                        mid = _raw_id(raw)
                        truncated_msg = True
                        builder.add_quarantine(src, chat.name, mid, None, "truncated",
                                               f"{src}: file ends inside message {mid} of chat {chat.name!r} "
                                               f"(byte {a})", raw)
                        continue
                    raw = view[a - base:b - base]
                    if b - a > MAX_MESSAGE_BYTES:
                        mid = _raw_id(raw)
                        builder.add_quarantine(src, chat.name, mid, None, "oversized",
                                               f"{src}: message {mid} in chat {chat.name!r} has {b - a} bytes "
                                               f"(limit {MAX_MESSAGE_BYTES}, byte {a})", raw)
                        continue
                    te = c >> 36
                    try:
                        if te:
                            msg = orjson.loads(b"".join((view[a - base:a - base + ((c >> 8) & _TE_MASK)],
                                                         view[a - base + te:b - base])))
                        else:
                            msg = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        reason = "invalid_utf8" if "utf-8" in str(exc).lower() else "invalid_json"
                        mid = _raw_id(raw)
                        builder.add_quarantine(src, chat.name, mid, None, reason,
                                               f"{src}: message {mid} in chat {chat.name!r} (byte {a}): {exc}", raw)
                        continue
                    _handle(msg, chat, builder, tz, src, raw)
                elif e == EV_HDR:
                    h = headers.get(d)
                    if h is None:
                        headers.clear()
                        h = headers[d] = {}
                    try:
                        h[a] = orjson.loads(view[b - base:c - base])
                    except orjson.JSONDecodeError:
                        h[a] = None
                elif e == EV_MSGS:
                    h = headers.pop(d, {})
                    cid, name, ctype = h.get(KEY_ID), h.get(KEY_NAME), h.get(KEY_TYPE)
                    chat_id = str(cid) if cid is not None else f"name:{name}"
                    chats[d] = Chat(chat_id, name if isinstance(name, str) else None,
                                    ctype if isinstance(ctype, str) else None)
                    builder.stats["chats"] += 1
            del view
    finally:
        stop.set()
        producer.join()
    st, total = item.state, item.total
    builder.stats["messages"] += int(st[S_NMSG])
    builder.stats["service"] += int(st[S_NSERV])
    builder.stats["bytes"] += total
    if not st[S_DONE] and not truncated_msg:
        builder.add_quarantine(src, None, None, None, "truncated",
                               f"{src}: file ends before the JSON closes ({total} bytes read); "
                               "messages before the cut were parsed", None, raw_bytes=0)
