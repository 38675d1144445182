"""Telegram JSON exports (one chat or a whole account) of any size, streamed (docs/formats.md#telegram-exports).

The file is read in chunks (1, 2, 4 MB, then 8 MB: decoding starts early) straight into numpy buffers
behind the carried tail of the previous chunk. The numba scanner (scan_nb.scan) walks the bytes once and
reports the chat headers (`name`, `type`, `id`) and every message holding an address candidate
(docs/semantics.md#calls); link hosts always carry the address in their path, so links need no rule of their
own. Only those messages are decoded (orjson, from a zero-copy view, without the `text_entities` copy of the
text) and handed to `CallBuilder.add_json_message`; the rest are only counted. A message that spans the chunk
end is rescanned with the next chunk (the scanner rolls back to its first byte). Reading and scanning run in
a thread of their own (numba releases the GIL), so they overlap with decoding on a second core.

One bad message never costs the others: a candidate message nested deeper than `MAX_DEPTH` (`too_deep`),
over `MAX_MESSAGE_BYTES` (`oversized`), not UTF-8 (`invalid_utf8`, with the offset of the first bad byte) or
not JSON (`invalid_json`) becomes a quarantine row naming its id and byte offset, and the messages after it
are read as usual. The scanner finds a message's end by its brackets and strings, so a broken object is cut
off cleanly as long as those balance. A file cut short gives one `truncated` row: the cut message's, or the
file's when the cut falls between messages.
"""

from __future__ import annotations

import queue
import re
import threading
from typing import NamedTuple

import numpy as np

from quantbot_pipelines.telegram.scan_nb import (
    BYTE_CLASSES,
    EV_DEEP,
    EV_HDR,
    EV_MSG,
    EV_MSGS,
    F_DEEP,
    KEY_ID,
    KEY_NAME,
    KEY_TYPE,
    MAX_DEPTH,
    S_DONE,
    S_NMSG,
    S_NSERV,
    TE_END_SHIFT,
    TE_MASK,
    TE_START_SHIFT,
    new_state,
    scan,
)

CHUNK = 8 << 20  # small enough that decoding starts soon; the first reads are smaller still
FIRST_CHUNK = 1 << 20
EVENT_CAP = 1 << 16
MAX_MESSAGE_BYTES = 1 << 20  # Telegram messages are <= 4,096 characters: a bigger object is not a message


_ID_RE = re.compile(rb'"id"\s*:\s*(-?\d+)(?=\s*[,}])')  # a cut "id": 50 of 5009 is no id


def _raw_id(raw) -> int | None:
    m = _ID_RE.search(bytes(raw[:200]))
    return int(m.group(1)) if m else None


def _bad_utf8_offset(raw) -> int | None:
    """Offset in `raw` of its first byte that is not UTF-8 (orjson's error does not say where)."""
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


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
                                                    ev, event_cap, BYTE_CLASSES)
                    if nev:
                        put(_Batch(buf, base, ev[:nev].copy()))
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
    add_message = builder.add_json_message
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
                                               f"{src}: file ends inside message "
                                               f"{mid if mid is not None else '?'} of chat {chat.name!r} "
                                               f"(byte {a}); the messages before it were parsed", raw)
                        continue
                    raw = view[a - base:b - base]
                    if b - a > MAX_MESSAGE_BYTES:
                        mid = _raw_id(raw)
                        builder.add_quarantine(src, chat.name, mid, None, "oversized",
                                               f"{src}: message {mid} in chat {chat.name!r} has {b - a} bytes "
                                               f"(limit {MAX_MESSAGE_BYTES}, byte {a})", raw)
                        continue
                    if c & F_DEEP:
                        mid = _raw_id(raw)
                        builder.add_quarantine(src, chat.name, mid, None, "too_deep",
                                               f"{src}: message {mid} in chat {chat.name!r} nests deeper than "
                                               f"{MAX_DEPTH} levels (byte {a}); not decoded", raw)
                        continue
                    te = c >> TE_END_SHIFT
                    try:
                        if te:  # without the text_entities span
                            cut = a - base + ((c >> TE_START_SHIFT) & TE_MASK)
                            msg = orjson.loads(b"".join((view[a - base:cut], view[a - base + te:b - base])))
                        else:
                            msg = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        mid = _raw_id(raw)
                        where = f"{src}: message {mid} in chat {chat.name!r}"
                        if "utf-8" in str(exc).lower():
                            bad = _bad_utf8_offset(raw)
                            at = f" at byte offset {bad} of the message (byte {a + bad} of the file)" \
                                if bad is not None else f" (message at byte {a})"
                            builder.add_quarantine(src, chat.name, mid, None, "invalid_utf8",
                                                   f"{where}: invalid UTF-8{at}", raw)
                        else:
                            builder.add_quarantine(src, chat.name, mid, None, "invalid_json",
                                                   f"{where} (byte {a}): {exc}", raw)
                        continue
                    add_message(msg, chat, tz, src, raw)
                elif e == EV_HDR:
                    h = headers.get(d)
                    if h is None:
                        headers.clear()
                        h = headers[d] = {}
                    try:
                        h[a] = orjson.loads(view[b - base:c - base])
                    except orjson.JSONDecodeError:
                        h[a] = None
                elif e == EV_DEEP:
                    builder.add_quarantine(src, None, None, None, "too_deep",
                                           f"{src}: nesting deeper than {MAX_DEPTH} levels outside any message "
                                           f"from byte {a}; the parts that deep were skipped, the rest of the "
                                           "file parsed", None, raw_bytes=0)
                elif e == EV_MSGS:
                    h = headers.pop(d, {})
                    cid, name, ctype = h.get(KEY_ID), h.get(KEY_NAME), h.get(KEY_TYPE)
                    chat_id = str(cid) if cid is not None else f"name:{name}"
                    chats[d] = Chat(chat_id, name if isinstance(name, str) else None,
                                    ctype if isinstance(ctype, str) else None)
                    builder.count(chats=1)
            del view
    finally:
        stop.set()
        producer.join()
    st, total = item.state, item.total
    builder.count(messages=int(st[S_NMSG]), service=int(st[S_NSERV]), bytes=total)
    if not st[S_DONE] and not truncated_msg:
        builder.add_quarantine(src, None, None, None, "truncated",
                               f"{src}: file ends before the JSON closes ({total} bytes read); "
                               "messages before the cut were parsed", None, raw_bytes=0)
