"""Scheduling by leases (SQLite and PostgreSQL): a tick claims each due source once, a stale lease token makes
a redelivered poll a no-op, an expired lease heals a lost task, and the tick relays the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from syndication.db.models import Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.operations import service
from syndication.pipeline.ingest import store_items
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_due
from tests.builders import rss


class RecordingDispatcher:
    """Collects what the scheduler dispatches (the Dispatcher protocol), to run it when the test says so."""

    def __init__(self) -> None:
        self.polls: list[tuple[int, str]] = []
        self.publishes = 0

    def poll(self, source_id: int, lease_token: str) -> None:
        self.polls.append((source_id, lease_token))

    def publish_dirty(self) -> None:
        self.publishes += 1

    def publish_all(self) -> None:
        self.publishes += 1

    def close(self) -> None:
        pass


@pytest.fixture
def rt_with_feed(make_runtime: Callable[..., Runtime], database_url: str, feed_server) -> Runtime:
    url = feed_server.add_feed("/w.rss", rss(3))
    rt = make_runtime(database_url=database_url, partners=[
        {"id": "wire", "name": "Wire", "sources": [{"kind": "feed", "url": url, "interval": 60}]}])
    rt.dispatcher = RecordingDispatcher()
    return rt


def requests_to(feed_server, path: str) -> int:
    return sum(1 for _, p, _ in feed_server.requests if p == path)


def test_tick_claims_once_and_poll_releases_the_lease(rt_with_feed: Runtime, feed_server) -> None:
    rt = rt_with_feed
    d = rt.dispatcher
    assert isinstance(d, RecordingDispatcher)
    assert service.tick(rt) == 1
    assert service.tick(rt) == 0, "a live lease is not claimed again"
    [(source_id, token)] = d.polls
    report = jobs.poll_source(rt, source_id, token)
    assert report is not None and report.new == 3
    with rt.sessions() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.lease_token is None
        assert src.next_poll_at is not None and src.next_poll_at > utcnow() + timedelta(seconds=50)
    assert service.tick(rt) == 0, "not due before its interval"


def test_redelivered_poll_with_stale_token_is_a_noop(rt_with_feed: Runtime, feed_server) -> None:
    rt = rt_with_feed
    assert service.tick(rt) == 1
    d = rt.dispatcher
    assert isinstance(d, RecordingDispatcher)
    [(source_id, token)] = d.polls
    assert jobs.poll_source(rt, source_id, token) is not None
    assert requests_to(feed_server, "/w.rss") == 1
    # The same task delivered again (Celery redelivery, duplicate send): nothing happens.
    assert jobs.poll_source(rt, source_id, token) is None
    assert jobs.poll_source(rt, source_id, "not-the-token") is None
    assert requests_to(feed_server, "/w.rss") == 1


def test_expired_lease_heals_a_lost_task(rt_with_feed: Runtime, feed_server) -> None:
    rt = rt_with_feed
    lease = rt.settings.schedule.lease_seconds
    [(source_id, lost_token)] = claim_due(rt.sessions, utcnow(), lease_seconds=lease, limit=10)
    # The task is lost (never runs). Before expiry nobody may claim it; after expiry it is claimed anew.
    assert claim_due(rt.sessions, utcnow() + timedelta(seconds=lease - 5), lease_seconds=lease, limit=10) == []
    [(again, new_token)] = claim_due(rt.sessions, utcnow() + timedelta(seconds=lease + 1), lease_seconds=lease,
                                     limit=10)
    assert again == source_id and new_token != lost_token
    assert jobs.poll_source(rt, source_id, lost_token) is None, "the lost task, if it ever shows up, is stale"
    assert jobs.poll_source(rt, source_id, new_token) is not None
    assert requests_to(feed_server, "/w.rss") == 1


def test_tick_relays_events_written_elsewhere(rt_with_feed: Runtime) -> None:
    from syndication.intake.parse import parse_document
    from syndication.kernel.domain import PartnerPolicy
    from syndication.pipeline.normalise import normalise_feed

    rt = rt_with_feed
    d = rt.dispatcher
    assert isinstance(d, RecordingDispatcher)
    with transaction(rt.sessions) as s:  # e.g. the push API in the web process
        src = s.scalars(select(Source)).one()
        src.next_poll_at = utcnow() + timedelta(hours=1)
    parsed = parse_document(rss(2).encode(), {"content-type": "application/rss+xml"}, "https://x.example/")
    items, rej = normalise_feed(parsed, PartnerPolicy(id="wire", name="Wire", credit="Wire"), now=utcnow())
    with transaction(rt.sessions) as s:
        store_items(s, items, rej, now=utcnow(), source_id=None)
    assert service.tick(rt) == 0
    assert d.publishes == 1, "events from another process reach the publisher through the tick's relay"
    service.tick(rt)
    assert d.publishes == 1, "relayed once"
