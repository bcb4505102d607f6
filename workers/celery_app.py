"""Celery app and thin task wrappers over syndication.jobs (ids in, nothing else)."""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_process_shutdown

from syndication import jobs
from syndication.dispatch import (
    TASK_POLL,
    TASK_PUBLISH_ALL,
    TASK_PUBLISH_DIRTY,
    CeleryDispatcher,
    make_celery,
)
from syndication.runtime import Runtime, open_runtime
from syndication.settings import load_settings

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
            _rt = open_runtime(_settings, sync_partners=False)
            _rt.dispatcher = CeleryDispatcher(_settings)
        return _rt


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _rt is not None:
        _rt.close()


@app.task(name=TASK_POLL)
def poll_source(source_id: int, lease_token: str) -> dict[str, object] | None:
    rt = runtime()
    report = jobs.poll_source(rt, source_id, lease_token)
    if report is not None and (report.new or report.updated):
        assert rt.dispatcher is not None
        rt.dispatcher.publish_dirty()
    return report.as_dict() if report else None


@app.task(name=TASK_PUBLISH_DIRTY)
def publish_dirty() -> int:
    return len(jobs.publish_dirty(runtime()))


@app.task(name=TASK_PUBLISH_ALL)
def publish_all() -> int:
    return len(jobs.publish_all(runtime()))
