"""Operators' view of scaled mode with a real Celery worker over Redis and PostgreSQL: workers online,
a running task, a waiting message with its age, and /metrics matching the database afterwards."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from syndication.db.models import OpsSample, Poll, Source
from syndication.operations import ops
from syndication.runtime.schedule import claim_sources
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer
from tests.integration.scaled_support import (
    WorkerProc,
    open_scaled_runtime,
    scaled_env,
    wait_for,
    workers,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def test_queues_workers_and_running_tasks(tmp_path: Path, feed_server: FeedServer, redis_url: str,
                                          postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    body = rss(2).encode()

    def slow(_: Any) -> tuple[int, dict[str, str], bytes]:
        release.wait(30)
        return 200, {"Content-Type": "application/rss+xml"}, body

    feed_server.add("/slow.rss")
    feed_server.routes["/slow.rss"].handler = slow
    other = feed_server.add_feed("/other.rss", rss(1))
    cfg = write_config(tmp_path / "syndication.toml", [("slow", feed_server.url("/slow.rss")), ("other", other)])
    env = scaled_env(tmp_path / "var", redis_url, postgres_url, cfg)
    rt = open_scaled_runtime(env, monkeypatch)
    try:
        with rt.sessions() as s:
            ids = dict(s.execute(select(Source.partner_id, Source.id)).all())
        with workers() as started:
            started.append(WorkerProc(env, tmp_path / "worker.log", queues="fetch", concurrency=1).ready())
            claims = dict(claim_sources(rt.sessions, [ids["slow"], ids["other"]], ops.utcnow(), lease_seconds=60))
            rt.dispatcher.poll(ids["slow"], claims[ids["slow"]])

            def busy() -> dict[str, Any] | None:
                rt.extras.pop("ops.workers", None)  # no cached ping
                q = ops.queues(rt)
                return q if q["running"] == 1 and q["workers"] else None

            q = wait_for(busy, 30, "the worker to take the slow poll")
            assert q["workers"][0].startswith("w1@")
            rt.dispatcher.poll(ids["other"], claims[ids["other"]])  # waits: the only pool process is busy
            q = wait_for(lambda: (lambda q: q if q["queues"][0]["depth"] == 1 else None)(ops.queues(rt)), 10,
                         "the second poll to wait in the fetch queue")
            fetch = q["queues"][0]
            assert fetch["queue"] == "fetch" and fetch["oldest_age_seconds"] is not None
            assert q["oldest_running_age_seconds"] is not None
            # [newcomer] The /ops chart of jobs waiting samples the same broker (the scheduler's take_samples).
            ops.take_samples(rt)
            with rt.sessions() as s:
                depths = dict(s.execute(select(OpsSample.subject, OpsSample.value)
                                        .where(OpsSample.metric == "queue_depth")).all())
            assert depths == {"fetch": 1, "publish": 0, "notify": 0}
            release.set()
            wait_for(lambda: ops.queues(rt)["running"] == 0 and ops.queues(rt)["queues"][0]["depth"] == 0, 30,
                     "both polls to finish")
            wait_for(lambda: rt.sessions().scalar(select(func.count()).select_from(Poll)) == 2, 30,
                     "both polls recorded")
        client = TestClient(create_app(rt), client=("127.0.0.1", 5000))
        assert client.get("/readyz").json()["broker"] == "ok"
        samples: dict[str, list[Any]] = {}
        for fam in text_string_to_metric_families(client.get("/metrics").text):
            for smp in fam.samples:
                samples.setdefault(smp.name, []).append(smp)
        polls = {(s.labels["partner"], s.labels["outcome"]): s.value for s in samples["syndication_polls_total"]}
        assert polls == {("slow", "ok"): 1, ("other", "ok"): 1}
        assert {s.labels["queue"]: s.value for s in samples["syndication_queue_depth"]}["fetch"] == 0
        assert samples["syndication_broker_up"][0].value == 1
    finally:
        release.set()
        rt.close()
