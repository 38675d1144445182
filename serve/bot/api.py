"""The read API as the bot asks it (docs/api.md): JSON over httpx, with the key when one is set."""

from __future__ import annotations

from urllib.parse import quote

import httpx


class ApiError(Exception):
    """The API did not give the answer: `status` (0: no answer at all) and a sentence for a chat."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def part(text: str) -> str:
    """One path segment (strategy names hold [ ] = , ;)."""
    return quote(str(text), safe="")


class ReadApi:
    def __init__(self, base_url: str, key: str | None = None, timeout: float = 20.0):
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if key:
            headers["X-API-Key"] = key
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        return f"ReadApi({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params) -> dict:
        params = {k: v for k, v in params.items() if v is not None}
        try:
            answer = self._http.get(f"/api/v1{path}", params=params)
        except httpx.TimeoutException:
            raise ApiError(0, "the read API did not answer in time") from None
        except httpx.HTTPError:
            raise ApiError(0, "the read API cannot be reached") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            message = error.get("message") if isinstance(error, dict) else None
            raise ApiError(answer.status_code,
                           str(message or f"the read API answered HTTP {answer.status_code}"))
        if not isinstance(body, dict):
            raise ApiError(answer.status_code, "the read API answered something other than JSON")
        return body
