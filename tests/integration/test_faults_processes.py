"""Process-level faults: two `syndication scheduler` processes at once, and Redis restarted under queued work."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from syndication.db.models import Event, Item
from syndication.kernel.clock import utcnow
from syndication.runtime.schedule import claim_due
from tests.builders import rss
from tests.conftest import free_port
from tests.integration.scaled_support import (
    WorkerProc,
    atom_entries,
    open_scaled_runtime,
    scaled_env,
    start_process,
    syndication_cmd,
    tail,
    wait_for,
    workers,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

INTERVAL = 5  # the smallest interval a source may have


def test_two_schedulers_never_poll_a_source_twice_in_one_slot(
    tmp_path: Path, feed_server, redis_url: str, postgres_url: str
) -> None:
    n_sources = 6
    times: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()

    def handler_for(path: str, body: bytes):
        def handle(_req):
            with lock:
                times[path].append(time.monotonic())
            return 200, {"Content-Type": "application/rss+xml"}, body
        return handle

    partners = []
    for i in range(n_sources):
        path = f"/p{i}.rss"
        feed_server.add(path)
        feed_server.routes[path].handler = handler_for(path, rss(3, title=f"P{i}").encode())
        partners.append((f"p{i}", feed_server.url(path)))
    config = write_config(tmp_path / "syndication.toml", partners, interval=INTERVAL)
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, postgres_url, config, SYNDICATION_SCHEDULE__TICK="0.2",
                      SYNDICATION_FETCH__MAX_INTERVAL=str(INTERVAL))  # no adaptive slow-down of old feeds
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / "scheduler1.log", tmp_path / "scheduler2.log"]
    try:
        with workers() as started:
            started.append(WorkerProc(env, tmp_path / "worker.log", concurrency=2).ready())
            procs = [start_process(syndication_cmd("scheduler"), env, log) for log in logs]
            wait_for(lambda: len(times) == n_sources, 60, "every source to be polled once",
                     on_fail=lambda: "\n".join(tail(log) for log in logs))
            t0 = time.monotonic()
            run_for = 2 * INTERVAL + 2  # two more slots of every source, both schedulers ticking every 0.2 s
            while time.monotonic() - t0 < run_for:
                for p, log in zip(procs, logs, strict=True):
                    assert p.poll() is None, f"scheduler exited with {p.returncode}:\n{tail(log)}"
                time.sleep(0.5)
            for log in logs:
                assert "scheduler tick failed" not in tail(log, 10**7), tail(log)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    assert set(times) == {f"/p{i}.rss" for i in range(n_sources)}, "every source was polled"
    for path, stamps in times.items():
        assert len(stamps) >= 2, f"{path} polled only {len(stamps)} times"
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        # next_poll_at = end of the last poll + interval: two polls of one source are never closer.
        assert min(gaps) >= INTERVAL - 0.5, f"{path} polled twice in one slot: gaps {gaps}"
        assert len(stamps) <= (time.monotonic() - stamps[0]) / INTERVAL + 1


def _redis_server(port: int, directory: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes",
         "--appendfsync", "always", "--dir", str(directory), "--save", "", "--maxmemory-policy", "noeviction"],
        stdout=(directory / "redis.log").open("ab"), stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, socket_connect_timeout=1)
    try:
        wait_for(lambda: _pings(client), 15, f"redis-server on port {port}",
                 on_fail=lambda: tail(directory / "redis.log"))
    finally:
        client.close()
    return proc


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_redis_restart_with_queued_work_resumes_nothing_lost(
    tmp_path: Path, feed_server, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (the test starts its own, on another port)")
    n_sources = 4
    gate = threading.Event()

    def make(path: str, body: bytes):
        def handle(_req):
            if path == "/s0.rss":
                gate.wait(20)  # keeps the one worker process busy so the other polls stay queued
            return 200, {"Content-Type": "application/rss+xml"}, body
        return handle

    partners = []
    for i in range(n_sources):
        path = f"/s{i}.rss"
        feed_server.add(path)
        feed_server.routes[path].handler = make(path, rss([{"title": f"S{i} story {j}", "guid": f"s{i}-{j}",
                                                           "link": f"https://s{i}.example/{j}",
                                                           "html": f"<p>Story {j} of source {i}.</p>"}
                                                          for j in range(3)]).encode())
        partners.append((f"s{i}", feed_server.url(path)))
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    port = free_port()
    server = _redis_server(port, redis_dir)
    broker = f"redis://127.0.0.1:{port}/0"
    config = write_config(tmp_path / "syndication.toml", partners)
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, broker, postgres_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    log = tmp_path / "worker.log"
    try:
        with workers() as started:
            started.append(WorkerProc(env, log, concurrency=1).ready())
            claimed = claim_due(rt.sessions, utcnow(), lease_seconds=300, limit=10)
            assert len(claimed) == n_sources
            claimed.sort()
            rt.dispatcher.poll(*claimed[0])
            wait_for(lambda: any(p == "/s0.rss" for _, p, _ in feed_server.requests), 20, "the first poll to start",
                     on_fail=lambda: tail(log))
            for source_id, token in claimed[1:]:
                rt.dispatcher.poll(source_id, token)
            client = redis.Redis(port=port)
            prefix = env["SYNDICATION_CELERY__KEY_PREFIX"]
            assert client.llen(prefix + "fetch") == n_sources - 1, "the other polls wait in the queue"
            client.close()
            # Restart Redis (clean shutdown; append-only file keeps the queue) while the work is queued.
            server.terminate()
            server.wait(15)
            time.sleep(1.0)
            server = _redis_server(port, redis_dir)
            gate.set()
            wait_for(lambda: len(atom_entries(data_dir)) == 3 * n_sources, 60,
                     f"{3 * n_sources} items in all.atom after the Redis restart", on_fail=lambda: tail(log))
        titles = [e.title for e in atom_entries(data_dir)]
        assert len(titles) == len(set(titles)) == 3 * n_sources
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Item)) == 3 * n_sources
            created = s.scalar(select(func.count()).select_from(Event).where(Event.kind == "item.created"))
            assert created == 3 * n_sources
    finally:
        gate.set()
        rt.close()
        server.terminate()
        server.wait(15)
