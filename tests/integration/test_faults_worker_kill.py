"""kill -9 a worker in the middle of a poll task: the task comes back (redelivered by the other worker's unacked
sweep within visibility_timeout + restore_interval) and every item is published exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import func, select

from syndication.db.models import Event, Item, ItemVersion
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import load_settings
from syndication.runtime.context import open_runtime
from syndication.runtime.dispatch import CeleryDispatcher
from syndication.runtime.schedule import claim_due
from syndication.runtime.tasks import TASK_POLL
from tests.builders import rss
from tests.integration.scaled_support import FAST_CELERY, WorkerProc, scaled_env, tail, wait_for, workers, write_config

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

N_ITEMS = 40


def test_kill_9_worker_mid_task_redelivered_and_published_once(
    tmp_path: Path, feed_server, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = rss(N_ITEMS, title="Slow").encode()
    release = threading.Event()
    hits: list[float] = []

    def slow_first(_req):  # the first fetch hangs (the worker dies during it); later ones answer at once
        hits.append(time.monotonic())
        if len(hits) == 1:
            release.wait(30)
            return 503, {"Content-Type": "text/plain"}, b"gone"
        return 200, {"Content-Type": "application/rss+xml"}, body

    url = feed_server.add("/slow.rss")
    feed_server.routes["/slow.rss"].handler = slow_first
    config = write_config(tmp_path / "syndication.toml", [("slow", url)])
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, postgres_url, config)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    visibility = int(FAST_CELERY["SYNDICATION_CELERY__VISIBILITY_TIMEOUT"])
    restore = float(FAST_CELERY["SYNDICATION_CELERY__RESTORE_INTERVAL"])
    rt = open_runtime(settings)
    rt.dispatcher = CeleryDispatcher(settings)
    try:
        with workers() as started:
            victim = WorkerProc(env, tmp_path / "victim.log", queues="fetch", name="victim")
            started.append(victim)
            victim.ready()
            claimed = claim_due(rt.sessions, utcnow(), lease_seconds=300, limit=10)
            assert len(claimed) == 1
            rt.dispatcher.poll(*claimed[0])
            wait_for(lambda: hits, 30, "the victim worker to start fetching", on_fail=lambda: tail(victim.log))
            # Kill at once (before the soft time limit could turn this into a retry); the survivor starts
            # after the task was taken, so only a redelivery can give it the task.
            killed_at = time.monotonic()
            victim.kill()
            assert victim.proc.returncode == -9
            assert len(hits) == 1
            survivor = WorkerProc(env, tmp_path / "survivor.log", name="survivor")
            started.append(survivor)
            survivor.ready()
            ready_after = time.monotonic() - hits[0]
            wait_for(lambda: len(hits) >= 2, visibility + restore + 20, "the poll task to be redelivered",
                     on_fail=lambda: tail(survivor.log))
            redelivered_after = hits[1] - killed_at
            since_taken = hits[1] - hits[0]
            release.set()
            atom = data_dir / "public" / "feeds" / "all.atom"
            wait_for(lambda: atom.exists() and len(feedparser.parse(atom.read_bytes()).entries) == N_ITEMS, 30,
                     f"{N_ITEMS} items in all.atom", on_fail=lambda: tail(survivor.log))
            assert survivor.received(TASK_POLL) == 1
            print(f"\nREDELIVERY after kill -9: {redelivered_after:.1f}s after the kill, {since_taken:.1f}s after "
                  f"the task was taken (visibility_timeout={visibility}s, restore_interval={restore}s)")
            # Redelivered within the stated bound: visibility timeout (counted from delivery) + one sweep (+ slack),
            # or at once if the survivor only came up after that (its first sweep runs at start).
            assert since_taken <= max(visibility, ready_after) + restore + 5
        entries = feedparser.parse(atom.read_bytes()).entries
        assert len({e.id for e in entries}) == N_ITEMS
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Item)) == N_ITEMS
            assert s.scalar(select(func.count()).select_from(ItemVersion)) == N_ITEMS
            assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "item.created")) == N_ITEMS
    finally:
        release.set()
        rt.close()
