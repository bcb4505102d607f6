"""Published files over HTTP: feeds and notices feeds read from disk (re-read only when the file changes),
with strong ETags, Last-Modified, conditional GET and gzip, cached within `cache.files_mb`. Used by the feed
routes (syndication.web.app) and the notices routes (syndication.web.notices).
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from fastapi import HTTPException, Request, Response

from syndication.kernel.clock import UTC
from syndication.kernel.lru import ByteLRU

# A published file's path under feeds/ is a few short segments; anything longer is no feed of ours, and
# must not reach the filesystem (a segment over NAME_MAX fails the lookup with ENAMETOOLONG).
MAX_FEED_PATH = 512
MAX_FEED_SEGMENT = 200
CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "ninjs.json": "application/json; charset=utf-8",  # IPTC ninjs has no media type of its own for a channel
}


def strong_etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class FileCache:
    """Bytes and validators of published files, re-read only when the file changes on disk; and their gzip
    encodings by ETag. Both least-recently-used within `max_bytes` (`cache.files_mb`): archive pages and old
    encodings would otherwise stay for the life of the process."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: ByteLRU[tuple[int, int, bytes, str, str]] = ByteLRU(max_bytes * 2 // 3, lambda e: len(e[2]))
        self._gz: ByteLRU[bytes] = ByteLRU(max_bytes // 3, len)

    def get(self, path: Path) -> tuple[bytes, str, str] | None:
        try:
            st = path.stat()
        except OSError:  # missing, not a directory, name too long, ...: no such file for a client
            return None
        key = (st.st_mtime_ns, st.st_size)
        hit = self._entries.get(path)
        if hit is not None and (hit[0], hit[1]) == key:
            return hit[2], hit[3], hit[4]
        data = path.read_bytes()
        etag = strong_etag(data)
        modified = format_datetime(datetime.fromtimestamp(int(st.st_mtime), UTC), usegmt=True)
        self._entries.put(path, (key[0], key[1], data, etag, modified))
        return data, etag, modified

    def gzipped(self, etag: str, data: bytes) -> bytes:
        """The gzip encoding of a file's bytes (deterministic: mtime 0), cached by the file's ETag."""
        hit = self._gz.get(etag)
        if hit is not None:
            return hit
        out = gzip.compress(data, compresslevel=6, mtime=0)
        self._gz.put(etag, out)
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
    ext = "ninjs.json" if rel.endswith(".ninjs.json") else rel.rsplit(".", 1)[-1] if "." in rel else ""
    segments = rel.split("/")
    if (ext not in CONTENT_TYPES or ".." in segments or rel.startswith("/") or len(rel) > MAX_FEED_PATH
            or any(len(s) > MAX_FEED_SEGMENT for s in segments) or "\x00" in rel):
        raise HTTPException(status_code=404, detail="no such feed")
    hit = cache.get(root / rel)
    if hit is None:
        raise HTTPException(status_code=404, detail="no such feed")
    data, etag, modified = hit
    return serve_bytes(request, data, etag, modified, CONTENT_TYPES[ext], cache,
                       cache_control or f"public, max-age={ttl_seconds}")


def serve_bytes(
    request: Request, data: bytes, etag: str, modified: str, media_type: str, cache: FileCache, cache_control: str
) -> Response:
    """A representation with its validators: 304 on a match, gzip when asked, HEAD without a body."""
    gz = accepts_gzip(request) and len(data) > 256
    if gz:
        etag = etag[:-1] + '-gzip"'  # a different representation gets a different strong ETag
    headers = {
        "ETag": etag,
        "Last-Modified": modified,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    if gz:
        data = cache.gzipped(etag, data)
        headers["Content-Encoding"] = "gzip"
    body = b"" if request.method == "HEAD" else data
    headers["Content-Length"] = str(len(data))
    return Response(content=body, media_type=media_type, headers=headers)
