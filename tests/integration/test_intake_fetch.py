"""Fetching against the real local HTTP server: every status and header rule, the guard, the limits."""

from __future__ import annotations

import base64
import functools
import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from syndication.db.models import Source
from syndication.intake.fetch import (
    BlockedAddress,
    FetchError,
    FetchPolicy,
    LimitExceeded,
    fetch,
)
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.operations.ops import source_status
from syndication.runtime import cpu, jobs
from syndication.runtime.context import Runtime
from tests.builders import rss
from tests.conftest import FeedServer


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    """[hardening] Every test here that opens a runtime runs on SQLite and on the real PostgreSQL."""
    return functools.partial(make_settings, database_url=database_url)

OPEN = FetchPolicy(allow_private_addresses=True, connect_timeout=2, read_timeout=2, total_timeout=10)
GUARDED = FetchPolicy(allow_private_addresses=False, connect_timeout=2, read_timeout=2, total_timeout=10)


def names(mapping: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """A resolver answering from a table: public-looking names that lead wherever the test wants."""

    def resolve(host: str, port: int) -> list[str]:
        if host in mapping:
            return mapping[host]
        raise OSError(f"unknown host {host}")

    return resolve


def host_url(server: FeedServer, host: str, path: str) -> str:
    return f"http://{host}:{server.port}{path}"


def redirect(to: str, status: int) -> Callable[[Any], tuple[int, dict[str, str], bytes]]:
    return lambda h: (status, {"Location": to}, b"")


# ---------------------------------------------------------------- conditional GET, redirects


def one_feed_runtime(make_runtime: Callable[..., Runtime], url: str, **source: Any) -> tuple[Runtime, int]:
    rt = make_runtime(partners=[{"id": "p", "name": "P", "sources": [{"kind": "feed", "url": url, **source}]}])
    with rt.sessions() as s:
        sid = s.query(Source.id).scalar()
    return rt, sid


def status_of(rt: Runtime) -> dict[str, Any]:
    return source_status(rt)[0]


def test_304_costs_no_parsing_and_records_not_modified(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = feed_server.add_feed("/f.rss", rss(2), etag='"v1"')
    feed_server.routes["/f.rss"].headers["Last-Modified"] = "Fri, 27 Nov 2026 10:00:00 GMT"
    rt, sid = one_feed_runtime(make_runtime, url)
    assert jobs.poll_source(rt, sid).status == "ok"  # type: ignore[union-attr]

    def no_parsing(*a: Any, **k: Any) -> None:
        raise AssertionError("a 304 must not be parsed")

    monkeypatch.setattr(cpu, "prepare_document", no_parsing)
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "not_modified" and rep.new == 0
    headers = feed_server.requests[-1][2]
    assert headers["if-none-match"] == '"v1"' and headers["if-modified-since"] == "Fri, 27 Nov 2026 10:00:00 GMT"
    st = status_of(rt)
    assert st["last_status"] == 304 and st["state"] == "ok" and st["consecutive_errors"] == 0


def test_permanent_redirect_chain_moves_the_stored_url(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    final = feed_server.add_feed("/new.rss", rss(1))
    feed_server.add("/mid")
    feed_server.routes["/mid"].handler = redirect("/new.rss", 308)
    feed_server.add("/old")
    feed_server.routes["/old"].handler = redirect(feed_server.url("/mid"), 301)
    rt, sid = one_feed_runtime(make_runtime, feed_server.url("/old"))
    assert jobs.poll_source(rt, sid).status == "ok"  # type: ignore[union-attr]
    st = status_of(rt)
    assert st["effective_url"] == final and st["source"] == feed_server.url("/old")
    assert st["redirects"] == [[301, feed_server.url("/mid")], [308, final]]
    # The next poll goes straight to the new URL.
    n = len(feed_server.requests)
    jobs.poll_source(rt, sid)
    assert [r[1] for r in feed_server.requests[n:]] == ["/new.rss"]


@pytest.mark.parametrize("temporary", [302, 307])
def test_temporary_redirect_in_the_chain_keeps_the_stored_url(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, temporary: int
) -> None:
    feed_server.add_feed("/new.rss", rss(1))
    feed_server.add("/tmp")
    feed_server.routes["/tmp"].handler = redirect("/new.rss", temporary)
    feed_server.add("/old")
    feed_server.routes["/old"].handler = redirect("/tmp", 301)
    rt, sid = one_feed_runtime(make_runtime, feed_server.url("/old"))
    assert jobs.poll_source(rt, sid).status == "ok"  # type: ignore[union-attr]
    assert status_of(rt)["effective_url"] == feed_server.url("/old")


def test_redirect_limits_and_refusals(feed_server: FeedServer) -> None:
    for i in range(7):
        feed_server.add(f"/r{i}")
        feed_server.routes[f"/r{i}"].handler = redirect(f"/r{i + 1}", 301)
    feed_server.add_feed("/r7", rss(1))
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
        fetch(feed_server.url("/r0"), OPEN)
    assert fetch(feed_server.url("/r2"), OPEN).permanent_url == feed_server.url("/r7")  # exactly 5 hops
    for target in ("file:///etc/passwd", "ftp://agency.example/feed", "javascript:alert(1)", "gopher://x/"):
        feed_server.add("/bad")
        feed_server.routes["/bad"].handler = redirect(target, 302)
        with pytest.raises(FetchError, match="redirect to refused scheme|redirect Location"):
            fetch(feed_server.url("/bad"), OPEN)
    feed_server.add("/noloc", status=301)
    with pytest.raises(FetchError, match="without Location"):
        fetch(feed_server.url("/noloc"), OPEN)


# ---------------------------------------------------------------- errors, backoff, Retry-After, 410


def test_404_and_5xx_back_off_exponentially(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    url = feed_server.add("/f.rss", "no", status=404)
    rt, sid = one_feed_runtime(make_runtime, url, interval=60)
    delays = []
    for status in (404, 500, 502):
        feed_server.routes["/f.rss"].status = status
        before = utcnow()
        rep = jobs.poll_source(rt, sid)
        assert rep is not None and rep.status == "error" and str(status) in (rep.error or "")
        with rt.sessions() as s:
            src = s.get(Source, sid)
            assert src is not None
            delays.append((src.next_poll_at - before).total_seconds())
    assert 60 * 0.8 - 1 <= delays[0] <= 60 * 1.2 + 1
    assert 120 * 0.8 - 1 <= delays[1] <= 120 * 1.2 + 1
    assert 240 * 0.8 - 1 <= delays[2] <= 240 * 1.2 + 1
    st = status_of(rt)
    assert st["consecutive_errors"] == 3 and st["state"] == "failing" and st["last_status"] == 502
    assert st["last_error"].startswith("HTTP 502") and st["last_error_at"]
    # Recovery resets the count.
    feed_server.routes["/f.rss"] = type(feed_server.routes["/f.rss"])(200, {"Content-Type": "application/rss+xml"},
                                                                        rss(1).encode())
    assert jobs.poll_source(rt, sid).status == "ok"  # type: ignore[union-attr]
    assert status_of(rt)["consecutive_errors"] == 0


def test_410_gone_disables_the_source(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    url = feed_server.add("/f.rss", "gone", status=410)
    rt, sid = one_feed_runtime(make_runtime, url)
    jobs.poll_source(rt, sid)
    st = status_of(rt)
    assert st["state"] == "disabled" and st["enabled"] is False and "410 Gone" in st["disabled_reason"]
    from syndication.runtime.schedule import claim_due

    far = utcnow() + timedelta(days=30)
    assert claim_due(rt.sessions, far, lease_seconds=60, limit=10) == []  # never polled again


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_honour_retry_after(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, status: int
) -> None:
    url = feed_server.add("/f.rss", "slow down", status=status, Retry_After="7200")
    rt, sid = one_feed_runtime(make_runtime, url)
    before = utcnow()
    jobs.poll_source(rt, sid)
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None
        assert 7199 <= (src.next_poll_at - before).total_seconds() <= 7210
    http_date = (utcnow() + timedelta(hours=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    feed_server.routes["/f.rss"].headers["Retry-After"] = http_date
    before = utcnow()
    jobs.poll_source(rt, sid)
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None
        assert 5 * 3600 - 5 <= (src.next_poll_at - before).total_seconds() <= 5 * 3600 + 5
    assert status_of(rt)["last_status"] == status


# ---------------------------------------------------------------- adaptive interval


def test_adaptive_interval_follows_the_publishing_rate_within_the_sources_bound(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    """[newcomer] A quiet feed is polled less often only up to its bound (4 x interval, within the 1 h cap), says
    why, and comes back to the configured interval at once when a new item appears."""
    from email.utils import format_datetime

    from tests.builders import rss_item

    now = utcnow()
    quiet = [rss_item(i, date=format_datetime(now - timedelta(days=2 * i + 1))) for i in range(3)]
    url = feed_server.add_feed("/f.rss", rss(quiet))
    rt, sid = one_feed_runtime(make_runtime, url, interval=60)
    jobs.poll_source(rt, sid)
    st = status_of(rt)
    assert (st["interval"], st["configured_interval"], st["interval_reason"]) == (60, 60, None)  # new items
    assert st["max_interval"] == 240 and rt.settings.fetch.max_interval == 3600
    jobs.poll_source(rt, sid)  # nothing new: ~1 item / 2 days, the newest a day old
    st = status_of(rt)
    assert st["interval"] == 240  # not 6 h: the bound
    assert st["interval_reason"] == "quiet feed: no new items for 1d 0h"
    busy = [rss_item(i + 100, date=format_datetime(now - timedelta(minutes=15 * i))) for i in range(40)]
    feed_server.add_feed("/f.rss", rss(busy))
    jobs.poll_source(rt, sid)
    st = status_of(rt)
    assert (st["interval"], st["interval_reason"]) == (60, None)  # new items: back at once
    jobs.poll_source(rt, sid)
    st = status_of(rt)
    assert 60 < st["interval"] <= 240 and st["interval_reason"]  # 40 items in ~10 h: one every ~15 min, bounded
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None and src.current_interval == st["interval"]
        assert (src.next_poll_at - src.last_attempt_at).total_seconds() == pytest.approx(st["interval"], abs=1)


def test_a_wait_chosen_under_the_old_6_h_default_is_cut_to_the_bound_at_start(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    """A source left waiting 6 h by an earlier version (or a bound since lowered) is polled within its bound,
    not when that long wait ends; one backing off after errors keeps its backoff."""
    url = feed_server.add_feed("/f.rss", rss(1))
    rt, sid = one_feed_runtime(make_runtime, url, interval=60)
    now = utcnow()
    with rt.sessions.begin() as s:
        src = s.get(Source, sid)
        assert src is not None
        src.current_interval, src.last_attempt_at, src.next_poll_at = 21600, now, now + timedelta(hours=6)
    rt.close()
    rt, sid = one_feed_runtime(make_runtime, url, interval=60)  # start again: partners are synced
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None and src.current_interval == 240
        assert (src.next_poll_at - now).total_seconds() == pytest.approx(240, abs=1)


# ---------------------------------------------------------------- limits


def chunks(total: int, size: int = 64 * 1024, delay: float = 0.0) -> Iterator[bytes]:
    block = b"<!-- " + b"x" * (size - 9) + b" -->"
    sent = 0
    while sent < total:
        if delay:
            time.sleep(delay)
        yield block
        sent += len(block)


def test_100_mib_streamed_body_is_cut_at_the_cap_without_holding_it(feed_server: FeedServer) -> None:
    feed_server.add("/big.rss")
    feed_server.routes["/big.rss"].handler = lambda h: (200, {"Content-Type": "application/rss+xml"},
                                                        chunks(100 * 1024 * 1024))  # type: ignore[return-value]
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded) as err:
            fetch(feed_server.url("/big.rss"), OPEN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(err.value) == f"body limit: more than {15 * 1024 * 1024} bytes"
    assert peak < 40 * 1024 * 1024  # never the 100 MiB


def test_declared_content_length_over_the_cap_is_refused_before_reading(feed_server: FeedServer) -> None:
    url = feed_server.add("/f.rss", b"x" * 5000, content_type="application/rss+xml")
    with pytest.raises(LimitExceeded, match="Content-Length 5000 exceeds the 1000 byte cap"):
        fetch(url, FetchPolicy(allow_private_addresses=True, max_body_bytes=1000))


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compression_bomb_is_cut_after_decompression(feed_server: FeedServer, coding: str) -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31 if coding == "gzip" else 15)
    zero = b"\0" * (1024 * 1024)
    bomb = b"".join(comp.compress(zero) for _ in range(64)) + comp.flush()  # 64 MiB of zeros
    assert len(bomb) < 1024 * 1024
    url = feed_server.add("/bomb.rss", bomb, content_type="application/rss+xml", content_encoding=coding)
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded) as err:
            fetch(url, FetchPolicy(allow_private_addresses=True, max_body_bytes=4 * 1024 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(err.value) == f"body limit: more than {4 * 1024 * 1024} bytes after decompression"
    assert peak < 32 * 1024 * 1024


def test_gzip_feed_is_decoded(feed_server: FeedServer) -> None:
    body = rss(3).encode()
    url = feed_server.add("/f.rss", gzip.compress(body), content_type="application/rss+xml",
                          content_encoding="gzip")
    assert fetch(url, OPEN).body == body
    assert feed_server.requests[-1][2]["accept-encoding"] == "gzip, deflate"
    # Several gzip members (concatenated files) decode as one body; raw deflate (no zlib header) too.
    half = len(body) // 2
    url = feed_server.add("/multi.rss", gzip.compress(body[:half]) + gzip.compress(body[half:]),
                          content_encoding="gzip")
    assert fetch(url, OPEN).body == body
    url = feed_server.add("/trailing.rss", gzip.compress(body) + b"\0\0junk", content_encoding="gzip")
    assert fetch(url, OPEN).body == body
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    url = feed_server.add("/raw.rss", raw.compress(body) + raw.flush(), content_encoding="deflate")
    assert fetch(url, OPEN).body == body
    url = feed_server.add("/br.rss", b"\x1b\x00", content_encoding="br")
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetch(url, OPEN)
    url = feed_server.add("/junk.rss", b"not gzip at all", content_encoding="gzip")
    with pytest.raises(FetchError, match="cannot decode gzip response body"):
        fetch(url, OPEN)


def test_refused_source_urls() -> None:
    for url in ("file:///etc/passwd", "ftp://agency.example/f.rss", "http:///nohost", "gopher://x/"):
        with pytest.raises(FetchError, match="refused URL scheme|no host"):
            fetch(url, OPEN)


def test_read_timeout_and_total_time_limit_are_named(feed_server: FeedServer) -> None:
    def sleepy(h: Any) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.5)
        return 200, {}, rss(1).encode()

    feed_server.add("/sleepy")
    feed_server.routes["/sleepy"].handler = sleepy
    with pytest.raises(FetchError, match=r"^read timeout: 127.0.0.1 sent nothing for 0.3s"):
        fetch(feed_server.url("/sleepy"), FetchPolicy(allow_private_addresses=True, read_timeout=0.3))
    feed_server.add("/drip")
    feed_server.routes["/drip"].handler = lambda h: (200, {}, chunks(10_000, size=16, delay=0.1))  # type: ignore
    with pytest.raises(LimitExceeded, match=r"^time limit: body still arriving after 0.5s"):
        fetch(feed_server.url("/drip"), FetchPolicy(allow_private_addresses=True, read_timeout=2, total_timeout=0.5))


def test_connection_refused_is_named() -> None:
    from tests.conftest import free_port

    with pytest.raises(FetchError, match="connection failed to 127.0.0.1"):
        fetch(f"http://127.0.0.1:{free_port()}/f.rss", OPEN)


# ---------------------------------------------------------------- concurrency, user agent, credentials


def test_per_host_concurrency_limit(feed_server: FeedServer) -> None:
    lock = threading.Lock()
    current = peak = 0

    def slow(h: Any) -> tuple[int, dict[str, str], bytes]:
        nonlocal current, peak
        with lock:
            current += 1
            peak = max(peak, current)
        time.sleep(0.25)
        with lock:
            current -= 1
        return 200, {"Content-Type": "application/rss+xml"}, rss(1).encode()

    feed_server.add("/slow.rss")
    feed_server.routes["/slow.rss"].handler = slow
    policy = FetchPolicy(allow_private_addresses=True, per_host_concurrency=2, read_timeout=10)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            fetch(feed_server.url("/slow.rss"), policy)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and peak == 2
    # Another host is not held back by this one's limit.
    assert len([r for r in feed_server.requests if r[1] == "/slow.rss"]) == 6


def test_user_agent_is_configurable(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f.rss", rss(1))
    ua = "NewsDesk/2.0 (+https://desk.example/about; ops@desk.example)"
    rt = make_runtime(fetch={"user_agent": ua},
                      partners=[{"id": "p", "name": "P", "sources": [{"kind": "feed", "url": url}]}])
    with rt.sessions() as s:
        sid = s.query(Source.id).scalar()
    jobs.poll_source(rt, sid)
    assert feed_server.requests[-1][2]["user-agent"] == ua


def test_basic_credentials_from_config_are_sent_sealed_and_never_shown(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    def need_auth(h: Any) -> tuple[int, dict[str, str], bytes]:
        expected = "Basic " + base64.b64encode(b"ann:hunter2-secret").decode()
        if h.headers.get("Authorization") != expected:
            return 401, {"WWW-Authenticate": 'Basic realm="feeds"'}, b"no"
        return 200, {"Content-Type": "application/rss+xml"}, rss(1).encode()

    url = feed_server.add("/private.rss")
    feed_server.routes["/private.rss"].handler = need_auth
    rt, sid = one_feed_runtime(make_runtime, url, username="ann", password="hunter2-secret")
    caplog.set_level("DEBUG")
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "ok" and rep.new == 1
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None and "hunter2-secret" not in repr(src.credentials)
    st = status_of(rt)
    assert st["credentials"] == "basic as ann" and "hunter2-secret" not in repr(source_status(rt))
    assert "hunter2-secret" not in caplog.text


def test_bearer_token_from_environment_and_missing_variable(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = feed_server.add_feed("/f.rss", rss(1))
    rt, sid = one_feed_runtime(make_runtime, url, token_env="AGENCY_FEED_TOKEN")
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.error == "credentials: environment variable AGENCY_FEED_TOKEN is not set"
    monkeypatch.setenv("AGENCY_FEED_TOKEN", "tok-secret-42")
    assert jobs.poll_source(rt, sid).status == "ok"  # type: ignore[union-attr]
    assert feed_server.requests[-1][2]["authorization"] == "Bearer tok-secret-42"
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None and src.credentials == {"v": 1, "token_env": "AGENCY_FEED_TOKEN"}
    assert "tok-secret-42" not in repr(source_status(rt))


def test_credentials_do_not_follow_a_redirect_to_another_host(feed_server: FeedServer) -> None:
    from syndication.intake.fetch import Credentials

    resolver = names({"feeds.agency.example": ["127.0.0.1"], "cdn.other.example": ["127.0.0.1"]})
    feed_server.add_feed("/final.rss", rss(1))
    feed_server.add("/start")
    feed_server.routes["/start"].handler = redirect(host_url(feed_server, "cdn.other.example", "/final.rss"), 302)
    fetch(host_url(feed_server, "feeds.agency.example", "/start"), OPEN, resolver=resolver,
          credentials=Credentials(token="tok"))
    first, second = feed_server.requests[-2:]
    assert first[2].get("authorization") == "Bearer tok" and "authorization" not in second[2]
    assert second[2]["host"] == f"cdn.other.example:{feed_server.port}"


# ---------------------------------------------------------------- private-address guard


def test_public_looking_hostname_resolving_to_loopback_is_refused(feed_server: FeedServer) -> None:
    feed_server.add_feed("/f.rss", rss(1))
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.5", "169.254.169.254", "fe80::1"):
        resolver = names({"news.agency.example": [address]})
        with pytest.raises(BlockedAddress, match=f"news.agency.example resolves to non-public address {address}"):
            fetch(host_url(feed_server, "news.agency.example", "/f.rss"), GUARDED, resolver=resolver)
    # One bad address among good ones is enough to refuse.
    mixed = names({"news.agency.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(BlockedAddress):
        fetch(host_url(feed_server, "news.agency.example", "/f.rss"), GUARDED, resolver=mixed)
    with pytest.raises(BlockedAddress):
        fetch(feed_server.url("/f.rss"), GUARDED)  # a literal loopback address
    assert feed_server.requests == []
    # The same name is fetched when private addresses are allowed (the resolver really is used to connect).
    resolver = names({"news.agency.example": ["127.0.0.1"]})
    assert fetch(host_url(feed_server, "news.agency.example", "/f.rss"), OPEN, resolver=resolver).status == 200


def test_redirect_to_loopback_is_refused(feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A public host redirecting to 127.0.0.1 (literal, IPv6, or a name): the guard runs on every hop.

    The test server only listens on loopback, so the first hop is made "public" by letting the guard accept
    127.0.0.1 until the server has answered it; from then on loopback is refused again.
    """
    from syndication.intake import fetch as fetch_mod

    real = fetch_mod.is_blocked_ip
    first_hop = {"open": True}
    monkeypatch.setattr(fetch_mod, "is_blocked_ip", lambda a: False if first_hop["open"] else real(a))
    resolver = names({"feeds.agency.example": ["127.0.0.1"], "internal.agency.example": ["127.0.0.1"],
                      "127.0.0.1": ["127.0.0.1"], "::1": ["::1"]})
    feed_server.add("/admin", "secret admin page")
    targets = {
        feed_server.url("/admin"): "127.0.0.1 resolves to non-public address 127.0.0.1",
        f"http://[::1]:{feed_server.port}/admin": "::1 resolves to non-public address ::1",
        host_url(feed_server, "internal.agency.example", "/admin"): "internal.agency.example resolves to non-public",
    }
    for target, message in targets.items():
        first_hop["open"] = True

        def start(h: Any, target: str = target) -> tuple[int, dict[str, str], bytes]:
            first_hop["open"] = False
            return 301, {"Location": target}, b""

        feed_server.add("/start")
        feed_server.routes["/start"].handler = start
        with pytest.raises(BlockedAddress, match=message):
            fetch(host_url(feed_server, "feeds.agency.example", "/start"), GUARDED, resolver=resolver)
    assert {r[1] for r in feed_server.requests} == {"/start"}  # /admin never requested


def test_guard_checks_the_address_actually_connected_to(feed_server: FeedServer) -> None:
    """DNS rebinding: the name is public when checked, loopback when connecting. Nothing reaches the server."""
    feed_server.add_feed("/f.rss", rss(1))
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    with pytest.raises(BlockedAddress, match="rebind.agency.example resolves to non-public address 127.0.0.1"):
        fetch(host_url(feed_server, "rebind.agency.example", "/f.rss"), GUARDED, resolver=rebinding)
    assert feed_server.requests == []


def test_guard_in_a_poll_is_recorded(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f.rss", rss(1))
    rt = make_runtime(fetch={"allow_private_addresses": False},
                      partners=[{"id": "p", "name": "P", "sources": [{"kind": "feed", "url": url}]}])
    with rt.sessions() as s:
        sid = s.query(Source.id).scalar()
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "error" and "non-public address 127.0.0.1" in (rep.error or "")
    assert feed_server.requests == []


# ---------------------------------------------------------------- not a feed


@pytest.mark.parametrize(("body", "ctype", "needles"), [
    (b"<html><body>Welcome to our site</body></html>", "text/html; charset=utf-8",
     ["HTTP 200", "content type text/html; charset=utf-8", "<html><body>Welcome"]),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png", ["HTTP 200", "image/png", "\\x89PNG"]),
    (b"", "application/rss+xml", ["HTTP 200", "empty body"]),
])
def test_not_a_feed_over_http_names_status_type_and_bytes(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, body: bytes, ctype: str, needles: list[str]
) -> None:
    url = feed_server.add("/f", body, content_type=ctype)
    rt, sid = one_feed_runtime(make_runtime, url)
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "error" and rep.new == 0
    for needle in needles:
        assert needle in (rep.error or ""), rep.error
    assert status_of(rt)["last_error"] == rep.error


def test_ill_formed_feed_marks_source_partly_parsed(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    broken = rss(3).replace("</channel></rss>", "").replace("<title>Story 1</title>", "<title>Story & 1</title>")
    url = feed_server.add_feed("/f.rss", broken)
    rt, sid = one_feed_runtime(make_runtime, url)
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "ok" and rep.new == 3
    st = status_of(rt)
    assert st["partly_parsed"] is True and "SAXParseException" in st["parse_problem"]
    feed_server.add_feed("/f.rss", rss(3))
    jobs.poll_source(rt, sid)
    assert status_of(rt)["partly_parsed"] is False
