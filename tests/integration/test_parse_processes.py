"""Embedded mode with parse processes (schedule.parse_processes): real spawned worker processes parse,
normalise and fingerprint; the polling thread stores. Same items as in-process; errors and a dead worker
are handled."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from syndication.db.models import Item, Poll, Source
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.runtime import cpu, jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_sources
from tests.builders import rss
from tests.conftest import FeedServer


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    """[hardening] 9: what the parse processes prepare is stored on SQLite and on the real PostgreSQL."""
    return functools.partial(make_settings, database_url=database_url)


def _poll_all(rt: Runtime) -> dict[str, Any]:
    with rt.sessions() as s:
        ids = list(s.scalars(select(Source.id).order_by(Source.id)))
    claimed = claim_sources(rt.sessions, ids, utcnow(), lease_seconds=60)
    reports = [jobs.poll_source(rt, sid, tok) for sid, tok in claimed]
    return {r.partner: r for r in reports if r is not None}


def _stored(rt: Runtime) -> list[tuple[Any, ...]]:
    with rt.sessions() as s:
        return [(i.partner_id, i.key, i.title, i.content_html, i.content_hash, i.simhash, i.body_hash, i.title_key)
                for i in s.scalars(select(Item).order_by(Item.partner_id, Item.key))]


def test_parse_processes_store_what_in_process_parsing_stores(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    url = feed_server.add_feed("/a.rss", rss(5))
    bad = feed_server.add("/page.html", "<html><body>Hello</body></html>", content_type="text/html")
    partners = [{"id": "a", "name": "A", "sources": [{"kind": "feed", "url": url}]},
                {"id": "b", "name": "B", "sources": [{"kind": "feed", "url": bad}]}]
    inline = make_runtime(partners=partners)
    pooled = make_runtime(partners=partners, schedule={"parse_processes": 1})
    assert cpu.attach(inline) is None
    pool = cpu.attach(pooled)
    assert pool is not None
    first = _poll_all(pooled)
    assert first["a"].status == "ok" and first["a"].new == 5
    # The parse error crosses the process boundary as the same recorded reason.
    assert first["b"].status == "error" and "not a feed" in (first["b"].error or "")
    assert _poll_all(inline)["b"].error == first["b"].error
    assert _stored(pooled) == _stored(inline) and len(_stored(pooled)) == 5
    with pooled.sessions() as s:
        assert s.scalar(select(Poll.error).where(Poll.error.is_not(None))) == first["b"].error


def test_a_killed_parse_process_is_replaced_and_the_poll_completes(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    feed_server.add_feed("/a.rss", rss(3))
    source = {"kind": "feed", "url": feed_server.url("/a.rss")}
    rt = make_runtime(partners=[{"id": "a", "name": "A", "sources": [source]}], schedule={"parse_processes": 1})
    pool = cpu.attach(rt)
    assert pool is not None
    pool.warm()
    executor = pool._pool
    assert executor is not None
    for pid in list(executor._processes):  # the worker dies (OOM killer, an operator's kill -9)
        os.kill(pid, signal.SIGKILL)
    report = _poll_all(rt)["a"]
    assert report.status == "ok" and report.new == 3
    assert pool._pool is not executor  # a fresh pool serves the next document
    feed_server.add_feed("/a.rss", rss(4))
    assert _poll_all(rt)["a"].new == 1
