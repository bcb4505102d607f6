"""Bulk rounds publish once in scaled mode: real Celery worker processes on the real Redis, the scheduler
tick in this process. N polls of one round send one publish task, and publish requests made by any number
of processes while a publish task waits to start share that task."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import feedparser
import pytest
import redis

from syndication.kernel.settings import load_settings
from syndication.operations import service
from syndication.runtime.dispatch import CeleryDispatcher
from syndication.runtime.tasks import TASK_POLL, TASK_PUBLISH_DIRTY
from tests.integration.scaled_support import (
    WorkerProc,
    open_scaled_runtime,
    scaled_env,
    tail,
    wait_for,
    workers,
    write_config,
)
from tests.integration.test_rounds import partner_feed

pytestmark = [pytest.mark.redis]


def test_publish_requests_share_one_waiting_task(redis_url: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    settings = load_settings(None, data_dir=str(tmp_path / "var"), broker_url=redis_url,
                             celery={"key_prefix": prefix}, publish={"debounce": 30})
    senders = [CeleryDispatcher(settings) for _ in range(4)]  # four processes' dispatchers, say
    client = redis.Redis.from_url(redis_url)
    try:
        threads = [threading.Thread(target=lambda d=d: [d.publish_dirty() for _ in range(10)]) for d in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.llen(f"{prefix}publish") == 1, "40 requests before the task started: one task"
        senders[0].publish_started()  # what the task does before it relays
        senders[1].publish_dirty()
        senders[2].publish_dirty()
        assert client.llen(f"{prefix}publish") == 2, "a request after the task started needs a task of its own"
    finally:
        for d in senders:
            d.close()
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


@pytest.mark.slow
def test_a_scaled_round_sends_one_publish_task(
    tmp_path: Path, feed_server, redis_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Answers spread over ~1.5 s, two worker processes: polls end apart and, some, together.
    urls = [partner_feed(feed_server, n, 2, delay=0.3 * n) for n in range(6)]
    config = write_config(tmp_path / "syndication.toml", [(f"p{n}", url) for n, url in enumerate(urls)])
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, database_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    log = tmp_path / "worker.log"
    expected = {f"Partner {n} story {i}" for n in range(6) for i in range(2)}
    atom = data_dir / "public" / "feeds" / "all.atom"
    try:
        with workers() as started:
            worker = WorkerProc(env, log, concurrency=2).ready()
            started.append(worker)
            assert service.tick(rt) == 6

            def published() -> bool:
                return atom.exists() and {e.title for e in feedparser.parse(atom.read_bytes()).entries} == expected

            wait_for(published, 60, "every story in all.atom", on_fail=lambda: tail(log))
            wait_for(lambda: worker.received(TASK_POLL) == 6, 10, "six polls")
            service.tick(rt)  # the scheduler's next tick: nothing left to publish
            time.sleep(1.0)
            assert worker.received(TASK_PUBLISH_DIRTY) == 1, tail(log)
    finally:
        rt.close()
