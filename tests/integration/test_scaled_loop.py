"""Scaled mode end to end: a real `celery -A workers worker` process on the real Redis, the scheduler role
dispatching over Celery, a feed served by the local HTTP server, items in <data_dir>/public/feeds/all.atom."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
from sqlalchemy import func, select

from syndication.db.models import Poll
from syndication.kernel.settings import load_settings
from syndication.operations import service
from syndication.runtime.context import open_runtime
from syndication.runtime.dispatch import CeleryDispatcher
from syndication.runtime.tasks import TASK_POLL
from tests.builders import rss
from tests.integration.scaled_support import WorkerProc, scaled_env, tail, wait_for, workers, write_config

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_scheduler_dispatches_to_real_worker_end_to_end(
    tmp_path: Path, feed_server, redis_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = feed_server.add_feed("/wire.rss", rss(5, title="Wire"), etag='"v1"')
    config = write_config(tmp_path / "syndication.toml", [("wire", url)])
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, database_url, config)
    for key, value in env.items():  # the in-process scheduler reads the same settings as the worker
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert not settings.embedded
    rt = open_runtime(settings)  # migrates and syncs the partner, as `syndication scheduler` does
    rt.dispatcher = CeleryDispatcher(settings)
    log = tmp_path / "worker.log"
    with workers() as started:
        started.append(WorkerProc(env, log).ready())
        assert service.tick(rt) == 1, "the scheduler tick should claim the one due source"
        atom = data_dir / "public" / "feeds" / "all.atom"

        def published() -> bool:
            return atom.exists() and len(feedparser.parse(atom.read_bytes()).entries) == 5

        wait_for(published, 45, "5 items in all.atom", on_fail=lambda: tail(log))
        assert service.tick(rt) == 0, "the source is not due again before its interval"
        parsed = feedparser.parse(atom.read_bytes())
        assert parsed.bozo == 0
        assert sorted(e.title for e in parsed.entries) == [f"Story {i}" for i in range(5)]
        # Channels are published one after another: the partner's own channel may follow all.atom by a moment.
        wire_rss = data_dir / "public" / "feeds" / "partners" / "wire.rss"
        wait_for(wire_rss.exists, 15, "the partner channel partners/wire.rss", on_fail=lambda: tail(log))
        # One task per source poll, never one per item: 5 items, one poll task, one fetch at the server.
        assert started[0].received(TASK_POLL) == 1, tail(log)
        assert [p for _, p, _ in feed_server.requests].count("/wire.rss") == 1
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Poll)) == 1
    rt.close()
