"""The first UTC day of a Telegram export, told from a peek at its bytes instead of a parse.

The day partitions start at the first day the data holds (assets/partitions.py), and the definitions are
built at every load of the code location and in every run process, so this has to stay cheap on exports of
gigabytes: Telegram writes each chat's messages oldest first, so the first dated message of each chat is
enough (docs/formats.md#telegram-exports).

- JSON: the file is mapped (mmap) and searched with byte finds for each `"messages": [` array; its first
  message is cut out by its brackets and strings and decoded alone. A one-chat export stops at its one
  array; a whole-account export (`chats`, `left_chats`) looks at every chat's: one `find` pass over the file.
- HTML: the first `title="dd.mm.yyyy hh:mm:ss UTC+hh:mm"` of messages.html (the oldest part).

Times are read as the readers read them (`json_ts`, `html_ts`): `date_unixtime` first, an offset in the text
next, else the zone `tz`; a local time with no known zone can be a call of the UTC day before, so that day is
returned (one day of margin). A message whose time does not read is skipped, as the reader quarantines it.
The peek is a lower bound for the calls' days, not a validation: a file it cannot read (empty, not an
export, cut short) gives None, and staging quarantines it later.
"""

from __future__ import annotations

import datetime as dt
import html
import mmap
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from quantbot_pipelines.telegram.exports import find_exports

UTC = ZoneInfo("UTC")
# how far past a chat's `[` (JSON) or into an HTML part the first readable date is looked for: Telegram caps a
# message at 4,096 characters, so a dozen messages fit many times over; a file with no date in this much is
# broken, and reading further would only slow every load of the code location down
SCAN_BYTES = 4 << 20
MAX_DATES = 64  # messages tried per chat before giving up (each unreadable one is quarantined anyway)

_MESSAGES = b'"messages"'
# a key, not a string value: the closing quote is followed by a colon (a quote inside a JSON string is escaped)
_AFTER_KEY = re.compile(rb"\s*:\s*(.)", re.DOTALL)
_NEXT_ITEM = re.compile(rb"[\s,]*(.)", re.DOTALL)
# a JSON string (escapes included) or a bracket: enough to find where a message object ends
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]', re.DOTALL)
_CHATS_KEY = re.compile(rb'"(?:left_)?chats"\s*:')
_HTML_TITLE = re.compile(rb'class="pull_right date[^"]*"\s+title="([^"]{1,100})"')


def export_first_day(path: str | Path, *, tz: str | None = None) -> dt.date | None:
    """The earliest UTC day a call of this export (a JSON file, an HTML export folder or its messages.html) can
    fall on, or None when its head does not tell (an unreadable file is quarantined by staging later)."""
    path = Path(path)
    try:
        zi = ZoneInfo(tz) if tz else None
        if path.is_dir() or path.suffix.lower() in (".html", ".htm"):
            return _html_first_day(path if path.is_dir() else path.parent, zi)
        return _json_first_day(path, zi)
    except Exception:  # noqa: BLE001 - a peek never fails: whatever the file holds, staging reports it
        return None


def inbox_first_days(inbox: str | Path, *, tz: str | None = None) -> dict[str, dt.date]:
    """{export key: first day} of every export in the inbox whose first day the peek can tell."""
    found = {}
    for ref in find_exports(Path(inbox)):
        day = export_first_day(ref.path, tz=tz)
        if day is not None:
            found[ref.key] = day
    return found


def _day(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


# -- JSON ------------------------------------------------------------------------------------------------------
def _json_first_day(path: Path, zi: ZoneInfo | None) -> dt.date | None:
    with open(path, "rb") as f:
        if not f.seek(0, 2):
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if not mm[:4096].lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"{"):
                return None
            best: dt.date | None = None
            account: bool | None = None
            pos = mm.find(_MESSAGES)
            while pos >= 0:
                end = pos + len(_MESSAGES)
                m = _AFTER_KEY.match(mm, end, end + 4096)
                if m and m.group(1) == b"[":
                    if account is None:
                        # a whole-account export lists its chats under `chats` / `left_chats` before any array
                        account = _CHATS_KEY.search(mm, 0, pos) is not None
                    day = _chat_first_day(mm, m.end(), zi)
                    if day is not None and (best is None or day < best):
                        best = day
                    if not account:
                        break
                pos = mm.find(_MESSAGES, end)
            return best


def _chat_first_day(mm: mmap.mmap, start: int, zi: ZoneInfo | None) -> dt.date | None:
    """The first day of the messages array that starts at `start` (just past its `[`): the first message
    whose time the reader would accept, decoded alone."""
    import orjson

    from quantbot_pipelines.telegram.calls import json_ts

    stop = min(len(mm), start + SCAN_BYTES)
    pos = start
    for _ in range(MAX_DATES):
        m = _NEXT_ITEM.match(mm, pos, stop)
        if m is None or m.group(1) != b"{":
            return None  # the end of the array (or not an array of objects)
        begin = m.end() - 1
        end = _object_end(mm, begin, stop)
        if end < 0:
            return None  # cut short, or a message bigger than any Telegram allows
        pos = end
        try:
            msg = orjson.loads(mm[begin:end])
        except orjson.JSONDecodeError:
            continue  # a broken message: the reader quarantines it and goes on, so does the peek
        if not isinstance(msg, dict):
            continue
        ts, problem = json_ts(msg, "date", zi)
        if ts is None and problem == "no_timezone":
            local, _ = json_ts(msg, "date", UTC)  # the wall-clock day, read as if it were UTC
            return _day(local) - dt.timedelta(days=1) if local is not None else None
        if ts is not None:
            try:
                return _day(ts)
            except (ValueError, OverflowError, OSError):
                continue
    return None


def _object_end(mm: mmap.mmap, begin: int, stop: int) -> int:
    """Offset just past the object that opens at `begin`, by its brackets and strings (-1: not within stop)."""
    depth = 0
    for m in _TOKEN.finditer(mm, begin, stop):
        c = mm[m.start()]
        if c == 0x7B or c == 0x5B:  # { [
            depth += 1
        elif c == 0x7D or c == 0x5D:  # } ]
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


# -- HTML ------------------------------------------------------------------------------------------------------
def _html_first_day(folder: Path, zi: ZoneInfo | None) -> dt.date | None:
    from quantbot_pipelines.telegram.html_export import html_parts, html_ts

    budget = SCAN_BYTES
    for part in html_parts(folder):  # oldest part first; the next one only when a part holds no readable date
        with open(part, "rb") as f:
            head = f.read(budget)
        budget -= len(head)
        for i, m in enumerate(_HTML_TITLE.finditer(head)):
            if i >= MAX_DATES:
                break
            title = html.unescape(m.group(1).decode("utf-8", "replace"))
            ts, problem = html_ts(title, zi)
            if ts is not None:
                try:
                    return _day(ts)
                except (ValueError, OverflowError, OSError):
                    continue
            if problem == "no_timezone":
                local, _ = html_ts(title, UTC)  # the wall-clock day, read as if it were UTC
                if local is not None:
                    return _day(local) - dt.timedelta(days=1)
        if budget <= 0:
            break
    return None
