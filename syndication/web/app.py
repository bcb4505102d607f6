"""FastAPI application: published feeds, health, and (in later stages) the partner API and ops pages."""

from __future__ import annotations

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


def serve_file(request: Request, root: Path, rel: str, ttl_seconds: int, cache: FileCache) -> Response:
    ext = rel.rsplit(".", 1)[-1] if "." in rel else ""
    if ext not in CONTENT_TYPES or ".." in rel.split("/") or rel.startswith("/"):
        raise HTTPException(status_code=404, detail="no such feed")
    hit = cache.get(root / rel)
    if hit is None:
        raise HTTPException(status_code=404, detail="no such feed")
    data, etag, modified = hit
    headers = {
        "ETag": etag,
        "Last-Modified": modified,
        "Cache-Control": f"public, max-age={ttl_seconds}",
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else data
    headers["Content-Length"] = str(len(data))
    return Response(content=body, media_type=CONTENT_TYPES[ext], headers=headers)


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="syndication", version="0.1.0")
    app.state.rt = rt
    cache = FileCache()
    ttl = rt.settings.publish.ttl * 60

    @app.api_route("/feeds/{rel:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def feeds(rel: str, request: Request) -> Response:
        return serve_file(request, rt.settings.feeds_dir, rel, ttl, cache)

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
        return JSONResponse({"status": "ok", "database": "ok"})

    from syndication.web import api, notices, ops

    for area in (api, notices, ops):
        area.install(app, rt)
    return app
