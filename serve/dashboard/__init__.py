"""The dashboard: pages served by the API process, drawn in the browser from the API's JSON.

Each page is a small HTML shell (nav bar, footer, the page's name and path parameters, the Dagster UI base URL)
that loads one script, static/app.js, which asks /api/v1 on the same origin and draws the page. Nothing here
reads the warehouse, so a page costs no query of its own; every figure shown is the API's, written by
static/format.js as quantbot_pipelines/views.py writes it. Everything is served from this process: no CDN,
works offline.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
CHARTS = "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"

# page -> (title, uses the chart library)
PAGES = {
    "overview": ("Overview", False),
    "callers": ("Callers", False),
    "caller": ("Caller", False),
    "calls": ("Calls", False),
    "call": ("Call", True),
    "strategies": ("Strategies", False),
    "strategy": ("Strategy", True),
    "compare": ("Compare strategies", True),
    "tokens": ("Tokens", False),
}

NAV = [("/", "Overview", "overview"), ("/callers", "Callers", "callers"), ("/calls", "Calls", "calls"),
       ("/strategies", "Strategies", "strategies"), ("/tokens", "Tokens", "tokens")]
NAV_OF = {"caller": "callers", "call": "calls", "strategy": "strategies", "compare": "strategies"}


def _version() -> str:
    """A digest of the static files, so a browser never runs an old script against a new API."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.glob("*.*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def render(page: str, settings, params: dict | None = None, version: str = "") -> str:
    """The HTML shell of one page; its data comes from the API in the browser."""
    title, charts = PAGES[page]
    dagster = getattr(settings, "dagster_url", "http://127.0.0.1:3000").rstrip("/")
    config = {"page": page, "params": params or {}, "dagster_url": dagster}
    # "</" cannot close the script element inside a JSON string
    config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    current = NAV_OF.get(page, page)
    nav = "".join(f'<a href="{href}"{" class=current" if key == current else ""}>{label}</a>'
                  for href, label, key in NAV)
    dagster_e = html.escape(dagster, quote=True)
    chart_tag = f'<script src="{CHARTS}?v={version}" defer></script>\n' if charts else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · QuantBot</title>
<link rel="icon" href="/static/favicon.svg?v={version}" type="image/svg+xml">
<link rel="stylesheet" href="/static/dashboard.css?v={version}">
<script type="application/json" id="config">{config_json}</script>
{chart_tag}<script type="module" src="/static/app.js?v={version}"></script>
</head>
<body data-page="{page}">
<header class="bar">
<a class="brand" href="/">QuantBot</a>
<nav>{nav}</nav>
<span class="spacer"></span>
<a class="ext" href="{dagster_e}/assets" title="The pipeline's assets in the Dagster UI">Dagster UI</a>
<a class="ext" href="/docs" title="The read API (OpenAPI)">API</a>
</header>
<main id="main"><p class="muted">Loading…</p></main>
<footer>
Figures as defined in docs/semantics.md (hover a column header for its definition) ·
<a href="/docs">API docs</a> ·
Charts: TradingView Lightweight Charts™, Copyright (c) 2023 TradingView, Inc.
<a href="https://www.tradingview.com/">https://www.tradingview.com/</a> (Apache-2.0)
</footer>
</body>
</html>
"""


def install(app: FastAPI, settings) -> None:
    """Add the dashboard's pages and static files to `app`."""
    version = _version()

    def page(name: str, **params) -> HTMLResponse:
        return HTMLResponse(render(name, settings, params, version),
                            headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def overview() -> HTMLResponse:
        return page("overview")

    @app.get("/callers", include_in_schema=False)
    def callers() -> HTMLResponse:
        return page("callers")

    # ids such as name:<sender> may hold any character, a slash too
    @app.get("/callers/{caller_id:path}", include_in_schema=False)
    def caller(caller_id: str) -> HTMLResponse:
        return page("caller", caller_id=caller_id)

    @app.get("/calls", include_in_schema=False)
    def calls() -> HTMLResponse:
        return page("calls")

    @app.get("/calls/{chat_id:path}/{message_id:int}", include_in_schema=False)
    def call(chat_id: str, message_id: int) -> HTMLResponse:
        return page("call", chat_id=chat_id, message_id=message_id)

    @app.get("/strategies", include_in_schema=False)
    def strategies() -> HTMLResponse:
        return page("strategies")

    # strategy names hold [ ] = , (sweep variants): the rest of the path is the name
    @app.get("/strategies/{strategy:path}", include_in_schema=False)
    def strategy(strategy: str) -> HTMLResponse:
        return page("strategy", strategy=strategy)

    @app.get("/compare", include_in_schema=False)
    def compare() -> HTMLResponse:
        return page("compare")

    @app.get("/tokens", include_in_schema=False)
    def tokens() -> HTMLResponse:
        return page("tokens")

    # browsers ask for /favicon.ico on pages that name no icon (the API docs): answer rather than 404
    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
