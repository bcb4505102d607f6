"""Celery app and thin task wrappers over syndication.runtime.jobs (ids in, nothing else).

Run per queue group, e.g. `celery -A workers worker -Q fetch -c 8`, `celery -A workers worker -Q publish -c 2`,
`celery -A workers worker -Q notify` (docs/scaling-out.md). Every task here is idempotent: a poll with a stale
lease token does nothing, stores are upserts, publishing writes only changed files.

Failures: a transient one (deadletters.transient_errors: lost database connection, broker hiccup, soft time
limit) is retried by Celery itself (`autoretry_for`, `retry_backoff` doubling up to `retry_backoff_max`, full
`retry_jitter`) up to settings.celery.max_retries times; a permanent one is not retried. Either way a task that
gives up is written to the dead_letters table.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown

from syndication.db.session import make_engine, make_sessionmaker
from syndication.kernel.settings import load_settings
from syndication.runtime import deadletters, jobs, rounds
from syndication.runtime.context import Runtime, open_runtime
from syndication.runtime.dispatch import CeleryDispatcher, make_celery
from syndication.runtime.tasks import (
    TASK_DELIVER_NOTICES,
    TASK_DELIVER_PINGS,
    TASK_POLL,
    TASK_PUBLISH_ALL,
    TASK_PUBLISH_DIRTY,
    TASK_WEBSUB_SUBSCRIPTIONS,
)

log = logging.getLogger(__name__)
_settings = load_settings()
app = make_celery(_settings)

_rt: Runtime | None = None
_rt_lock = threading.Lock()


def runtime() -> Runtime:
    """One runtime per worker process, opened lazily (after fork), partners not re-synced."""
    global _rt
    with _rt_lock:
        if _rt is None:
            rt = open_runtime(_settings, sync_partners=False)
            rt.dispatcher = CeleryDispatcher(_settings, app)
            _rt = rt
        return _rt


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _rt is not None:
        _rt.close()


class SyndicationTask(Task):  # type: ignore[misc]
    """Celery retries transient failures with exponential backoff and full jitter; whatever fails for good is
    dead-lettered."""

    autoretry_for = deadletters.transient_errors()
    max_retries = _settings.celery.max_retries
    retry_backoff = _settings.celery.retry_backoff
    retry_backoff_max = _settings.celery.retry_backoff_max
    retry_jitter = True
    typing = False

    def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """One line for operators per retry Celery schedules (the worker log says which task, why, which try)."""
        log.warning("%s%s: transient failure (%s); retry %d/%d", self.name, list(args or []),
                    deadletters.error_text(exc), (self.request.retries or 0) + 1, self.max_retries)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        attempts = (getattr(self.request, "retries", 0) or 0) + 1
        tb_text = str(einfo) if einfo is not None else "".join(traceback.format_exception(exc))
        # A hard time limit calls this in the worker's main process: never open the pool's runtime there (its
        # connections would be inherited by pool processes forked later); use a short-lived engine instead.
        engine = None if _rt is not None else make_engine(_settings.effective_database_url)
        try:
            sessions = _rt.sessions if _rt is not None else make_sessionmaker(engine)  # type: ignore[arg-type]
            deadletters.record(sessions, task=self.name, args=list(args or []),
                               error=deadletters.error_text(exc), traceback=tb_text, attempts=attempts)
        except Exception:
            log.exception("could not write the dead letter of %s%s (error was %s)", self.name, args, exc)
        finally:
            if engine is not None:
                engine.dispose()


@app.task(name=TASK_POLL, base=SyndicationTask)
def poll_source(source_id: int, lease_token: str) -> dict[str, object] | None:
    """Poll one source (fetch + parse + normalise + store, one batch per document); a stale lease is a no-op."""
    rt = runtime()
    round_id = rounds.round_of(rt.sessions, source_id, lease_token)
    report = jobs.poll_source(rt, source_id, lease_token, raise_transient=True)
    if report is not None:
        # Published when its round of polls ends, exactly as in embedded mode (syndication.runtime.rounds); the
        # publish task is debounced on the publish queue.
        assert rt.dispatcher is not None
        rounds.after_poll(rt.sessions, round_id, bool(report.new or report.updated), rt.dispatcher.publish_dirty)
    return report.as_dict() if report else None


@app.task(name=TASK_PUBLISH_DIRTY, base=SyndicationTask)
def publish_dirty() -> int:
    rt = runtime()
    assert isinstance(rt.dispatcher, CeleryDispatcher)
    rt.dispatcher.publish_started()  # before the relay: a change requested from now on needs a new task
    return len(jobs.publish_dirty(rt))


@app.task(name=TASK_PUBLISH_ALL, base=SyndicationTask)
def publish_all() -> int:
    return len(jobs.publish_all(runtime()))




@app.task(name=TASK_DELIVER_NOTICES, base=SyndicationTask)  # routed to the notify queue (TASK_ROUTES)
def deliver_notices() -> dict[str, object]:
    """One webhook delivery run; each delivery is claimed just before its POST, so runs never overlap."""
    return jobs.deliver_notices(runtime())


@app.task(name=TASK_DELIVER_PINGS, base=SyndicationTask)  # notify queue
def deliver_pings() -> dict[str, object]:
    """One WebSub ping run; retries come back as follow-up tasks with a countdown (jobs.deliver_pings)."""
    return jobs.deliver_pings(runtime())


@app.task(name=TASK_WEBSUB_SUBSCRIPTIONS, base=SyndicationTask)  # notify queue
def deliver_subscriptions() -> dict[str, object]:
    """One WebSub subscription run ([wire]): subscribe to advertised hubs, renew leases, unsubscribe."""
    return jobs.websub_subscriptions(runtime())
