"""[newcomer] The figures /ops draws over time: sampled per slot into ops_samples (SQLite and PostgreSQL), once
per slot whoever samples, pruned after two days; the scheduler of `syndication run` keeps sampling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from syndication.db.models import OpsSample, Poll, Source
from syndication.kernel.clock import utcnow
from syndication.operations import ops
from syndication.operations.service import start_scheduler
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_sources
from syndication.web import ops_charts
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer


def _sums(rt: Runtime) -> dict[tuple[str, str], float]:
    """Totals per (metric, subject) over every sampled slot."""
    with rt.sessions() as s:
        return {(m, subj): float(v) for m, subj, v in s.execute(
            select(OpsSample.metric, OpsSample.subject, func.sum(OpsSample.value))
            .group_by(OpsSample.metric, OpsSample.subject))}


def _markers(rt: Runtime) -> list[datetime]:
    with rt.sessions() as s:
        return list(s.scalars(select(OpsSample.taken_at).where(OpsSample.metric == ops.SAMPLED)
                              .order_by(OpsSample.taken_at)))


def test_slots_are_counted_once_caught_up_and_pruned(make_runtime: Callable[..., Runtime],
                                                     feed_server: FeedServer, database_url: str) -> None:
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
    # A poll that began in one slot and ended in the next is counted when it ended (its row is written then).
    now = utcnow() + timedelta(minutes=10)
    slot = ops.sample_slot(now, 300) - timedelta(seconds=600)
    with rt.sessions() as s:
        s.add(Poll(source_id=bad_id, started_at=slot - timedelta(seconds=100), duration_ms=200_000,
                   outcome="error", error="slow and failing"))
        s.commit()

    assert ops.take_samples(rt, now) > 0
    sums = _sums(rt)
    assert sums[("received", "good")] == 3 and ("received", "bad") not in sums  # zero counts are not written
    assert sums[("published", "good")] == 3
    assert sums[("errors", str(bad_id))] == 2
    assert sums[("republish_lag_p95", "")] >= sums[("republish_lag_p50", "")] > 0
    with rt.sessions() as s:
        late_poll = s.scalar(select(OpsSample.taken_at).where(OpsSample.metric == "errors",
                                                               OpsSample.taken_at == slot + timedelta(seconds=300)))
    assert late_poll is not None
    markers = _markers(rt)
    assert len(markers) == ops.SAMPLE_CATCH_UP  # nothing sampled before: the last hour is counted
    assert markers[-1] <= now - ops.SAMPLE_SETTLE

    # Sampling again (another scheduler, a restart) writes nothing twice.
    assert ops.take_samples(rt, now) == 0
    assert _sums(rt) == sums
    # Fifteen minutes on, the three slots that settled since are counted; after a long stop, the last hour.
    ops.take_samples(rt, now + timedelta(minutes=15))
    assert len(_markers(rt)) == ops.SAMPLE_CATCH_UP + 3
    ops.take_samples(rt, now + timedelta(hours=5))
    assert len(_markers(rt)) == 2 * ops.SAMPLE_CATCH_UP + 3
    assert _sums(rt)[("received", "good")] == 3  # each item once

    # Two days on, the first samples are pruned; a sample of the last two days is kept.
    far = now + ops.OPS_SAMPLE_KEEP + timedelta(seconds=1)
    with rt.sessions() as s:
        s.add(OpsSample(taken_at=far - timedelta(hours=47), metric="queue_depth", subject="poll", value=4))
        s.commit()
    ops.take_samples(rt, far)
    with rt.sessions() as s:
        left = list(s.scalars(select(OpsSample.taken_at).distinct()))
    assert min(left) >= far - ops.OPS_SAMPLE_KEEP
    assert far - timedelta(hours=47) in left


def test_the_dashboard_draws_what_was_sampled_since_it_was_last_drawn(make_runtime: Callable[..., Runtime],
                                                                       feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/good.rss", rss(2))
    rt = make_runtime(ops={"sample_seconds": 300}, partners=[
        {"id": "good", "name": "Good", "sources": [{"kind": "feed", "url": url, "interval": 60}]}])
    client = TestClient(create_app(rt), client=("127.0.0.1", 50123))
    before = client.get("/ops").text
    assert 'id="chart-received"' in before and "no samples yet" in before
    with rt.sessions() as s:
        ids = list(s.scalars(select(Source.id)))
    for sid, token in claim_sources(rt.sessions, ids, utcnow(), lease_seconds=60):
        jobs.poll_source(rt, sid, token)
    assert client.get("/ops").text.count("good · ") == 0  # nothing sampled yet: the same charts
    ops.take_samples(rt, utcnow() + timedelta(minutes=6))
    after = client.get("/ops").text
    assert "good · " in after and ": 2 items</title>" in after
    assert "not sampled (no scheduler was running)" in after  # the hours before the first sample are shaded
    assert ops_charts.SAMPLED == ops.SAMPLED


def test_sample_slots_are_aligned() -> None:
    now = utcnow().replace(hour=10, minute=7, second=31, microsecond=5)
    assert ops.sample_slot(now, 300) == now.replace(minute=5, second=0, microsecond=0)
    assert ops.sample_slot(now, 3600) == now.replace(minute=0, second=0, microsecond=0)


def test_slots_to_sample_wait_for_a_slot_to_settle_and_catch_up_a_bounded_number() -> None:
    at = utcnow().replace(hour=10, minute=0, second=0, microsecond=0)
    step = timedelta(seconds=300)
    # 10:00:20: the slot ending at 10:00 has not settled; 10:00:31: it has.
    assert ops.slots_to_sample(at - step, at + timedelta(seconds=20), 300) == []
    assert ops.slots_to_sample(at - step, at + timedelta(seconds=31), 300) == [at]
    assert ops.slots_to_sample(at - 3 * step, at + timedelta(seconds=31), 300) == [at - 2 * step, at - step, at]
    assert ops.slots_to_sample(at - 100 * step, at + timedelta(seconds=31), 300)[0] == \
        at - (ops.SAMPLE_CATCH_UP - 1) * step
    assert len(ops.slots_to_sample(None, at + timedelta(seconds=31), 300)) == ops.SAMPLE_CATCH_UP
    # A slot shorter than the settling time waits one slot.
    assert ops.slots_to_sample(at - timedelta(seconds=2), at + timedelta(seconds=1), 1) == [at - timedelta(seconds=1),
                                                                                          at]


def test_sample_rows_mark_the_slot_and_leave_zero_counts_out() -> None:
    end = utcnow().replace(microsecond=0)
    figures = ops.SlotFigures(received={"a": 2, "b": 0}, published={"a": 1}, lags=[10.0, 20.0, 30.0],
                              errors={7: 3, 8: 0})
    got = {(r["metric"], r["subject"]): r["value"] for r in ops.sample_rows(end, figures)}
    p95 = got[("republish_lag_p95", "")]
    assert got == {(ops.SAMPLED, ""): 1.0, ("received", "a"): 2.0, ("published", "a"): 1.0,
                   ("republish_lag_p50", ""): 20.0, ("republish_lag_p95", ""): p95, ("errors", "7"): 3.0}
    assert 20.0 < p95 <= 30.0
    assert [r["metric"] for r in ops.sample_rows(end, ops.SlotFigures())] == [ops.SAMPLED]
    assert ops.queue_rows(end, {"publish": 2, "poll": 0}) == [
        {"taken_at": end, "metric": "queue_depth", "subject": "poll", "value": 0.0},
        {"taken_at": end, "metric": "queue_depth", "subject": "publish", "value": 2.0}]
    assert ops.queue_rows(end, None) == []


def test_the_scheduler_samples_every_ops_sample_seconds(make_runtime: Callable[..., Runtime]) -> None:
    from syndication.runtime.dispatch import make_dispatcher

    rt = make_runtime(ops={"sample_seconds": 1})
    rt.dispatcher = make_dispatcher(rt)
    sched = start_scheduler(rt)
    try:
        job = sched.get_job("ops_samples")
        assert job is not None and job.trigger.interval == timedelta(seconds=1)
        trim = sched.get_job("release_free_heap")  # [hardening] 10: freed pages handed back (kernel.memory)
        assert trim is not None and trim.trigger.interval <= timedelta(seconds=60)
        deadline = utcnow() + timedelta(seconds=15)
        slots: set[object] = set()
        while len(slots) < 2 and utcnow() < deadline:
            with rt.sessions() as s:
                slots = set(s.scalars(select(OpsSample.taken_at).where(OpsSample.metric == "queue_depth")))
        assert len(slots) >= 2, "the scheduler took fewer than two samples in 15 s"
    finally:
        sched.shutdown(wait=True)
