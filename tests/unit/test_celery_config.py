"""The Celery configuration of scaled mode: routing, at-least-once delivery, limits and the redelivery bound."""

from __future__ import annotations

import pytest

from syndication.kernel.settings import ConfigError, load_settings
from syndication.runtime.deadletters import is_transient
from syndication.runtime.dispatch import make_celery
from syndication.runtime.tasks import QUEUES, TASK_POLL, TASK_PUBLISH_ALL, TASK_PUBLISH_DIRTY


def test_queues_routing_and_delivery_guarantees() -> None:
    app = make_celery(load_settings(None, broker_url="redis://127.0.0.1:6379/0"))
    conf = app.conf
    assert [q.name for q in conf.task_queues] == list(QUEUES)
    router = app.amqp.router
    for task, queue in [(TASK_POLL, "fetch"), (TASK_PUBLISH_DIRTY, "publish"), (TASK_PUBLISH_ALL, "publish"),
                        ("syndication.deliver_notices", "notify"), ("syndication.replay_something", "fetch")]:
        assert router.route({}, task)["queue"].name == queue, task
    # [hardening] 15.8: no `process` queue, and no route to one (a task sent there would wait for ever).
    assert "process" not in QUEUES and all(r["queue"] in QUEUES for r in conf.task_routes.values())
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]
    assert conf.broker_transport_options["unacked_restore_throttle"] == 1
    assert conf.worker_max_tasks_per_child > 0
    assert conf.task_serializer == "json" and not conf.task_always_eager


def test_limits_must_stay_below_the_visibility_timeout() -> None:
    with pytest.raises(ConfigError, match="visibility_timeout"):
        load_settings(None, celery={"time_limit": 200, "visibility_timeout": 150})
    with pytest.raises(ConfigError, match="retry_backoff_max"):
        load_settings(None, celery={"retry_backoff_max": 300})


def test_worker_tasks_are_retried_by_celery_with_backoff_jitter_and_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's tasks use Celery's own autoretry (the task is the unit retried): transient failures only,
    exponential backoff from celery.retry_backoff, full jitter, capped at celery.retry_backoff_max."""
    import celery.app.autoretry
    from sqlalchemy.exc import OperationalError

    from workers.celery_app import SyndicationTask, app

    settings = load_settings(None)
    assert SyndicationTask.retry_backoff == settings.celery.retry_backoff
    assert SyndicationTask.retry_backoff_max == settings.celery.retry_backoff_max
    assert SyndicationTask.retry_jitter and SyndicationTask.max_retries == settings.celery.max_retries
    countdowns: list[int] = []
    real = celery.app.autoretry.get_exponential_backoff_interval

    def noted(**kwargs: object) -> int:
        countdowns.append(real(**kwargs))  # type: ignore[arg-type]
        return countdowns[-1]

    monkeypatch.setattr(celery.app.autoretry, "get_exponential_backoff_interval", noted)
    calls: list[int] = []

    @app.task(name="tests.flaky", base=SyndicationTask)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "done"

    assert flaky.apply().get() == "done"  # eager: Celery re-runs the retries at once
    assert len(calls) == 4 and len(countdowns) == 3
    assert all(0 <= c <= min(settings.celery.retry_backoff_max, settings.celery.retry_backoff * 2**n)
               for n, c in enumerate(countdowns))


def test_transient_versus_permanent() -> None:
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError

    assert is_transient(OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(DataError("INSERT", {}, Exception("value too long")))
    assert not is_transient(ValueError("bad document"))


def test_key_prefix_separates_deployments_sharing_a_redis() -> None:
    plain = make_celery(load_settings(None, broker_url="redis://127.0.0.1:6379/0"))
    assert "global_keyprefix" not in plain.conf.broker_transport_options
    app = make_celery(load_settings(None, broker_url="redis://127.0.0.1:6379/0", celery={"key_prefix": "blue:"}))
    assert app.conf.broker_transport_options["global_keyprefix"] == "blue:"


def test_a_worker_releases_freed_heap_pages_after_tasks_at_most_every_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """[hardening] 10: a worker renders and evicts as `run` does; its freed pages go back (kernel.memory)."""
    from celery.signals import task_postrun

    from syndication.runtime import dispatch

    make_celery(load_settings(None, broker_url="redis://127.0.0.1:6379/0"))
    calls: list[int] = []
    monkeypatch.setattr(dispatch, "release_free_heap", lambda: calls.append(1) or True)
    monkeypatch.setattr(dispatch, "_heap_released_at", 0.0)
    for _ in range(5):  # five tasks back to back: one release
        task_postrun.send(sender=None, task_id="t", task=None, args=(), kwargs={}, retval=None, state="SUCCESS")
    assert calls == [1]
    monkeypatch.setattr(dispatch, "_heap_released_at", dispatch.time.monotonic() - dispatch.RELEASE_EVERY_SECONDS)
    task_postrun.send(sender=None, task_id="t", task=None, args=(), kwargs={}, retval=None, state="SUCCESS")
    assert calls == [1, 1]
