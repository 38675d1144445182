"""The few Telegram Bot API methods the bot uses, over httpx: getUpdates, sendMessage, getFile, file download.

Every URL of the Bot API holds the token, and httpx's own log lines and errors quote URLs: its loggers are
kept at WARNING, and errors are raised as TelegramError with the method and Telegram's description only.
"""

from __future__ import annotations

import logging

import httpx

MESSAGE_LIMIT = 4096  # characters of one message's text



def quiet_http_loggers() -> None:
    """httpx logs every request's URL at INFO, and a Bot API URL holds the token."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class TelegramError(Exception):
    """A Bot API call failed; the message names the method, never the URL or the token."""


class Telegram:
    def __init__(self, token: str, base_url: str = "https://api.telegram.org", timeout: float = 30.0):
        quiet_http_loggers()
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        return f"Telegram({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, payload: dict | None = None, *, timeout: float | None = None):
        """The `result` of one Bot API method; TelegramError when it fails."""
        try:
            answer = self._http.post(f"{self.base_url}/bot{self._token}/{method}", json=payload or {},
                                     timeout=timeout or self._http.timeout)
        except httpx.TimeoutException:
            raise TelegramError(f"{method}: the Bot API did not answer in time") from None
        except httpx.HTTPError as exc:
            raise TelegramError(f"{method}: the Bot API cannot be reached ({type(exc).__name__})") from None
        try:
            body = answer.json()
        except ValueError:
            raise TelegramError(f"{method}: HTTP {answer.status_code}, not a Bot API answer") from None
        if not isinstance(body, dict) or not body.get("ok"):
            description = str(body.get("description", "")) if isinstance(body, dict) else ""
            description = description.replace(self._token, "***")
            raise TelegramError(f"{method}: HTTP {answer.status_code} {description}".rstrip())
        return body.get("result")

    def get_updates(self, offset: int | None, timeout: int) -> list[dict]:
        """Updates after `offset` (a long poll of `timeout` seconds); messages only."""
        payload = {"timeout": timeout, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        return self.call("getUpdates", payload, timeout=timeout + 15) or []

    def send_message(self, chat_id: int, text: str, *, html: bool = True) -> dict:
        payload = {"chat_id": chat_id, "text": text, "disable_web_page_preview": True}
        if html:
            payload["parse_mode"] = "HTML"
        return self.call("sendMessage", payload)

    def download(self, file_id: str, max_bytes: int) -> bytes:
        """The bytes of an attached file, at most `max_bytes` (a larger one is refused before it is
        fetched)."""
        info = self.call("getFile", {"file_id": file_id}) or {}
        size = info.get("file_size")
        if size is not None and size > max_bytes:
            raise TelegramError(f"the file is {size} bytes, more than the {max_bytes} a strategy file may be")
        path = info.get("file_path")
        if not path:
            raise TelegramError("getFile: no file path in the answer")
        try:
            with self._http.stream("GET", f"{self.base_url}/file/bot{self._token}/{path}") as answer:
                if answer.status_code != 200:
                    raise TelegramError(f"file download: HTTP {answer.status_code}")
                data = b""
                for chunk in answer.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise TelegramError(f"the file is more than the {max_bytes} bytes a strategy file "
                                            "may be")
                return data
        except httpx.HTTPError as exc:
            raise TelegramError(f"file download failed ({type(exc).__name__})") from None
