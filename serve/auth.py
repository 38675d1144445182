"""Who may read (docs/api.md#conventions, Keys).

- With keys set (QUANTBOT_API_KEYS), every request carries one: `X-API-Key: <key>`, `Authorization: Bearer
  <key>`, or the dashboard's cookie, set by the /login form. Keys are compared as SHA-256 digests with
  `hmac.compare_digest` against every configured key, so the time taken says nothing about a key.
- With no keys set, only loopback clients are answered (403 for others).

A browser asking for a page without a key is sent to /login; everything else gets 401 in the one error shape.
"""

from __future__ import annotations

import hmac
import html
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.errors import error_response
from serve.settings import ServeSettings, is_loopback_host, key_digest

COOKIE = "quantbot_key"
OPEN_PATHS = ("/login", "/logout")  # reachable without a key (keys on), so that one can be given
MAX_FORM_BYTES = 4096


def key_ok(settings: ServeSettings, key: str | None) -> bool:
    if not key:
        return False
    digest = key_digest(key)
    ok = False
    for known in settings.key_digests:  # every key compared, whichever matches
        ok |= hmac.compare_digest(digest, known)
    return ok


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def presented_keys(headers: dict[str, str]) -> list[str]:
    keys = []
    if headers.get("x-api-key"):
        keys.append(headers["x-api-key"].strip())
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        keys.append(auth[7:].strip())
    raw = headers.get("cookie", "")
    if COOKIE in raw:
        jar = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return keys
        if COOKIE in jar and jar[COOKIE].value:
            keys.append(jar[COOKIE].value)
    return keys


def _wants_page(scope: Scope, headers: dict[str, str]) -> bool:
    path = scope.get("path", "")
    if path.startswith(("/api/", "/metrics", "/openapi.json", "/static/")):
        return False
    return scope.get("method") == "GET" and "text/html" in headers.get("accept", "")


def safe_next(target: str | None) -> str:
    """Where /login sends the browser after: a path on this server only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class AccessControl:
    """The access rule as ASGI middleware (before routing, so unknown routes are guarded too)."""

    def __init__(self, app: ASGIApp, settings: ServeSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path = scope.get("path", "")
        if scope["type"] == "websocket":  # no page serves one; refused unless the rule lets it through
            allowed = (any(key_ok(self.settings, k) for k in presented_keys(headers)) if self.settings.keys_on
                       else bool(scope.get("client")) and is_loopback_host(scope["client"][0]))
            if allowed:
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if not self.settings.keys_on:
            client = scope.get("client")
            if client is None or not is_loopback_host(client[0]):
                response = error_response(403, "this API answers loopback clients only while no API keys are set")
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if path in OPEN_PATHS or any(key_ok(self.settings, k) for k in presented_keys(headers)):
            await self.app(scope, receive, send)
            return
        if _wants_page(scope, headers):
            target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            response: Response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        else:
            response = error_response(401, "an API key is needed: X-API-Key or Authorization: Bearer",
                                      headers={"WWW-Authenticate": 'Bearer realm="quantbot"'})
        await response(scope, receive, send)


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QuantBot - key</title><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input{{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}}button{{font:inherit;margin-top:.8rem;
padding:.4rem 1rem}}.problem{{color:#b00020}}</style></head>
<body><h1>QuantBot</h1><p>{intro}</p>{problem}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<label for="key">API key</label><input id="key" name="key" type="password" autocomplete="current-password"
autofocus required><button type="submit">Open the dashboard</button></form></body></html>"""


def _login_page(next_url: str, problem: str | None = None, status: int = 200) -> HTMLResponse:
    body = LOGIN_PAGE.format(intro="This server needs an API key. It is kept in a cookie of this browser.",
                             problem=f'<p class="problem">{html.escape(problem)}</p>' if problem else "",
                             next=html.escape(safe_next(next_url), quote=True))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def install(app: FastAPI, settings: ServeSettings) -> None:
    """The /login form (a key in, an HttpOnly cookie out), /logout, and the access rule on every request."""

    @app.get("/login", include_in_schema=False)
    async def login_form(request: Request, next: str = "/"):
        if not settings.keys_on:
            return RedirectResponse(safe_next(next), status_code=303)
        return _login_page(next)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _login_page("/", "That form was too large.", status=400)
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        key = (form.get("key") or [""])[0].strip()
        target = safe_next((form.get("next") or ["/"])[0])
        if not settings.keys_on:
            return RedirectResponse(target, status_code=303)
        if not key_ok(settings, key):
            return _login_page(target, "That key is not valid.", status=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https", max_age=30 * 86400)
        return response

    @app.get("/logout", include_in_schema=False)
    async def logout():
        response = RedirectResponse("/login" if settings.keys_on else "/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    app.add_middleware(AccessControl, settings=settings)
