"""A bare ASGI app serving one file with an ETag and 304s: the serve workload's ceiling (same uvicorn)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    data = Path(os.environ["BENCH_FILE"]).read_bytes()
    etag = ('"' + hashlib.sha256(data).hexdigest()[:32] + '"').encode()
    ok = [(b"content-type", b"application/atom+xml; charset=utf-8"), (b"etag", etag),
          (b"content-length", str(len(data)).encode())]

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        inm = dict(scope["headers"]).get(b"if-none-match")
        if inm == etag:
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": ok})
        await send({"type": "http.response.body", "body": data})

    return asgi
