"""Same task code, two dispatchers (DESIGN.md principle 3).

Embedded: a thread pool in this process. Scaled: Celery tasks over Redis, executed by `workers`.
Tasks carry ids and lease tokens only. This is the only module of `syndication` that imports Celery.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from syndication.kernel.memory import RELEASE_EVERY_SECONDS, release_free_heap
from syndication.runtime import cpu, jobs, rounds
from syndication.runtime.tasks import QUEUES, TASK_POLL, TASK_PUBLISH_ALL, TASK_PUBLISH_DIRTY

if TYPE_CHECKING:
    from celery import Celery

    from syndication.kernel.settings import Settings
    from syndication.runtime.context import Runtime

log = logging.getLogger(__name__)



class Dispatcher(Protocol):
    def poll(self, source_id: int, lease_token: str) -> None: ...
    def publish_dirty(self) -> None: ...
    def publish_all(self) -> None: ...
    # A delivery run on the notify queue (webhook notices, WebSub pings), by task name, after `countdown` s.
    def deliver(self, task: str, countdown: float = 0.0) -> None: ...
    def close(self) -> None: ...


class LocalDispatcher:
    """In-process executor: polls on a pool, publishing on one thread, debounced after changes."""

    def __init__(self, rt: Runtime, threads: int = 4) -> None:
        self.rt = rt

        cpu.attach(rt)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="poll")
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        # Deliveries (webhooks, WebSub pings) on their own thread: a slow receiver or hub never holds up
        # polling or publishing.
        self._notifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._queued: set[str] = set()  # delivery tasks submitted and not started: one is enough
        self._delivery_timers: dict[str, tuple[float, threading.Timer]] = {}
        self._closed = False
        self._running: dict[Future[Any], str] = {}  # submitted and not finished, with their queue

    @property
    def pending(self) -> int:
        return len(self._running)

    def waiting(self, queue: str) -> int:
        """Work of this queue (poll, publish, notify) submitted and not started yet: the executor's queue depth,
        told by the futures themselves (ThreadPoolExecutor has no public queue)."""
        with self._lock:
            return sum(1 for fut, q in self._running.items() if q == queue and not fut.running() and not fut.done())

    def _track(self, fut: Future[Any], queue: str) -> None:
        with self._lock:
            self._running[fut] = queue
        fut.add_done_callback(lambda f: self._untrack(f))

    def _untrack(self, fut: Future[Any]) -> None:
        with self._lock:
            self._running.pop(fut, None)

    def poll(self, source_id: int, lease_token: str) -> None:
        self._track(self._pool.submit(self._poll, source_id, lease_token), "poll")

    def _poll(self, source_id: int, lease_token: str) -> None:
        try:
            round_id = rounds.round_of(self.rt.sessions, source_id, lease_token)
            report = jobs.poll_source(self.rt, source_id, lease_token)
            if report is not None:
                # Published when its round of polls ends, not after each poll (syndication.runtime.rounds).
                rounds.after_poll(self.rt.sessions, round_id, bool(report.new or report.updated), self.publish_dirty)
        except Exception:  # a lost database connection, say: the lease expires and the source is re-claimed
            log.exception("poll of source %s failed", source_id)

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
        self._track(self._publisher.submit(self._run_safely, "publish_dirty"), "publish")

    def publish_all(self) -> None:
        self._track(self._publisher.submit(self._run_safely, "publish_all"), "publish")

    def _run_safely(self, name: str) -> None:
        try:
            getattr(jobs, name)(self.rt)
        except Exception:
            log.exception("%s failed", name)

    def deliver(self, task: str, countdown: float = 0.0) -> None:
        with self._lock:
            if self._closed:
                return
            if countdown > 0:
                at = time.monotonic() + countdown
                pending = self._delivery_timers.get(task)
                if pending is not None and pending[0] <= at:
                    return  # an earlier run is already set; it dispatches its own follow-up
                if pending is not None:
                    pending[1].cancel()
                timer = threading.Timer(countdown, self._fire_delivery, args=(task,))
                timer.daemon = True
                self._delivery_timers[task] = (at, timer)
                timer.start()
                return
            if task in self._queued:
                return
            self._queued.add(task)
        self._track(self._notifier.submit(self._deliver, task), "notify")

    def _fire_delivery(self, task: str) -> None:
        with self._lock:
            self._delivery_timers.pop(task, None)
        self.deliver(task)

    def _deliver(self, task: str) -> None:
        with self._lock:
            self._queued.discard(task)
        try:
            jobs.DELIVERIES[task](self.rt)
        except Exception:
            log.exception("%s failed", task)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for _, timer in self._delivery_timers.values():
                timer.cancel()
            self._delivery_timers.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._publisher.shutdown(wait=True, cancel_futures=True)
        self._notifier.shutdown(wait=True, cancel_futures=True)


class CeleryDispatcher:
    """Scaled mode: send ids (and lease tokens) to the queues; workers run the same jobs."""

    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        self.settings = settings
        self.app = app if app is not None else make_celery(settings)
        self._redis: Any = None

    def poll(self, source_id: int, lease_token: str) -> None:
        self.app.send_task(TASK_POLL, args=[source_id, lease_token], queue="fetch")

    @property
    def pending_key(self) -> str:
        """Set (in the broker's Redis) while a debounced publish_dirty task waits to start."""
        return f"{self.settings.celery.key_prefix}syndication:publish_dirty:pending"

    def _client(self) -> Any:
        if self._redis is None:
            import redis  # lazy: start-up: only the Celery dispatcher talks to Redis

            self._redis = redis.Redis.from_url(self.settings.broker_url, socket_timeout=5, socket_connect_timeout=5)
        return self._redis

    def publish_dirty(self) -> None:
        """Debounced, and one task for every request made before it starts, whichever process made them:
        the first request sets the pending key and sends the task; the task deletes the key before it
        relays, so a change committed before a later request is either seen by that task or requests a new
        one (no clock is compared). The key's expiry only bounds the damage of a task lost for good."""
        debounce = self.settings.publish.debounce
        try:
            ttl = int((debounce + self.settings.celery.visibility_timeout) * 1000)
            first = self._client().set(self.pending_key, "1", nx=True, px=ttl)
        except Exception as exc:  # Redis unreachable: send anyway; a spare publish costs less than a lost one
            log.warning("publish debounce key unavailable (%s); sending the publish task", exc)
            first = True
        if not first:
            return  # a publish task is waiting to start: it will see this change
        # The countdown (seconds) stays far below the visibility timeout (see CelerySettings).
        self.app.send_task(TASK_PUBLISH_DIRTY, queue="publish", countdown=debounce)

    def publish_started(self) -> None:
        """Called by the publish_dirty task before it relays: requests from now on need a new task."""
        try:
            self._client().delete(self.pending_key)
        except Exception as exc:  # the key expires by itself; until then requests ride on a task
            log.warning("could not clear the publish debounce key (%s)", exc)

    def publish_all(self) -> None:
        self.app.send_task(TASK_PUBLISH_ALL, queue="publish")

    def deliver(self, task: str, countdown: float = 0.0) -> None:
        # Callers keep countdowns below the visibility timeout (jobs._follow_up_bound).
        self.app.send_task(task, queue="notify", countdown=countdown or None)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


def make_dispatcher(rt: Runtime) -> Dispatcher:
    if rt.settings.embedded:
        return LocalDispatcher(rt, rt.settings.schedule.executor_threads)
    return CeleryDispatcher(rt.settings)


# Routing by task name: any task of ours lands on the queue of its kind of work, including tasks other
# areas add later (name them syndication.poll_*, fetch_*, publish_*, notify_*, deliver_*); any other name goes
# to the default queue, fetch.
TASK_ROUTES: dict[str, dict[str, str]] = {
    TASK_POLL: {"queue": "fetch"},
    "syndication.poll_*": {"queue": "fetch"},
    "syndication.fetch_*": {"queue": "fetch"},
    "syndication.publish_*": {"queue": "publish"},
    "syndication.notify_*": {"queue": "notify"},
    "syndication.deliver_*": {"queue": "notify"},
}


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration of scaled mode (DESIGN.md, Celery + Redis pitfalls).

    Redelivery bound: a task whose worker dies (kill -9, host lost) stays in Redis' unacked set; any live
    worker's sweep (every `restore_interval` s) puts it back once it is older than `visibility_timeout`.
    So it runs again within visibility_timeout + restore_interval (+ the time to reach an idle worker).
    A task killed alone (its pool child dies, the worker survives) is requeued at once
    (task_reject_on_worker_lost). A running task never reaches the visibility timeout: time_limit is below
    it, and so is every countdown (retry backoff, publish debounce).
    """
    c = settings.celery
    return {
        "task_queues": None,  # set in make_celery (kombu objects)
        "task_default_queue": "fetch",
        "task_routes": TASK_ROUTES,
        "task_create_missing_queues": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # At least once: ack after the task ran; requeue when its process died; tasks are idempotent.
        "task_acks_late": True,
        "task_acks_on_failure_or_timeout": True,  # a task that failed for good is dead-lettered, not requeued
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # (not worker_disable_prefetch: the debounced publish_dirty waits reserved, and would block a slot)
        "task_soft_time_limit": c.soft_time_limit,
        "task_time_limit": c.time_limit,
        "worker_max_tasks_per_child": c.max_tasks_per_child,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # keep trying while Redis restarts
        "broker_transport_options": {
            "visibility_timeout": c.visibility_timeout,
            "unacked_restore_interval": c.restore_interval,
            "unacked_restore_throttle": 1,  # the sweep period is restore_interval itself
            "unacked_mutex_expire": max(10, int(c.restore_interval * 4)),
            "socket_timeout": 30,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "health_check_interval": 10,
            "retry_on_timeout": True,
            **({"global_keyprefix": c.key_prefix} if c.key_prefix else {}),
        },
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 10, "interval_start": 0.2, "interval_step": 0.5,
                                      "interval_max": 3},
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,  # Flower
        "task_send_sent_event": True,
    }


def make_celery(settings: Settings) -> Celery:
    from celery import Celery  # lazy: start-up: Celery costs ~0.1 s; embedded installs never load it
    from kombu import Queue

    app = Celery("syndication", broker=settings.broker_url or None, set_as_current=False)
    conf = celery_config(settings)
    conf["task_queues"] = [Queue(q, routing_key=q) for q in QUEUES]
    app.conf.update(conf)
    # lazy: start-up: Celery costs ~0.1 s; embedded installs never load it
    from celery.signals import before_task_publish, task_postrun

    # [operators] the age of the oldest waiting message is read from this header (syndication.operations.ops).
    before_task_publish.connect(_stamp_enqueued_at, weak=False, dispatch_uid="syndication.enqueued_at")
    # [hardening] 10: a worker renders and evicts all day, as `run` does; its freed pages go back too.
    task_postrun.connect(_release_heap_now_and_then, weak=False, dispatch_uid="syndication.release_heap")
    return app


_heap_released_at = 0.0


def _release_heap_now_and_then(**_: Any) -> None:
    """After a task, at most every RELEASE_EVERY_SECONDS (kernel.memory: a few ms on a large heap)."""
    global _heap_released_at
    now = time.monotonic()
    if now - _heap_released_at >= RELEASE_EVERY_SECONDS:
        _heap_released_at = now
        release_free_heap()


def _stamp_enqueued_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers["enqueued_at"] = time.time()
