"""The one error shape of the API (docs/api.md#conventions), whatever went wrong:

    {"error": {"status": 404, "code": "not_found", "message": "no caller 'x'"}}

No message names a file, a URL, a query or a key: messages are written here or by the read model, never
copied from an exception of the storage or of the server.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.reader import BadRequest, NotFound, Unavailable

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "bad_request",
         503: "unavailable", 500: "internal"}


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code or CODES.get(status, "internal")


def error_body(status: int, message: str, code: str | None = None) -> dict:
    return {"error": {"status": status, "code": code or CODES.get(status, "internal"), "message": message}}


def error_response(status: int, message: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code), status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body", "cookie")]
        what = err.get("msg", "invalid value")
        parts.append(f"{'.'.join(loc) or 'request'}: {what}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Map every failure to the one shape: validation errors to 400, unknown routes to 404, the rest to 500."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.message, exc.code)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest):
        return error_response(400, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return error_response(404, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable):
        return error_response(503, "the warehouse cannot be read now", headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        status = exc.status_code
        if status == 404:
            message = "no such page" if not request.url.path.startswith("/api/") else "no such endpoint"
            detail = exc.detail if isinstance(exc.detail, str) and exc.detail != "Not Found" else None
            message = detail or message
        elif status == 405:
            message = f"{request.method} is not allowed here"
        else:
            message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(status, message, headers=getattr(exc, "headers", None))

    app.add_middleware(InternalErrors)


class InternalErrors:
    """Any exception a handler did not map becomes a 500 of the one shape; only its type is logged (its text
    may quote a query or a URL)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as e:
            log.error("internal error on %s %s: %s", scope.get("method"), scope.get("path"), type(e).__name__)
            if started:
                raise
            body = json.dumps(error_body(500, "internal error")).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
