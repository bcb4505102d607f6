"""Shared fixtures: settings on a temp data dir, a real local HTTP server, real PostgreSQL and Redis.

Tests needing PostgreSQL or Redis skip with a reason when the server does not answer, unless
SYNDICATION_REQUIRE_SERVICES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from syndication.kernel.settings import Settings, load_settings
from syndication.runtime.context import Runtime, open_runtime

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
# The shared corpora: SYNDICATION_SHARED_DIR (set by .ci/run for a clone elsewhere), else beside the checkout.
SHARED = Path(os.environ.get("SYNDICATION_SHARED_DIR") or REPO.parent / "shared")
REQUIRE_SERVICES = os.environ.get("SYNDICATION_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("SYNDICATION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SYNDICATION_TEST_REDIS", "redis://127.0.0.1:6379")


def service_missing(what: str, why: str) -> None:
    msg = f"{what} not answering ({why}); start it or see .ci/run"
    if REQUIRE_SERVICES:
        pytest.fail(msg + " [SYNDICATION_REQUIRE_SERVICES=1]")
    pytest.skip(msg)


# ---------------------------------------------------------------- settings and runtime


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A developer's own SYNDICATION_* variables must not leak into tests; and no test may pick up
    # config/syndication.toml from the working directory by accident.
    for key in list(os.environ):
        if key.startswith("SYNDICATION_") and key not in (
            "SYNDICATION_REQUIRE_SERVICES", "SYNDICATION_TEST_POSTGRES", "SYNDICATION_TEST_REDIS",
            "SYNDICATION_SHARED_DIR",
        ):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def _make(**overrides: Any) -> Settings:
        data: dict[str, Any] = {
            "data_dir": str(tmp_path / "var"),
            "fetch": {"allow_private_addresses": True},
            "publish": {"debounce": 0.05},
            "folder": {"settle_seconds": 0},
        }
        for k, v in overrides.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k] = {**data[k], **v}
            else:
                data[k] = v
        return load_settings(None, **data)

    return _make


@pytest.fixture
def make_runtime(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Runtime]]:
    opened: list[Runtime] = []

    def _make(**overrides: Any) -> Runtime:
        rt = open_runtime(make_settings(**overrides))
        opened.append(rt)
        return rt

    yield _make
    for rt in opened:
        rt.close()


# ---------------------------------------------------------------- local HTTP server


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    handler: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]] | None = None


@dataclass
class FeedServer:
    host: str
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", status: int = 200, **headers: str) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        self.routes[path] = Route(status, hdrs, body)
        return self.url(path)

    def add_feed(self, path: str, body: bytes | str, content_type: str = "application/rss+xml",
                 etag: str | None = None) -> str:
        url = self.add(path, body, content_type=content_type)
        if etag:
            self.routes[path].headers["ETag"] = etag
        return url


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self, send_body: bool) -> None:
            server.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(self.path) or server.routes.get(self.path.split("?", 1)[0])
            if route is None:
                status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
            elif route.handler is not None:
                status, headers, body = route.handler(self)
            else:
                status, headers, body = route.status, dict(route.headers), route.body
                etag = headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if not isinstance(body, (bytes, bytearray)):
                # A handler may return an iterable of chunks: streamed with chunked encoding, never held whole.
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in body if send_body else ():
                        if chunk:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and status != 304:
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a limit tripped)
                    self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            self._serve(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(False)

        def do_POST(self) -> None:  # noqa: N802
            # [publish] hub and webhook stubs: the body is read first; handlers find it in self.request_body,
            # and server.posts records (path, headers, body).
            length = int(self.headers.get("Content-Length") or 0)
            self.request_body = self.rfile.read(length) if length else b""
            server.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, self.request_body))
            self._serve(True)

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    srv = FeedServer("127.0.0.1", 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(srv))
    httpd.daemon_threads = True
    srv.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    httpd.shutdown()
    httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- PostgreSQL and Redis


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the real server, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        service_missing("PostgreSQL", str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)
        raise
    name = f"synd_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Storage tests run on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own on the real server, flushed before and after."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL + "/0", socket_connect_timeout=3)
        client.ping()
    except Exception as exc:
        service_missing("Redis", str(exc) or exc.__class__.__name__)
        raise
    # Spread tests across databases 1..15 so parallel runs rarely meet; flush ours.
    db = 1 + (uuid.uuid4().int % 15)
    url = f"{REDIS_URL}/{db}"
    r = redis.Redis.from_url(url)
    r.flushdb()
    try:
        yield url
    finally:
        r.flushdb()
        r.close()
        client.close()
