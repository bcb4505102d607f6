"""[newcomer] The figures /ops draws over time: sampled per slot into ops_samples (SQLite and PostgreSQL), once
per slot whoever samples, pruned after two days; the scheduler of `syndication run` keeps sampling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, func, select

from syndication import jobs, ops
from syndication.clock import utcnow
from syndication.db.models import Event, Item, OpsSample, Source
from syndication.runtime import Runtime
from syndication.schedule import claim_sources
from syndication.service import start_scheduler
from tests.builders import rss
from tests.conftest import FeedServer


def _rows(rt: Runtime) -> dict[tuple[str, str], float]:
    with rt.sessions() as s:
        return {(r.metric, r.subject): r.value for r in s.scalars(select(OpsSample))}


def test_a_slot_is_sampled_once_and_old_samples_go(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                                    database_url: str) -> None:
    good = feed_server.add_feed("/good.rss", rss(3))
    bad = feed_server.add("/bad.rss", "down", status=500)
    rt = make_runtime(database_url=database_url, ops={"sample_seconds": 300}, partners=[
        {"id": "good", "name": "Good", "sources": [{"kind": "feed", "url": good, "interval": 60}]},
        {"id": "bad", "name": "Bad", "sources": [{"kind": "feed", "url": bad, "interval": 60}]},
    ])
    with rt.sessions() as s:
        ids = list(s.scalars(select(Source.id).order_by(Source.id)))
        bad_id = s.scalar(select(Source.id).where(Source.partner_id == "bad"))
    for sid, token in claim_sources(rt.sessions, ids, utcnow(), lease_seconds=60):
        jobs.poll_source(rt, sid, token)
    jobs.publish_dirty(rt)
    with rt.sessions() as s:
        seen = s.scalar(select(func.max(Item.first_seen_at)))
        relayed = s.scalar(select(func.max(Event.relayed_at)).where(Event.kind == "item.created"))
    assert seen is not None and relayed is not None

    # The slot after the poll: what came in and what failed.
    assert ops.take_samples(rt, seen + timedelta(seconds=300)) > 0
    first = _rows(rt)
    assert first[("received", "good")] == 3
    assert first[("errors", str(bad_id))] == 1
    assert ("received", "bad") not in first  # zero counts are not written
    # Sampling the same slot again (another scheduler, a restart) writes nothing.
    assert ops.take_samples(rt, seen + timedelta(seconds=301)) == 0
    assert _rows(rt) == first

    # Published items trail their slot by PUBLISH_SETTLE: the slot whose window holds the relay (it may be the
    # one just sampled, so that one is cleared first); with their lag.
    later = relayed + ops.PUBLISH_SETTLE + timedelta(seconds=300)
    with rt.sessions() as s:
        s.execute(delete(OpsSample))
        s.commit()
    assert ops.take_samples(rt, later) > 0
    with rt.sessions() as s:
        slot = ops.sample_slot(later, 300)
        at_slot = {(r.metric, r.subject): r.value
                   for r in s.scalars(select(OpsSample).where(OpsSample.taken_at == slot))}
    assert at_slot[("published", "good")] == 3
    assert at_slot[("republish_lag_p95", "")] >= at_slot[("republish_lag_p50", "")] > 0

    # Two days on, the first samples are pruned; a sample of the last two days is kept.
    far = later + ops.OPS_SAMPLE_KEEP + timedelta(seconds=1)
    with rt.sessions() as s:
        s.add(OpsSample(taken_at=far - timedelta(hours=47), metric="queue_depth", subject="poll", value=4))
        s.commit()
    ops.take_samples(rt, far)
    with rt.sessions() as s:
        left = list(s.scalars(select(OpsSample.taken_at).distinct()))
    assert min(left) >= far - ops.OPS_SAMPLE_KEEP
    assert far - timedelta(hours=47) in left


def test_sample_slots_are_aligned() -> None:
    now = utcnow().replace(hour=10, minute=7, second=31, microsecond=5)
    assert ops.sample_slot(now, 300) == now.replace(minute=5, second=0, microsecond=0)
    assert ops.sample_slot(now, 3600) == now.replace(minute=0, second=0, microsecond=0)


def test_sample_rows_write_counts_lags_and_every_queue() -> None:
    slot = utcnow().replace(microsecond=0)
    rows = ops.sample_rows(slot, received={"a": 2, "b": 0}, published={"a": 1}, lags=[10.0, 20.0, 30.0],
                           errors={7: 3, 8: 0}, queue_depths={"poll": 0, "publish": 2})
    got = {(r["metric"], r["subject"]): r["value"] for r in rows}
    assert got == {("received", "a"): 2.0, ("published", "a"): 1.0, ("republish_lag_p50", ""): 20.0,
                   ("republish_lag_p95", ""): got[("republish_lag_p95", "")], ("errors", "7"): 3.0,
                   ("queue_depth", "poll"): 0.0, ("queue_depth", "publish"): 2.0}
    assert 20.0 < got[("republish_lag_p95", "")] <= 30.0
    assert all(r["taken_at"] == slot for r in rows)
    assert ops.sample_rows(slot, received={}, published={}, lags=[], errors={}, queue_depths=None) == []


def test_the_scheduler_samples_every_ops_sample_seconds(make_runtime: Callable[..., Runtime]) -> None:
    from syndication.dispatch import make_dispatcher

    rt = make_runtime(ops={"sample_seconds": 1})
    rt.dispatcher = make_dispatcher(rt)
    sched = start_scheduler(rt)
    try:
        job = sched.get_job("ops_samples")
        assert job is not None and job.trigger.interval == timedelta(seconds=1)
        deadline = utcnow() + timedelta(seconds=15)
        slots: set[object] = set()
        while len(slots) < 2 and utcnow() < deadline:
            with rt.sessions() as s:
                slots = set(s.scalars(select(OpsSample.taken_at).where(OpsSample.metric == "queue_depth")))
        assert len(slots) >= 2, "the scheduler took fewer than two samples in 15 s"
    finally:
        sched.shutdown(wait=True)
