"""A Telegram Bot API on loopback, real HTTP: getUpdates (long poll, offsets), sendMessage (recorded, checked
the way Telegram checks it: length and HTML), getFile and the file download. Anything the server cannot
handle is kept in `errors`, which the tests assert empty."""

from __future__ import annotations

import itertools
import json
import threading
import time
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "s", "a", "code", "pre", "tg-spoiler", "blockquote"}


class _Html(HTMLParser):
    """Telegram's HTML: a few tags, balanced; `<`, `>` and `&` in text escaped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            raise ValueError(f"unsupported start tag {tag!r}")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            raise ValueError(f"unexpected end tag {tag!r}")

    def handle_data(self, data):
        self.text.append(data)


def plain_text(html_text: str) -> str:
    """The text a reader sees; ValueError when Telegram would refuse the HTML."""
    parser = _Html()
    parser.feed(html_text)
    parser.close()
    if parser.stack:
        raise ValueError(f"unclosed tags {parser.stack}")
    return "".join(parser.text)


class FakeTelegram(LoopbackServer):
    def __init__(self, token: str):
        self.token = token
        self.updates: list[dict] = []
        self.sent: list[dict] = []  # {"chat_id", "text" (as sent), "plain" (as read), "parse_mode"}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.errors: list[str] = []
        self.polls = 0
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                try:
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    fake._post(self, self.path, json.loads(body or b"{}"))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a bot stopped mid-poll): nothing to answer
                except Exception as exc:  # noqa: BLE001 - handed to the test
                    fake.errors.append(f"{self.path.replace(fake.token, '<token>')}: {exc!r}")
                    self._answer(500, {"ok": False, "description": "fake server error"})

            def do_GET(self):
                prefix = f"/file/bot{fake.token}/"
                for path, data in fake.files.values():
                    if self.path == prefix + path:
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                self._answer(404, {"ok": False, "description": "Not Found"})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    # ---- the Bot API ---------------------------------------------------------------------------------------

    def _post(self, handler, path: str, payload: dict) -> None:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            handler._answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = path[len(prefix):]
        if method == "getUpdates":
            handler._answer(200, {"ok": True, "result": self._get_updates(payload)})
        elif method == "sendMessage":
            status, answer = self._send_message(payload)
            handler._answer(status, answer)
        elif method == "getFile":
            entry = self.files.get(payload.get("file_id"))
            if entry is None:
                handler._answer(400, {"ok": False, "description": "Bad Request: invalid file_id"})
            else:
                info = {"file_id": payload["file_id"], "file_path": entry[0], "file_size": len(entry[1])}
                handler._answer(200, {"ok": True, "result": info})
        else:
            handler._answer(404, {"ok": False, "description": "Not Found: method not found"})

    def _get_updates(self, payload: dict) -> list[dict]:
        offset = payload.get("offset")
        deadline = time.time() + float(payload.get("timeout", 0))
        with self._cond:
            self.polls += 1
            if offset is not None:  # confirmed: never sent again
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.time() < deadline:
                self._cond.wait(max(0.0, deadline - time.time()))
            return list(self.updates)

    def _send_message(self, payload: dict) -> tuple[int, dict]:
        text = payload.get("text", "")
        if not text:
            return 400, {"ok": False, "description": "Bad Request: message text is empty"}
        if len(text) > 4096:
            self.errors.append(f"sendMessage: {len(text)} characters")
            return 400, {"ok": False, "description": "Bad Request: message is too long"}
        plain = text
        if payload.get("parse_mode") == "HTML":
            try:
                plain = plain_text(text)
            except ValueError as exc:
                self.errors.append(f"sendMessage: bad HTML ({exc}): {text[:200]!r}")
                return 400, {"ok": False, "description": "Bad Request: can't parse entities"}
        with self._cond:
            self.sent.append({"chat_id": payload["chat_id"], "text": text, "plain": plain,
                              "parse_mode": payload.get("parse_mode")})
            self._cond.notify_all()
        return 200, {"ok": True, "result": {"message_id": len(self.sent), "chat": {"id": payload["chat_id"]},
                                            "text": plain}}

    # ---- the test's side -----------------------------------------------------------------------------------

    def push(self, chat_id: int, text: str | None = None, *, document: tuple[str, bytes] | None = None,
             caption: str | None = None) -> int:
        """A message from `chat_id` (a text, or a document with a caption); its update id."""
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"}, "from": {"id": chat_id, "is_bot": False}}
        if text is not None:
            message["text"] = text
        if document is not None:
            name, data = document
            file_id = f"file{len(self.files) + 1}"
            self.files[file_id] = (f"documents/{file_id}_{name}", data)
            message["document"] = {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                                   "mime_type": "application/x-yaml", "file_size": len(data)}
            if caption is not None:
                message["caption"] = caption
        with self._cond:
            update_id = 1000 + next(self._ids)
            self.updates.append({"update_id": update_id, "message": message})
            self._cond.notify_all()
        return update_id

    def messages(self, chat_id: int | None = None) -> list[dict]:
        with self._cond:
            return [m for m in self.sent if chat_id is None or m["chat_id"] == chat_id]

    def wait(self, chat_id: int, predicate, timeout: float = 20.0, after: int = 0) -> list[dict]:
        """Messages to `chat_id` from the `after`-th on, once one of them satisfies `predicate`."""
        deadline = time.time() + timeout
        with self._cond:
            while True:
                got = [m for m in self.sent if m["chat_id"] == chat_id][after:]
                if any(predicate(m) for m in got):
                    return got
                if time.time() > deadline:
                    seen = [m["plain"][:200] for m in got]
                    raise AssertionError(f"no such answer in {timeout:.0f} s; got {seen}")
                self._cond.wait(max(0.01, deadline - time.time()))
