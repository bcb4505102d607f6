"""[hardening] 6 and 7: retention prunes history in batches and keeps what is still needed; /metrics counters are
kept on write (pruning never lowers one), follow Prometheus naming and count pushed items too. SQLite and
PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from syndication.db.models import (
    DeadLetter,
    Delivery,
    Event,
    Item,
    ItemVersion,
    Notice,
    Poll,
    Source,
)
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.operations import retention
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_sources
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer

LOOPBACK = ("127.0.0.1", 50123)
PARTNERS = [
    {"id": "good", "name": "Good Agency", "sources": [{"kind": "feed", "url": "", "interval": 60}]},
    {"id": "wire", "name": "Wire Agency", "sources": [{"kind": "push"}]},
    {"id": "quiet", "name": "Quiet Agency"},  # no source: its notices feed only has the old notices below
]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(rt: Runtime) -> tuple[dict[str, str], Samples]:
    """/metrics parsed by prometheus_client: family name -> type, and every sample's value."""
    text = TestClient(create_app(rt), client=LOOPBACK).get("/metrics").text
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return types, samples


def counter_samples(types: dict[str, str], samples: Samples) -> Samples:
    out: Samples = {}
    for (name, labels), v in samples.items():
        for family, kind in types.items():
            counter = kind == "counter" and name == family + "_total"
            if counter or (kind == "histogram" and name.startswith(family + "_")):
                out[(name, labels)] = v
    return out


def poll_all(rt: Runtime) -> None:
    with rt.sessions() as s:
        ids = list(s.scalars(select(Source.id).where(Source.kind == "feed")))
    for sid, token in claim_sources(rt.sessions, ids, utcnow(), lease_seconds=60):
        jobs.poll_source(rt, sid, token)
    jobs.publish_dirty(rt)


def push(rt: Runtime, partner: str, n: int) -> None:
    with transaction(rt.sessions) as session:
        key = issue_key(session, partner, load_pepper(rt.settings), utcnow()).key
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "wire", "items": [
        {"id": f"wire-{i}", "url": f"https://wire.example/{i}", "title": f"Wire story number {i}",
         "content_html": f"<p>Wire body {i}.</p>", "date_published": "2026-11-20T09:00:00Z"} for i in range(n)]}
    resp = TestClient(create_app(rt)).post(f"/api/v1/partners/{partner}/items", content=json.dumps(doc),
                                           headers={"Authorization": f"Bearer {key}",
                                                    "Content-Type": "application/feed+json"})
    assert resp.status_code == 202, resp.text


@pytest.fixture
def service(make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str) -> Runtime:
    url = feed_server.add_feed("/good.rss", rss(3))
    partners: list[dict[str, Any]] = json.loads(json.dumps(PARTNERS))
    partners[0]["sources"][0]["url"] = url
    rt = make_runtime(database_url=database_url, partners=partners, notices={"window": 2})
    poll_all(rt)
    poll_all(rt)
    push(rt, "wire", 2)
    jobs.publish_dirty(rt)
    return rt


def test_metric_types_follow_prometheus_naming_and_count_pushed_items(service: Runtime) -> None:
    rt = service
    types, samples = scrape(rt)
    # Counters end in _total and only counters do; the current state of deliveries is a gauge.
    for (name, _), _v in samples.items():
        if name.endswith("_total"):
            assert types.get(name.removesuffix("_total")) == "counter", name
    assert types["syndication_deliveries"] == "gauge"
    assert types["syndication_deliveries_settled"] == "counter"
    assert types["syndication_items_stored"] == "gauge"
    assert "syndication_deliveries_total" not in {n for n, _ in samples}
    # Pushed items are items too (they were missing: only polls were counted).
    assert samples[("syndication_items_total", (("outcome", "new"), ("partner", "wire")))] == 2
    assert samples[("syndication_items_total", (("outcome", "new"), ("partner", "good")))] == 3
    assert samples[("syndication_items_total", (("outcome", "unchanged"), ("partner", "good")))] == 3
    assert samples[("syndication_items_stored", (("partner", "wire"), ("status", "usable")))] == 2
    assert samples[("syndication_polls_total", (("outcome", "ok"), ("partner", "good")))] == 2

    # More work: counters only go up, the new figures among them.
    push(rt, "wire", 3)  # 2 unchanged, 1 new
    poll_all(rt)
    types2, samples2 = scrape(rt)
    before = counter_samples(types, samples)
    after = counter_samples(types2, samples2)
    for key, v in before.items():
        assert after.get(key, 0) >= v, key
    assert samples2[("syndication_items_total", (("outcome", "new"), ("partner", "wire")))] == 3
    assert samples2[("syndication_items_total", (("outcome", "unchanged"), ("partner", "wire")))] == 2
    assert samples2[("syndication_polls_total", (("outcome", "ok"), ("partner", "good")))] == 3


def test_retention_prunes_old_rows_keeps_needed_ones_and_never_lowers_a_counter(service: Runtime) -> None:
    rt = service
    now = utcnow()
    old = now - timedelta(days=400)
    with transaction(rt.sessions) as s:
        item = s.scalar(select(Item).where(Item.partner_id == "good").order_by(Item.id))
        assert item is not None
        # Fourteen more versions of one item, all old: the newest versions_keep (10) must stay.
        s.add_all([ItemVersion(item_id=item.id, version=v, title=f"v{v}", content_html="x", content_hash=str(v),
                               recorded_at=old) for v in range(2, 16)])
        item.version = 15
        item_id = item.id
        # Notices: six old "republished" notices of quiet (its feed shows the newest 2), one of them with a delivery
        # still retrying; one old "withdrawn" notice (public: the public feed is not full, so it stays).
        notices = [Notice(uid=f"urn:uuid:00000000-0000-4000-8000-{i:012d}", kind="republished",
                          created_at=old + timedelta(minutes=i), partner_id="quiet", action="none", channels=[],
                          attribution={}) for i in range(6)]
        public = Notice(uid="urn:uuid:00000000-0000-4000-8000-999999999999", kind="withdrawn", created_at=old,
                        partner_id="quiet", action="remove", channels=[], attribution={})
        s.add_all([*notices, public])
        s.flush()
        s.add(Delivery(notice_id=notices[1].id, endpoint="partner:quiet", url="http://127.0.0.1:9/h", state="retrying",
                       attempts=3, next_attempt_at=now, expires_at=now + timedelta(hours=1), created_at=old))
        s.add(Delivery(notice_id=notices[2].id, endpoint="partner:quiet", url="http://127.0.0.1:9/h",
                       state="delivered", attempts=1, next_attempt_at=old, expires_at=old, created_at=old))
        s.add(DeadLetter(task="syndication.poll", args=[1], error="boom", attempts=5, created_at=old,
                         replayed_at=old))
        s.add(DeadLetter(task="syndication.poll", args=[2], error="boom", attempts=5, created_at=old))
        s.add(Event(kind="item.updated", item_id=item_id, partner_id="good", payload={}, created_at=old))
        s.execute(update(Poll).values(started_at=old))
        s.execute(update(Event).where(Event.relayed_at.is_not(None)).values(relayed_at=old))
    with rt.sessions() as s:
        n_polls, newest_poll = s.execute(select(func.count(), func.max(Poll.id))).one()
        newest_event = s.scalar(select(func.max(Event.id)))
        n_events = s.scalar(select(func.count()).select_from(Event))
        kept_notices = {notices[1].id, notices[4].id, notices[5].id, public.id}
        service_notices = set(s.scalars(select(Notice.id).where(Notice.created_at > old + timedelta(days=1))))
    assert n_polls == 2
    types, samples = scrape(rt)

    report = retention.prune(rt, batch=2)  # small batches: several transactions per table

    assert report.complete
    with rt.sessions() as s:
        assert list(s.scalars(select(Poll.id))) == [newest_poll]  # the newest row of a table always stays
        events = list(s.execute(select(Event.id, Event.relayed_at)))
        assert all(r is None or i == newest_event for i, r in events)  # the one still to relay stays
        assert len(events) == 1 and n_events > 1
        versions = sorted(s.scalars(select(ItemVersion.version).where(ItemVersion.item_id == item_id)))
        assert versions == [1, *range(6, 16)]  # 1 was recorded today: recent versions stay too
        assert set(s.scalars(select(Notice.id))) == kept_notices | service_notices
        assert [d.state for d in s.scalars(select(Delivery).where(Delivery.created_at <= old))] == ["retrying"]
        assert [d.args for d in s.scalars(select(DeadLetter))] == [[2]]  # never replayed: waits for an operator
    assert report.pruned["polls"] == 1 and report.pruned["item_versions"] == 4 and report.pruned["notices"] == 3

    types2, samples2 = scrape(rt)
    before = counter_samples(types, samples)
    after = counter_samples(types2, samples2)
    assert before and all(after.get(k, 0) >= v for k, v in before.items())
    assert samples2[("syndication_polls_total", (("outcome", "ok"), ("partner", "good")))] == 2
    assert samples2[("syndication_poll_duration_seconds_count", ())] == 2
    assert samples2[("syndication_retention_pruned_total", (("table", "polls"),))] == 1

    again = retention.prune(rt)
    assert again.pruned == {} and again.complete  # nothing left to prune: idempotent


def test_counters_added_concurrently_lose_nothing_and_roll_back_with_their_transaction(
    make_runtime: Callable[..., Runtime], database_url: str
) -> None:
    """Many writers adding to the same figures at once (threads here; processes share the table the same way):
    the total is exact, and a transaction that rolls back takes its additions with it."""
    from concurrent.futures import ThreadPoolExecutor

    from syndication.db import counters as figures

    rt = make_runtime(database_url=database_url)

    def work(n: int) -> None:
        for _ in range(25):
            with transaction(rt.sessions) as s:
                figures.count(s, figures.POLLS, partner="p", outcome="ok")
                figures.count(s, figures.POLL_DURATION_MS, n)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(1, 7)))
    with pytest.raises(RuntimeError), transaction(rt.sessions) as s:
        figures.count(s, figures.POLLS, 1000, partner="p", outcome="ok")
        raise RuntimeError("rolled back")
    with rt.sessions() as s:
        assert figures.value(s, figures.POLLS, partner="p", outcome="ok") == 150
        assert figures.value(s, figures.POLL_DURATION_MS) == 25 * sum(range(1, 7))


def test_drop_folder_items_are_counted(make_runtime: Callable[..., Runtime], database_url: str,
                                       tmp_path: Any) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt = make_runtime(database_url=database_url, folder={"settle_seconds": 0},
                      partners=[{"id": "box", "name": "Box", "sources": [{"kind": "folder", "path": str(drop)}]}])
    (drop / "a.xml").write_text(rss(3))
    with rt.sessions() as s:
        sid = s.scalar(select(Source.id))
    assert sid is not None
    report = jobs.poll_source(rt, sid)
    assert report is not None and report.new == 3
    _, samples = scrape(rt)
    assert samples[("syndication_items_total", (("outcome", "new"), ("partner", "box")))] == 3
    assert samples[("syndication_items_stored", (("partner", "box"), ("status", "usable")))] == 3
