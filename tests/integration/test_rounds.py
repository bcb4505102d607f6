"""Bulk rounds publish once (syndication.runtime.rounds), through the real service code: the scheduler tick claims a
round of sources, the embedded executor polls them, and `all` is rendered once when the round ends, within
`publish.round_max_delay` when the round runs long, and at once for a push."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from syndication.db.models import Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.operations import service
from syndication.partners.keys import issue_key, load_pepper
from syndication.publish.feeds import RENDERERS
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import LocalDispatcher
from syndication.web.app import create_app
from tests.builders import rss, rss_item
from tests.conftest import FeedServer


def partner_feed(server: FeedServer, n: int, items: int, delay: float) -> str:
    """Partner n's feed: `items` stories of its own, answered after `delay` s; ETag and 304s."""
    path = f"/p{n}.rss"
    server.add_feed(path, "")
    set_items(server, n, items, delay)
    return server.url(path)


def set_items(server: FeedServer, n: int, items: int, delay: float) -> None:
    body = rss([rss_item(100 * n + i, title=f"Partner {n} story {i}") for i in range(items)]).encode()
    etag = f'"{n}-{items}"'

    def handler(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        time.sleep(delay)
        if h.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": "application/rss+xml", "ETag": etag}, body

    server.routes[f"/p{n}.rss"].handler = handler


def partners(urls: list[str], push: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"id": f"p{n}", "name": f"Partner {n}", "sources": [{"kind": "feed", "url": url}]}
                                 for n, url in enumerate(urls)]
    if push:
        out.append({"id": "wire", "name": "Wire", "sources": [{"kind": "push"}]})
    return out


@pytest.fixture
def all_renders(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When the `all` channel's Atom document was rendered (the real renderer, counted)."""
    calls: list[float] = []
    original = RENDERERS["atom"]

    def counting(spec: Any, *args: Any, **kwargs: Any) -> bytes:
        if spec.id == "all":
            calls.append(time.monotonic())
        return original(spec, *args, **kwargs)

    monkeypatch.setitem(RENDERERS, "atom", counting)
    return calls


@pytest.fixture
def embedded(make_runtime: Callable[..., Runtime]) -> Iterator[Callable[..., Runtime]]:
    def _make(**overrides: Any) -> Runtime:
        rt = make_runtime(**overrides)
        rt.dispatcher = LocalDispatcher(rt, 4)
        return rt

    yield _make


def titles(rt: Runtime) -> set[str]:
    path = rt.settings.feeds_dir / "all.atom"
    return {e.title for e in feedparser.parse(path.read_bytes()).entries} if path.exists() else set()


def leases_live(rt: Runtime) -> int:
    with rt.sessions() as s:
        return sum(1 for src in s.query(Source).all() if src.lease_token is not None)


def tick_until(rt: Runtime, done: Callable[[], bool], timeout: float, what: str) -> None:
    """The scheduler's job, at a quick pace: tick (claims what is due, relays, decides) until done."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        service.tick(rt)
        time.sleep(0.1)


def settle(rt: Runtime, seconds: float = 0.6) -> None:
    """Let the executor finish (polls, publishing, the delivery runs publishing kicks), then keep ticking a
    little: nothing more may be published."""
    assert isinstance(rt.dispatcher, LocalDispatcher)
    dispatcher = rt.dispatcher
    tick_until(rt, lambda: dispatcher.pending == 0, 30, "the executor to be idle")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        service.tick(rt)
        time.sleep(0.1)


def make_due(rt: Runtime) -> None:
    with transaction(rt.sessions) as s:
        s.execute(update(Source).values(next_poll_at=utcnow()))


def test_a_round_of_polls_renders_all_once(
    feed_server: FeedServer, embedded: Callable[..., Runtime], all_renders: list[float]
) -> None:
    # Answers spread over ~1.5 s: polls end one by one, far apart compared with the debounce (0.05 s).
    urls = [partner_feed(feed_server, n, 2, delay=0.3 * n) for n in range(6)]
    rt = embedded(partners=partners(urls))
    expected = {f"Partner {n} story {i}" for n in range(6) for i in range(2)}

    assert service.tick(rt) == 6  # one round of six polls
    tick_until(rt, lambda: titles(rt) == expected and leases_live(rt) == 0, 30, "every story in all.atom")
    settle(rt)
    assert len(all_renders) == 1, f"`all` rendered {len(all_renders)} times for one round"

    # A round of 304s owes nothing: nothing rendered.
    make_due(rt)
    assert service.tick(rt) == 6
    tick_until(rt, lambda: leases_live(rt) == 0, 30, "the round of 304s")
    settle(rt)
    assert len(all_renders) == 1

    # A round where one partner has a new story (not the last poll to end): rendered once more, at its end.
    set_items(feed_server, 1, 3, delay=0.3)
    make_due(rt)
    assert service.tick(rt) == 6
    tick_until(rt, lambda: leases_live(rt) == 0, 30, "the third round")
    settle(rt)
    assert "Partner 1 story 2" in titles(rt)
    assert len(all_renders) == 2


def test_a_long_round_publishes_within_round_max_delay(
    feed_server: FeedServer, embedded: Callable[..., Runtime], all_renders: list[float]
) -> None:
    urls = [partner_feed(feed_server, n, 2, delay=0.05) for n in range(3)]
    urls.append(partner_feed(feed_server, 3, 2, delay=5.0))  # holds the round open for 5 s
    rt = embedded(partners=partners(urls), publish={"round_max_delay": 1.0})
    fast = {f"Partner {n} story {i}" for n in range(3) for i in range(2)}

    started = time.monotonic()
    assert service.tick(rt) == 4
    tick_until(rt, lambda: fast <= titles(rt), 4.5, "the fast partners' stories, before the round ends")
    assert leases_live(rt) == 1, "the slow poll should still be running"
    assert time.monotonic() - started < 4.5
    tick_until(rt, lambda: leases_live(rt) == 0 and "Partner 3 story 1" in titles(rt), 30, "the slow partner")
    settle(rt)
    # Once at the bound (maybe twice, if a fast poll ended after the first bound publish), once at the end;
    # never once per poll with changes.
    assert 2 <= len(all_renders) <= 3, all_renders


def test_a_push_during_a_round_is_published_at_once(
    feed_server: FeedServer, embedded: Callable[..., Runtime], all_renders: list[float], tmp_path: Path
) -> None:
    urls = [partner_feed(feed_server, n, 2, delay=4.0) for n in range(2)]
    rt = embedded(partners=partners(urls, push=True), publish={"round_max_delay": 60.0})
    with transaction(rt.sessions) as s:
        key = issue_key(s, "wire", load_pepper(rt.settings), utcnow()).key
    with TestClient(create_app(rt)) as client:
        assert service.tick(rt) == 2
        time.sleep(0.5)
        item = {"id": "flash-1", "url": "https://wire.example/1", "title": "Flash from the wire",
                "content_html": "<p>BAKU, 4 February – A flash.</p>"}
        t0 = time.monotonic()
        resp = client.post("/api/v1/partners/wire/items", content=json.dumps({"items": [item]}),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        assert resp.status_code == 202, resp.text
        tick_until(rt, lambda: "Flash from the wire" in titles(rt), 3, "the pushed item in all.atom")
        assert time.monotonic() - t0 < 1.0, "a push waits for no round"
        assert leases_live(rt) == 2, "the round should still be running"
        assert not any(t.startswith("Partner") for t in titles(rt))
        tick_until(rt, lambda: leases_live(rt) == 0 and len(titles(rt)) == 5, 30, "the round's stories")
        settle(rt)
    assert len(all_renders) == 2  # the push, then the round
