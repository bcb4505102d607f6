"""FastAPI application: published feeds, health, the partner API, notices and the operator pages.

Every error answer, whatever the route, is JSON `{"error": "<code>", "detail": "<sentence>"}` (the operator
pages keep their own HTML and JSON answers); request bodies are bounded (syndication.web.guard).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from syndication.kernel.clock import utcnow
from syndication.kernel.limiters import FailureThrottle
from syndication.operations.ops import broker_ready
from syndication.publish.failures import failing, reason
from syndication.runtime.context import Runtime
from syndication.web import api, notices, ops, websub
from syndication.web.api import describe_validation
from syndication.web.files import FileCache, serve_file
from syndication.web.guard import (
    FORM_BODY_LIMIT,
    LOGIN_BODY_LIMIT,
    SOURCE_BODY_LIMIT,
    ASGIApp,
    BodyLimit,
    BodyTooLarge,
    Receive,
    Scope,
    Send,
    make_throttle,
    short,
)

log = logging.getLogger(__name__)

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 410: "gone", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "rate_limited"}

DOCS_ASSETS = "/static/docs"

def error_body(status: int, detail: str, code: str | None = None) -> dict[str, str]:
    return {"error": code or ERROR_CODES.get(status, f"http_{status}"), "detail": detail}


class CatchAll:
    """The last resort for an exception no handler took: a 500 in our error shape, logged with the path cut
    short (a client picks the path; the default log line would carry all of it), and never re-raised to
    the server, which would log it again in full."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), short(str(scope.get("path", ""))))
            if started:
                raise
            response = JSONResponse(error_body(500, "something went wrong on our side; retrying is safe",
                                               "internal_error"), status_code=500)
            await response(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(error_body(exc.status_code, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(error_body(422, describe_validation(exc.errors())), status_code=422)

    async def too_large(request: Request, exc: Exception) -> Response:
        return JSONResponse(error_body(413, str(exc)), status_code=413)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(BodyTooLarge, too_large)


class _ShortAccessPaths(logging.Filter):
    """uvicorn's access line with the request path cut short (args: client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and len(args[2]) > 200:
            record.args = (args[0], args[1], short(args[2]), args[3], args[4])
        return True


def _shorten_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _ShortAccessPaths) for f in access.filters):
        access.addFilter(_ShortAccessPaths())


def create_app(rt: Runtime, auth_throttle: FailureThrottle | None = None) -> FastAPI:
    """The web app. `auth_throttle` counts failed authentication per client address (default: per
    settings, in memory when embedded, in Redis when scaled out)."""
    # /docs (Swagger UI) loads its script, style and icon from DOCS_ASSETS (files of the fastapi-offline
    # package), never from a CDN: it works offline and names no other host. No /redoc: ReDoc's page loads
    # its "API docs by Redocly" logo from Redocly's CDN whatever we serve.
    app = FastAPIOffline(title="syndication", version="0.1.0", static_url=DOCS_ASSETS, redoc_url=None)
    app.state.rt = rt
    app.state.auth_throttle = auth_throttle or make_throttle(rt.settings)
    _install_error_handlers(app)
    _shorten_access_log()
    # Outermost first at run time: CatchAll wraps BodyLimit wraps the routes.
    body_cap = max(rt.settings.api.max_body_bytes, SOURCE_BODY_LIMIT, LOGIN_BODY_LIMIT, FORM_BODY_LIMIT)
    app.add_middleware(BodyLimit, cap=body_cap)
    app.add_middleware(CatchAll)
    cache = FileCache(rt.settings.cache.files_mb * 1024 * 1024)
    ttl = rt.settings.publish.ttl * 60

    async def feeds(request: Request) -> Response:
        # The hot path: a plain Starlette route (no FastAPI parameter validation) and async (a stat and a
        # dict lookup need no thread-pool hop) — 304s went from ~700 to ~4,900 req/s (bench/README.md).
        return serve_file(request, rt.settings.feeds_dir, request.path_params["rel"], ttl, cache)


    app.router.routes.append(Route("/feeds/{rel:path}", feeds, methods=["GET", "HEAD"], include_in_schema=False))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            with rt.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        body: dict[str, str] = {"status": "ok", "database": "ok"}
        if not rt.settings.embedded:  # [operators] scaled mode: the broker must answer too

            problem = broker_ready(rt.settings.broker_url)
            body["broker"] = problem or "ok"
        # [trust] Feeds that cannot be written are stale: not ready until a publish of them succeeds.
        with rt.sessions() as session:
            stale = failing(session)
        now = utcnow()
        body["publish"] = "; ".join(reason(h, now) for h in stale) if stale else "ok"
        ready = all(v == "ok" for k, v in body.items() if k != "status")
        if not ready:
            body["status"] = "unavailable"
        return JSONResponse(body, status_code=200 if ready else 503)


    for area in (api, notices, ops, websub):
        area.install(app, rt)
    return app
