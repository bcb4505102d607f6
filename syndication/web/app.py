"""FastAPI application: published feeds, health, and (in later stages) the partner API and ops pages."""

from __future__ import annotations

import gzip
import hashlib
import threading
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from syndication.clock import UTC
from syndication.runtime import Runtime

CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


class FileCache:
    """Bytes and validators of published files, re-read only when the file changes on disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[int, int, bytes, str, str]] = {}
        self._gz: dict[str, bytes] = {}

    def get(self, path: Path) -> tuple[bytes, str, str] | None:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._entries.get(path)
        if hit is not None and (hit[0], hit[1]) == key:
            return hit[2], hit[3], hit[4]
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        from datetime import datetime

        modified = format_datetime(datetime.fromtimestamp(int(st.st_mtime), UTC), usegmt=True)
        with self._lock:
            self._entries[path] = (key[0], key[1], data, etag, modified)
        return data, etag, modified

    def gzipped(self, etag: str, data: bytes) -> bytes:
        """The gzip encoding of a file's bytes (deterministic: mtime 0), cached by the file's ETag."""
        gz = self._gz
        with self._lock:
            hit = gz.get(etag)
        if hit is not None:
            return hit
        out = gzip.compress(data, compresslevel=6, mtime=0)
        with self._lock:
            if len(gz) > 4096:
                gz.clear()
            gz[etag] = out
        return out


def accepts_gzip(request: Request) -> bool:
    """Accept-Encoding names gzip (or *) with a non-zero q."""
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def _not_modified(request: Request, etag: str, modified: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


def serve_file(
    request: Request, root: Path, rel: str, ttl_seconds: int, cache: FileCache, cache_control: str | None = None
) -> Response:
    ext = rel.rsplit(".", 1)[-1] if "." in rel else ""
    if ext not in CONTENT_TYPES or ".." in rel.split("/") or rel.startswith("/"):
        raise HTTPException(status_code=404, detail="no such feed")
    hit = cache.get(root / rel)
    if hit is None:
        raise HTTPException(status_code=404, detail="no such feed")
    data, etag, modified = hit
    gz = accepts_gzip(request) and len(data) > 256
    if gz:
        etag = etag[:-1] + '-gzip"'  # a different representation gets a different strong ETag
    headers = {
        "ETag": etag,
        "Last-Modified": modified,
        "Cache-Control": cache_control or f"public, max-age={ttl_seconds}",
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    if gz:
        data = cache.gzipped(etag, data)
        headers["Content-Encoding"] = "gzip"
    body = b"" if request.method == "HEAD" else data
    headers["Content-Length"] = str(len(data))
    return Response(content=body, media_type=CONTENT_TYPES[ext], headers=headers)


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="syndication", version="0.1.0")
    app.state.rt = rt
    cache = FileCache()
    ttl = rt.settings.publish.ttl * 60

    async def feeds(request: Request) -> Response:
        # The hot path: a plain Starlette route (no FastAPI parameter validation) and async (a stat and a
        # dict lookup need no thread-pool hop) — 304s went from ~700 to ~4,900 req/s (bench/README.md).
        return serve_file(request, rt.settings.feeds_dir, request.path_params["rel"], ttl, cache)

    from starlette.routing import Route

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
            from syndication.ops import broker_ready

            problem = broker_ready(rt.settings.broker_url)
            body["broker"] = problem or "ok"
        # [trust] Feeds that cannot be written are stale: not ready until a publish of them succeeds.
        from syndication.clock import utcnow
        from syndication.publish.failures import failing, reason

        with rt.sessions() as session:
            stale = failing(session)
        now = utcnow()
        body["publish"] = "; ".join(reason(h, now) for h in stale) if stale else "ok"
        ready = all(v == "ok" for k, v in body.items() if k != "status")
        if not ready:
            body["status"] = "unavailable"
        return JSONResponse(body, status_code=200 if ready else 503)

    from syndication.web import api, notices, ops

    for area in (api, notices, ops):
        area.install(app, rt)
    return app
