"""The API process: the read API, its docs (Swagger UI, served from this package: no CDN), the dashboard and
the metrics, behind one access rule (serve/auth.py)."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from serve import auth, errors
from serve.api import VERSION, build_router
from serve.reader import Reader
from serve.settings import ServeSettings

log = logging.getLogger(__name__)

SWAGGER_DIR = Path(__file__).resolve().parent / "static" / "vendor" / "swagger-ui"
SWAGGER_URL = "/static/vendor/swagger-ui"

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QuantBot read API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{base}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null,
  deepLinking: true, tryItOutEnabled: true, presets: [SwaggerUIBundle.presets.apis]}});
</script></body></html>"""

DESCRIPTION = """What the pipeline computed, read from its warehouse: callers, calls, candles, strategies, books
and walk-forward folds. Every figure is defined in docs/semantics.md; list shapes, CSV, errors and keys in
docs/api.md. Lists answer `{items, total, limit, offset, next}` and CSV with `?format=csv`."""


def create_app(settings: ServeSettings, *, dagster=None, reader: Reader | None = None) -> FastAPI:
    """The app over `settings`' warehouse; `dagster` a DagsterClient (default: one on settings.dagster_url)."""
    if dagster is None:
        from serve.dagster_api import DagsterClient

        dagster = DagsterClient(settings.dagster_url)
    if reader is None:
        reader = Reader(settings.warehouse_url, password=settings.warehouse_password, refresh_s=settings.refresh_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # the busiest endpoints' frames are built while the first requests may already come in
        def warm() -> None:
            try:
                reader.warm()
            except Exception as e:  # noqa: BLE001 - an empty or unreadable warehouse answers 503 per request
                log.warning("warming the read model failed: %s", type(e).__name__)
        threading.Thread(target=warm, name="reader-warm", daemon=True).start()
        yield

    app = FastAPI(title="QuantBot read API", version=VERSION, description=DESCRIPTION, docs_url=None,
                  redoc_url=None, swagger_ui_oauth2_redirect_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.reader = reader
    app.state.dagster = dagster
    errors.install(app)
    app.include_router(build_router(reader, settings, dagster))
    # before the dashboard's /static mount, which would otherwise answer for this folder too
    app.mount(SWAGGER_URL, StaticFiles(directory=SWAGGER_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(base=SWAGGER_URL))

    from serve import dashboard, metrics

    dashboard.install(app, settings)
    metrics.install(app, reader, dagster)
    auth.install(app, settings)  # last: the outermost middleware, so every path is guarded
    return app
