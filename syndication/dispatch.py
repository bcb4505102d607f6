"""Same task code, two dispatchers (DESIGN.md principle 3).

Embedded: a thread pool in this process. Scaled: Celery tasks over Redis, executed by `workers`.
Tasks carry ids and lease tokens only. This is the only module of `syndication` that imports Celery.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from celery import Celery

    from syndication.runtime import Runtime
    from syndication.settings import Settings

log = logging.getLogger(__name__)

QUEUES = ("fetch", "process", "publish", "notify")
TASK_POLL = "syndication.poll_source"
TASK_PUBLISH_DIRTY = "syndication.publish_dirty"
TASK_PUBLISH_ALL = "syndication.publish_all"


class Dispatcher(Protocol):
    def poll(self, source_id: int, lease_token: str) -> None: ...
    def publish_dirty(self) -> None: ...
    def publish_all(self) -> None: ...
    def close(self) -> None: ...


class LocalDispatcher:
    """In-process executor: polls on a pool, publishing on one thread, debounced after changes."""

    def __init__(self, rt: Runtime, threads: int = 4) -> None:
        self.rt = rt
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="poll")
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._running: set[Future[Any]] = set()

    @property
    def pending(self) -> int:
        return len(self._running)

    def _track(self, fut: Future[Any]) -> None:
        with self._lock:
            self._running.add(fut)
        fut.add_done_callback(lambda f: self._untrack(f))

    def _untrack(self, fut: Future[Any]) -> None:
        with self._lock:
            self._running.discard(fut)

    def poll(self, source_id: int, lease_token: str) -> None:
        self._track(self._pool.submit(self._poll, source_id, lease_token))

    def _poll(self, source_id: int, lease_token: str) -> None:
        from syndication import jobs

        report = jobs.poll_source(self.rt, source_id, lease_token)
        if report is not None and (report.new or report.updated):
            self.publish_dirty()

    def publish_dirty(self) -> None:
        with self._lock:
            if self._timer is not None:
                return  # one debounced publish is already pending; it will see this change too
            self._timer = threading.Timer(self.rt.settings.publish.debounce, self._fire_publish)
            self._timer.daemon = True
            self._timer.start()

    def _fire_publish(self) -> None:
        with self._lock:
            self._timer = None
        self._track(self._publisher.submit(self._run_safely, "publish_dirty"))

    def publish_all(self) -> None:
        self._track(self._publisher.submit(self._run_safely, "publish_all"))

    def _run_safely(self, name: str) -> None:
        from syndication import jobs

        try:
            getattr(jobs, name)(self.rt)
        except Exception:
            log.exception("%s failed", name)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._publisher.shutdown(wait=True, cancel_futures=True)


class CeleryDispatcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = make_celery(settings)

    def poll(self, source_id: int, lease_token: str) -> None:
        self.app.send_task(TASK_POLL, args=[source_id, lease_token], queue="fetch")

    def publish_dirty(self) -> None:
        self.app.send_task(TASK_PUBLISH_DIRTY, queue="publish", countdown=self.settings.publish.debounce)

    def publish_all(self) -> None:
        self.app.send_task(TASK_PUBLISH_ALL, queue="publish")

    def close(self) -> None:
        pass


def make_dispatcher(rt: Runtime) -> Dispatcher:
    if rt.settings.embedded:
        return LocalDispatcher(rt, rt.settings.schedule.executor_threads)
    return CeleryDispatcher(rt.settings)


def make_celery(settings: Settings) -> Celery:
    from celery import Celery
    from kombu import Queue

    app = Celery("syndication", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_queues=[Queue(q) for q in QUEUES],
        task_default_queue="process",
        task_routes={
            TASK_POLL: {"queue": "fetch"},
            TASK_PUBLISH_DIRTY: {"queue": "publish"},
            TASK_PUBLISH_ALL: {"queue": "publish"},
        },
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=240,
        task_time_limit=300,
        worker_max_tasks_per_child=1000,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
    )
    return app
