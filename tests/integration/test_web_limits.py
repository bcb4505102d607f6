"""[hardening] 1: no request can make the web process hold an unbounded body.

The real server (`syndication web`, uvicorn, in a subprocess) gets large chunked bodies, with and without
credentials, on every route that reads one; each answer must come early (401 before reading, 413 at the
cap) in our error shape, and the process's peak RSS (VmHWM) must stay where it was.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import load_settings
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime, open_runtime
from syndication.web.app import create_app
from tests.conftest import free_port

OPS_TOKEN = "limits-test-operator-token-0123456789"
PUSH_CAP = 256 * 1024
ATTACK_BYTES = 96 * 1024 * 1024  # each hostile body; the old code buffered all of it (and more)
CHUNK = 64 * 1024


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    key: str
    log: Path

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "syndication.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "var"}"\n'
        f"[api]\nmax_body_bytes = {PUSH_CAP}\n"
        f'[ops]\ntoken = "{OPS_TOKEN}"\n'
        "[log]\naccess = true\n"
        '[[partners]]\nid = "turan"\nname = "Turan"\n[[partners.sources]]\nkind = "push"\n'
    )
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = _config(tmp_path)
    rt = open_runtime(load_settings(config))
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    jobs.publish_all(rt)  # feeds/ exists: a long name reaches the filesystem's lookup
    rt.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndication.cli.app", "--config", str(config), "web", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"syndication web exited with {proc.returncode}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "syndication web did not answer within 30 s"
            time.sleep(0.1)
        yield Server(port, proc, key, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def send_chunked(port: int, path: str, headers: dict[str, str], total: int) -> tuple[int, dict[str, Any], int]:
    """POST `total` bytes chunked, stopping as soon as the server answers; (status, JSON body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    payload = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
    sent, pending = 0, b""
    sock.setblocking(False)
    deadline = time.monotonic() + 60
    try:
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                break  # the answer has come: a server that reads no more gets no more
            if writable:
                if not pending:
                    pending = payload
                n = sock.send(pending)
                pending = pending[n:]
                if not pending:
                    sent += CHUNK
            elif not readable:
                break  # neither reading nor answering for 5 s: go and wait for the answer
        else:
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, BlockingIOError):
        pass
    sock.setblocking(True)
    sock.settimeout(60)
    data = b""
    try:
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                length = next((int(line.split(b":", 1)[1]) for line in data[:head_end].split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(data) >= head_end + 4 + length:
                    break
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    assert data, f"no answer to POST {path}"
    status = int(data.split(b" ", 2)[1])
    body = data.split(b"\r\n\r\n", 1)[1]
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {"raw": body[:200].decode("latin-1")}
    return status, parsed, sent


def assert_error_shape(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code, body


@pytest.mark.slow
def test_large_chunked_bodies_are_refused_early_and_memory_stays_flat(server: Server) -> None:
    port, key = server.port, server.key
    # Warm up every route once so lazily imported code is in the baseline.
    httpx.post(f"http://127.0.0.1:{port}/ops/login", data={"token": "x"}, timeout=10)
    httpx.get(f"http://127.0.0.1:{port}/api/v1/partners/turan/sources", timeout=10,
              headers={"Authorization": f"Bearer {key}"})
    baseline = server.peak_rss_mb()

    bearer = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    ops = {"Authorization": f"Bearer {OPS_TOKEN}", "Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        # (path, headers, status, error code): the login's credential is in its body, so it is read,
        # but never past a few KB
        ("/ops/login", {"Content-Type": "application/x-www-form-urlencoded"}, 413, "payload_too_large"),
        # no key: answered before a byte of the body is read
        ("/api/v1/partners/turan/sources", {"Content-Type": "application/json"}, 401, "missing_key"),
        ("/api/v1/partners/turan/items", {"Content-Type": "application/json"}, 401, "missing_key"),
        # a good key: read up to the route's cap, then 413
        ("/api/v1/partners/turan/sources", bearer, 413, "payload_too_large"),
        ("/api/v1/partners/turan/items", bearer, 413, "payload_too_large"),
        ("/ops/sources/1/pause", ops, 413, "payload_too_large"),
        # a route that takes no body never reads it
        ("/feeds/all.atom", {}, 405, "method_not_allowed"),
    ]
    for path, headers, status, code in cases:
        got, body, sent = send_chunked(port, path, headers, ATTACK_BYTES)
        assert got == status, (path, got, body)
        assert_error_shape(body, code)
        assert sent < ATTACK_BYTES, (path, "the server kept reading the whole body")

    # A declared length over the cap is refused without reading anything.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /ops/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]

    growth = server.peak_rss_mb() - baseline
    assert growth < 40, f"peak RSS grew by {growth:.0f} MB while refusing {len(cases)} bodies of 96 MB"
    # And the server still serves.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


@pytest.mark.slow
def test_a_long_path_is_a_404_and_its_log_line_is_cut(server: Server) -> None:
    """/feeds/<10,000 characters>.atom: the name is too long for the filesystem (ENAMETOOLONG was a 500 with
    the path in a traceback); now a 404 in our shape, and the access log line carries the path cut short."""
    name = "n" * 10_000
    resp = httpx.get(f"http://127.0.0.1:{server.port}/feeds/{name}.atom", timeout=10)
    assert resp.status_code == 404
    assert_error_shape(resp.json(), "not_found")
    assert httpx.get(f"http://127.0.0.1:{server.port}/feeds/all.atom", timeout=10).status_code == 200
    deadline = time.monotonic() + 5
    while "/feeds/nnnn" not in server.log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = server.log.read_text(errors="replace").splitlines()
    assert any("/feeds/nnnn" in line and "chars)" in line for line in lines), lines[-5:]
    assert all(len(line) < 1000 for line in lines), max(len(line) for line in lines)


def test_any_route_reading_its_body_is_capped(make_runtime: Any) -> None:
    """The backstop: a route that reads its body without a cap of its own (here one added for the test)
    still cannot read more than the largest documented cap."""
    rt: Runtime = make_runtime(api={"max_body_bytes": 100_000})
    app = create_app(rt)

    @app.post("/test-echo-length")
    async def echo(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    client = TestClient(app)

    def chunks(total: int) -> Iterator[bytes]:
        for _ in range(total // 10_000):
            yield b"y" * 10_000

    small = client.post("/test-echo-length", content=chunks(50_000))
    assert small.status_code == 200 and small.json() == {"length": 50_000}
    big = client.post("/test-echo-length", content=chunks(1_000_000))
    assert big.status_code == 413
    assert_error_shape(big.json(), "payload_too_large")
