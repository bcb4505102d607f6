"""Pure helpers of the web guard: who a client is for the throttle, what partners may read of a fetch error,
and the throttle's own rules (in memory; its Redis sharing is tested in tests/integration/test_web_auth.py)."""

from __future__ import annotations

import logging

import pytest
from limits.storage import MemoryStorage, RedisStorage
from starlette.requests import Request

from syndication.kernel.limiters import FailureThrottle
from syndication.web.api import partner_safe
from syndication.web.guard import client_address, short
from tests.conftest import free_port


def request_from(host: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "client": (host, 1234)})


def test_client_address_groups_an_ipv6_host_by_its_64() -> None:
    assert client_address(request_from("203.0.113.9")) == "203.0.113.9"
    a = client_address(request_from("2001:db8:1:2:aaaa::1"))
    b = client_address(request_from("2001:db8:1:2:bbbb:cccc:dddd:eeee"))
    assert a == b == "2001:db8:1:2::/64"  # one host picks any address of its /64: one count
    assert client_address(request_from("2001:db8:1:3::1")) != a
    assert client_address(request_from("::ffff:198.51.100.7")) == "198.51.100.7"
    assert client_address(request_from("testclient")) == "testclient"


@pytest.mark.parametrize(("reason", "known", "shown", "hidden"), [
    ("refused: feeds.example resolves to non-public address 10.1.2.3", (), "not public", "10.1.2.3"),
    ("refused: connected address 192.168.0.7 of feeds.example is not public", (), "feeds.example", "192.168.0.7"),
    ("refused: feeds.example resolves to non-public address fd00::7", (), "not public", "fd00::7"),
    ("cannot connect to 172.16.5.4:8080", (), "cannot connect", "172.16.5.4"),
    # what the partner wrote themself may stay; public addresses are no secret
    ("refused: 127.0.0.1 resolves to non-public address 127.0.0.1", ("http://127.0.0.1:81/f",), "127.0.0.1",
     "non-public address 127.0.0.1"),
    ("HTTP 404 Not Found from 8.8.8.8 (HTTP/1.1)", (), "8.8.8.8", "non-public"),
])
def test_partner_safe_hides_internal_addresses(reason: str, known: tuple[str, ...], shown: str, hidden: str) -> None:
    text = partner_safe(reason, *known)
    assert text is not None and shown in text and hidden not in text, text
    assert partner_safe(None) is None


def test_short_cuts_long_client_strings() -> None:
    assert short("/feeds/all.atom") == "/feeds/all.atom"
    cut = short("/feeds/" + "x" * 10_000)
    assert len(cut) < 250 and cut.endswith("(10007 chars)")


def test_throttle_counts_failures_per_address_in_a_moving_window() -> None:
    throttle = FailureThrottle(MemoryStorage(), max_failures=2, window_seconds=30)
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    assert 1 <= throttle.retry_after("a") <= 30
    assert throttle.retry_after("b") == 0


def test_throttle_fails_open_when_its_storage_is_down(caplog: pytest.LogCaptureFixture) -> None:
    """Redis gone in scaled mode: authentication goes on (unthrottled) rather than every request failing."""
    storage = RedisStorage(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1, socket_connect_timeout=1)
    throttle = FailureThrottle(storage, max_failures=1, window_seconds=30)
    caplog.set_level(logging.WARNING)
    throttle.failed("a")
    assert throttle.retry_after("a") == 0
    assert sum("unthrottled" in r.getMessage() for r in caplog.records) == 1  # said once, not per request
