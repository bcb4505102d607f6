"""The relay drains a backlog of events a batch per transaction, so other writers interleave."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from sqlalchemy import event, func, select

from syndication.db.models import Event
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_due
from tests.builders import rss
from tests.conftest import FeedServer


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    """[hardening] Every test here that opens a runtime runs on SQLite and on the real PostgreSQL."""
    return functools.partial(make_settings, database_url=database_url)


def test_relay_drains_backlog_in_batches(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = feed_server.add_feed("/t.rss", rss(25))
    rt = make_runtime(partners=[{"id": "turan", "name": "Turan", "sources": [{"kind": "feed", "url": url}]}])
    for sid, token in claim_due(rt.sessions, utcnow(), lease_seconds=60, limit=5):
        jobs.poll_source(rt, sid, token)
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.relayed_at.is_(None))) == 25
    monkeypatch.setattr(jobs, "RELAY_BATCH", 10)
    commits = []
    event.listen(rt.engine, "commit", lambda conn: commits.append(1))
    dirty = jobs.relay(rt)
    assert dirty >= {"all", "partners/turan"}
    assert len(commits) == 3  # 10 + 10 + 5 events, one transaction each
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.relayed_at.is_(None))) == 0
    assert jobs.relay(rt) == set()
