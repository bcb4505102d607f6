"""Process roles: the scheduler tick (embedded and scaled) and the embedded `run`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from syndication.kernel.clock import UTC, utcnow
from syndication.kernel.memory import RELEASE_EVERY_SECONDS, release_free_heap
from syndication.operations import retention
from syndication.operations.ops import take_samples
from syndication.runtime import jobs, rounds
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_due, holder_for, reclaim_predecessor_leases, this_process
from syndication.runtime.tasks import TASK_DELIVER_NOTICES, TASK_DELIVER_PINGS, TASK_WEBSUB_SUBSCRIPTIONS

log = logging.getLogger(__name__)

RETENTION_FIRST_DELAY = 300.0  # seconds after start


def tick(rt: Runtime) -> int:
    """Claim due sources and dispatch them; relay pending events. Returns how many were claimed."""
    assert rt.dispatcher is not None
    try:
        claimed = claim_due(
            rt.sessions, utcnow(), lease_seconds=rt.settings.schedule.lease_seconds,
            limit=rt.settings.schedule.claim_batch, holder=holder_for(rt.settings),
        )
        for source_id, token in claimed:
            rt.dispatcher.poll(source_id, token)
        # Items whose embargo just passed become events, so their channels are republished ([normalise]).
        jobs.release_embargoes(rt)
        # Events written by other processes (push API, other workers) reach the publisher here too; changes
        # polled in a round still running wait for its end, at most publish.round_max_delay
        # (syndication.runtime.rounds); and a channel that failed to publish is retried here once its backoff has
        # passed ([trust]).
        relayed = bool(jobs.relay(rt))
        if not rounds.on_tick(rt, relayed, rt.dispatcher.publish_dirty) and jobs.publish_retry_due(rt):
            rt.dispatcher.publish_dirty()
        return len(claimed)
    except Exception:
        log.exception("scheduler tick failed")
        return 0


def start_scheduler(rt: Runtime) -> BackgroundScheduler:
    """APScheduler only ticks; the claim in the database is what prevents double work."""
    assert rt.dispatcher is not None
    dispatcher = rt.dispatcher
    if rt.settings.embedded:
        # After a kill -9 our predecessor's polls are lost with it: poll those sources now, not after the lease.
        try:
            reclaim_predecessor_leases(rt.sessions, this_process(rt.settings.data_dir), utcnow())
        except Exception:
            log.exception("could not take back the leases of a previous process; they expire on their own")
    sched = BackgroundScheduler(timezone=UTC)
    now = datetime.now(UTC)
    sched.add_job(tick, "interval", args=[rt], seconds=rt.settings.schedule.tick, next_run_time=now,
                  max_instances=1, coalesce=True, id="tick")
    sched.add_job(dispatcher.publish_all, "interval", seconds=rt.settings.publish.refresh_interval,
                  next_run_time=now, max_instances=1, coalesce=True, id="refresh")
    # Deliveries (webhook notices, WebSub pings) on the notify queue or thread; claimed row by row, so
    # several schedulers dispatching runs at once never send one twice. Publishing kicks ping runs itself;
    # this catches retries that came due and anything a lost run left behind. The same run renews WebSub
    # subscriptions before their leases end ([wire]); polls kick it when a feed first advertises a hub.
    sched.add_job(_deliver_notices, "interval", args=[rt], seconds=rt.settings.webhooks.interval,
                  next_run_time=now, max_instances=1, coalesce=True, id="deliver_notices")
    # Retention (syndication.operations.retention): history pruned in short batches, first a few minutes after start so
    # a restart does not begin with it; several schedulers running it at once delete each row once.
    r = rt.settings.retention
    if r.enabled:
        sched.add_job(retention.run, "interval", args=[rt], seconds=r.interval,
                      next_run_time=now + timedelta(seconds=min(r.interval, RETENTION_FIRST_DELAY)),
                      max_instances=1, coalesce=True, id="retention")
    # The figures /ops draws over time (syndication.operations.ops.take_samples); a slot sampled already, by another
    # scheduler or before a restart, is not sampled again.
    sched.add_job(_sample_ops, "interval", args=[rt], seconds=rt.settings.ops.sample_seconds,
                  next_run_time=now, max_instances=1, coalesce=True, id="ops_samples")
    # The pages freed since (evicted entries, a written channel's items) back to the system (kernel.memory).
    sched.add_job(release_free_heap, "interval", seconds=RELEASE_EVERY_SECONDS, max_instances=1, coalesce=True,
                  id="release_free_heap")
    sched.start()
    return sched


def _deliver_notices(rt: Runtime) -> None:
    """Hand a webhook run, a WebSub ping run and a WebSub subscription run to the dispatcher (a worker's notify
    queue, or this process's notify thread): the scheduler itself never waits for a receiver or a hub."""

    assert rt.dispatcher is not None
    for task in (TASK_DELIVER_NOTICES, TASK_DELIVER_PINGS, TASK_WEBSUB_SUBSCRIPTIONS):
        try:
            rt.dispatcher.deliver(task)
        except Exception:
            log.exception("could not dispatch %s", task)


def _sample_ops(rt: Runtime) -> None:
    try:
        take_samples(rt)
    except Exception:
        log.exception("could not sample the operators' figures")
