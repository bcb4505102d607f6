"""What every HTTP route relies on before it trusts a client: bounded request bodies, who the client is,
and a throttle on failed authentication. Installed by syndication.web.app.create_app.

- Bodies: a route reads its body only after authenticating, and through `read_limited` with its own cap
  (Content-Length first, then counted while streaming, so chunked bodies are bounded too). `BodyLimit`,
  an ASGI middleware, is the backstop: no route can read more than the largest cap, whatever it does.
- Failed authentication is throttled per client address (an IPv6 client by its /64), never per partner or
  account: a stranger guessing keys locks out only themself. The counting is syndication.kernel.limiters'
  FailureThrottle (the `limits` moving window), in process memory (embedded) or in Redis (scaled mode, so
  every web process sees the same failures), injected into the app by create_app.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from fastapi import Path
from starlette.requests import Request

from syndication.kernel.limiters import FailureThrottle, failed_auth_throttle
from syndication.kernel.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Per-route body caps besides the push API's `api.max_body_bytes` (README, "Request limits").
LOGIN_BODY_LIMIT = 4 * 1024  # /ops/login: the operator token, a redirect target
FORM_BODY_LIMIT = 4 * 1024  # /ops actions: a CSRF field and a redirect target
SOURCE_BODY_LIMIT = 64 * 1024  # POST /api/v1/partners/{id}/sources: a URL and credentials
LOGGED_PATH_CHARS = 200
# Our ids are INTEGER columns: 32 bits on PostgreSQL. A larger (or non-positive) id in a path names no row,
# and would fail to bind on PostgreSQL (SQLite: overflow past 64 bits), so it is refused as out of range (422)
# the same way on both databases.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (1 to 2^31 - 1).")]


class BodyTooLarge(Exception):
    """A request body over its cap; answered 413 {"error": "payload_too_large", "detail": ...}."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"the body exceeds the limit of {cap} bytes")
        self.cap = cap


async def read_limited(request: Request, cap: int) -> bytes:
    """The request body, refused (BodyTooLarge) once it is known or seen to exceed `cap` bytes."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(cap)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimit:
    """Raise BodyTooLarge from `receive` once a request has delivered more than `cap` body bytes.

    Routes enforce their own (smaller) caps; this bounds any route that reads a body some other way
    (a FastAPI body parameter, `await request.body()`), so no endpoint can be made to buffer an unbounded body.
    """

    def __init__(self, app: ASGIApp, cap: int) -> None:
        self.app = app
        self.cap = cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        seen = 0
        cap = self.cap

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted, send)


def short(text: str, limit: int = LOGGED_PATH_CHARS) -> str:
    """A client-chosen string cut for a log line (a 100 KB URL must not become a 100 KB line)."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def client_address(request: Request) -> str:
    """The client's address as the throttle keys it: IPv4 as is, IPv6 by its /64 (one host's allocation).

    Behind a reverse proxy, run uvicorn with --forwarded-allow-ips for it (loopback proxies are trusted by
    default) so that this is the real client and not the proxy.
    """
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def make_throttle(settings: Settings) -> FailureThrottle:
    """In process memory when embedded; in the broker's Redis when scaled out (shared by every web process)."""
    return failed_auth_throttle(settings)
