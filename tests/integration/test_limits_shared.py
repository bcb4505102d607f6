"""[hardening] Limits of scaled mode hold across processes: fetches in flight per partner host (two real
Celery workers against one host that counts its concurrent requests), a slot whose holder was killed frees
itself, and the push rate limit holds across two real web processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select

from syndication.db.models import Poll
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.limiters import RedisHostSlots, SlotsBusy
from syndication.operations import service
from syndication.partners.keys import issue_key, load_pepper
from tests.builders import rss
from tests.conftest import FeedServer, free_port
from tests.integration.scaled_support import (
    REPO,
    WorkerProc,
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

HOLDER = """
import sys, time, redis
from syndication.kernel.limiters import RedisHostSlots
slots = RedisHostSlots(redis.Redis.from_url(sys.argv[1]), 2, sys.argv[2], ttl=float(sys.argv[3]))
held = [slots.hold("agency.example", wait=5) for _ in range(2)]
for h in held:
    h.__enter__()
print("held", flush=True)
time.sleep(600)
"""


def test_redis_slots_are_shared_kept_while_alive_and_freed_when_the_holder_dies(redis_url: str) -> None:
    ttl = 1.5
    prefix = f"t{os.getpid()}:"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, redis_url, prefix, str(ttl)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    client = redis.Redis.from_url(redis_url)
    slots = RedisHostSlots(client, 2, prefix, ttl=ttl)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        # Another process sees both slots taken, for longer than the expiry: the holder's heartbeat keeps them.
        with pytest.raises(SlotsBusy), slots.hold("agency.example", wait=2 * ttl):
            pass
        with slots.hold("other.example", wait=0.5):  # other hosts are not affected
            pass
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(10)
        t0 = time.monotonic()
        with slots.hold("agency.example", wait=10), slots.hold("agency.example", wait=10):
            freed_after = time.monotonic() - t0
        assert freed_after <= ttl + 1.0, f"the dead holder's slots came free only after {freed_after:.1f}s"
        # Released slots are free at once.
        t0 = time.monotonic()
        with slots.hold("agency.example", wait=1), slots.hold("agency.example", wait=1):
            assert time.monotonic() - t0 < 0.5
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(10)
        slots.close()


def test_two_celery_workers_never_exceed_the_per_host_concurrency(
    tmp_path: Path, feed_server: FeedServer, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "served": 0}

    def stalling(body: bytes) -> Any:
        def handler(_: Any) -> tuple[int, dict[str, str], bytes]:
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(1.2)
            with lock:
                state["now"] -= 1
                state["served"] += 1
            return 200, {"Content-Type": "application/rss+xml"}, body
        return handler

    n = 6
    partners = []
    for i in range(n):
        path = f"/p{i}.rss"
        feed_server.add(path)
        feed_server.routes[path].handler = stalling(rss(1, title=f"P{i}").encode())
        partners.append((f"p{i}", feed_server.url(path)))
    config = write_config(tmp_path / "syndication.toml", partners)
    env = scaled_env(tmp_path / "var", redis_url, postgres_url, config, SYNDICATION_FETCH__PER_HOST_CONCURRENCY="2")
    rt = open_scaled_runtime(env, monkeypatch)
    try:
        with workers() as started:
            # Two worker processes with two pool processes each: four polls can run at once, two may fetch.
            for name in ("w1", "w2"):
                started.append(WorkerProc(env, tmp_path / f"{name}.log", concurrency=2, name=name))
            for w in started:
                w.ready()
            assert service.tick(rt) == n

            def polled() -> int:
                with rt.sessions() as s:
                    return int(s.scalar(select(func.count()).select_from(Poll)) or 0)

            wait_for(lambda: polled() == n, 90, f"{n} polls",
                     on_fail=lambda: "\n".join(tail(w.log) for w in started))
            logs = "".join(tail(w.log, 10**7) for w in started)
            assert all(w.received("syndication.poll_source") >= 1 for w in started), "both workers polled"
    finally:
        rt.close()
    assert state["served"] == n
    assert state["peak"] == 2, f"{state['peak']} requests at once to one host (limit 2)\n{logs[-3000:]}"


def test_push_rate_limit_holds_across_two_web_processes(
    tmp_path: Path, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "syndication.toml"
    config.write_text('[[partners]]\nid = "turan"\nname = "Turan"\ncredit = "Turan news agency"\n'
                      '[[partners.sources]]\nkind = "push"\n')
    env = scaled_env(tmp_path / "var", redis_url, postgres_url, config, SYNDICATION_API__RATE_LIMIT_PER_MINUTE="3")
    rt = open_scaled_runtime(env, monkeypatch)
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    rt.close()
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"web{i}.log" for i in range(2)]
    procs = [start_process(syndication_cmd("web", "--host", "127.0.0.1", "--port", str(port)), env, log)
             for port, log in zip(ports, logs, strict=True)]
    try:
        for port, log in zip(ports, logs, strict=True):
            wait_for(lambda p=port: _answers(f"http://127.0.0.1:{p}/healthz"), 60, f"web on port {port}",
                     on_fail=lambda lg=log: tail(lg))
        statuses = []
        for i in range(8):
            resp = httpx.post(f"http://127.0.0.1:{ports[i % 2]}/api/v1/partners/turan/items",
                              content=rss(1, title=f"Push {i}"),
                              headers={"Authorization": f"Bearer {key}", "Content-Type": "application/rss+xml"},
                              timeout=30)
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert int(resp.headers["retry-after"]) >= 1
        assert statuses.count(202) == 3, (statuses, [tail(lg) for lg in logs])
        assert statuses.count(429) == 5, statuses
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
