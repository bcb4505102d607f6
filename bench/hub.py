"""A small WebSub hub on a local port: the hub's side of https://www.w3.org/TR/websub/, for the tests and the bench.

It accepts subscription requests (POST hub.mode=subscribe|unsubscribe, hub.topic, hub.callback, hub.secret,
hub.lease_seconds) with 202, then verifies intent from a thread as the spec says (GET on the callback with
hub.mode, hub.topic, hub.challenge and hub.lease_seconds; the subscription counts only if the challenge comes
back), and `distribute` POSTs content to every verified subscriber of a topic, signed with its secret
(`X-Hub-Signature: sha256=<hex>`) and with the Link headers the spec asks for. Behaviours a subscriber must
survive are switches: refuse requests (`refuse=<status>`), deny them (`deny=<reason>`), never verify
(`verify=False`), grant another lease (`lease_seconds`). Never an outside service: everything is loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx


@dataclass
class Subscriber:
    topic: str
    callback: str
    secret: str
    lease_seconds: int


@dataclass
class Hub:
    refuse: int | None = None  # answer subscription requests with this status instead of 202
    deny: str | None = None  # deny subscriptions with this reason (hub.mode=denied) instead of verifying
    verify: bool = True  # False: accept requests and never verify them
    lease_seconds: int | None = None  # the lease granted (default: what the subscriber asked for)
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)  # every request received, in order
    verifications: list[tuple[str, int, bool]] = field(default_factory=list)  # (mode, status, challenge echoed)
    subscribers: dict[tuple[str, str], Subscriber] = field(default_factory=dict)  # (topic, callback) -> verified
    # Documents served on GET (path -> body, Content-Type): a publisher's feed beside its hub, for the bench.
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _client: httpx.Client | None = None
    _client_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hub"

    def _request(self, form: dict[str, str]) -> int:
        with self.changed:
            self.requests.append(form)
            self.changed.notify_all()
        if self.refuse is not None:
            return self.refuse
        mode, topic, callback = form.get("hub.mode"), form.get("hub.topic"), form.get("hub.callback")
        if mode not in ("subscribe", "unsubscribe") or not topic or not callback:
            return 400
        threading.Thread(target=self.verify_request, args=(form,), daemon=True).start()
        return 202

    def verify_request(self, form: dict[str, str]) -> None:
        """Verify intent for a request received (`form`), as the hub does after answering 202."""
        mode, topic, callback = form["hub.mode"], form["hub.topic"], form["hub.callback"]
        if not self.verify:
            return
        params: dict[str, str] = {"hub.mode": mode, "hub.topic": topic}
        if self.deny is not None and mode == "subscribe":
            params = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": self.deny}
        challenge = secrets.token_urlsafe(16)
        lease = self.lease_seconds or int(form.get("hub.lease_seconds") or 864000)
        if params["hub.mode"] != "denied":
            params["hub.challenge"] = challenge
            if mode == "subscribe":
                params["hub.lease_seconds"] = str(lease)
        with httpx.Client(trust_env=False, timeout=10) as client:
            resp = client.get(callback, params=params)
        echoed = resp.status_code // 100 == 2 and resp.text == challenge
        with self.changed:
            self.verifications.append((params["hub.mode"], resp.status_code, echoed))
            if echoed and mode == "subscribe":
                self.subscribers[(topic, callback)] = Subscriber(topic, callback, form.get("hub.secret", ""), lease)
            elif echoed:
                self.subscribers.pop((topic, callback), None)
            self.changed.notify_all()

    def wait(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait until predicate(hub) holds (a request came, a verification ended); False after `timeout` s."""
        with self.changed:
            return bool(self.changed.wait_for(lambda: predicate(self), timeout))

    def distribute(self, topic: str, body: bytes, content_type: str, *, secret: str | None = None,
                   method: str = "sha256", signature: str | None = None) -> list[httpx.Response]:
        """POST `body` to every verified subscriber of `topic`; signed with each one's secret unless `secret`
        (a wrong one) or `signature` (the header's whole value, "" for none) is given."""
        with self.changed:
            targets = [s for s in self.subscribers.values() if s.topic == topic]
        out = []
        with self._client_lock:  # one client, kept: a TLS context per call would be most of a distribution's cost
            if self._client is None:
                self._client = httpx.Client(trust_env=False, timeout=30)
            client = self._client
        for sub in targets:
            headers = {"Content-Type": content_type,
                       "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"'}
            if signature is None:
                key = (sub.secret if secret is None else secret).encode("utf-8")
                headers["X-Hub-Signature"] = f"{method}={hmac.new(key, body, getattr(hashlib, method)).hexdigest()}"
            elif signature:
                headers["X-Hub-Signature"] = signature
            out.append(client.post(sub.callback, content=body, headers=headers))
        return out


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body, ctype = hub.documents.get(self.path, (b"not found", "text/plain"))
            self.send_response(200 if self.path in hub.documents else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            status = hub._request(form) if self.path == "/hub" else 404
            body = b"" if status == 202 else b"subscription refused by the test hub"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def running_hub(**options: Any) -> Iterator[Hub]:
    hub = Hub(**options)
    httpd = ThreadingHTTPServer((hub.host, 0), _handler(hub))
    httpd.daemon_threads = True
    hub.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        if hub._client is not None:
            hub._client.close()
        httpd.shutdown()
        httpd.server_close()
