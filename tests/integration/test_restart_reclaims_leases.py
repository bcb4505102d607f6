"""[hardening] kill -9 of `syndication run` mid-poll: the restarted process polls the source again at once,
not after `schedule.lease_seconds`; a live holder's lease is never taken; scaled mode keeps lease expiry."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from syndication.db.models import Poll, Source
from syndication.kernel.clock import utcnow
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import Holder, claim_due, holder_for, reclaim_predecessor_leases, this_process
from tests.builders import rss
from tests.conftest import FeedServer, free_port
from tests.integration.scaled_support import start_process, syndication_cmd, tail, wait_for

LEASE = 120  # what the restart must not wait for


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
def test_restart_after_kill_9_polls_the_stalled_source_at_once(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    release = threading.Event()
    hits: list[float] = []
    body = rss(2).encode()

    def stall_first(_: Any) -> tuple[int, dict[str, str], bytes]:
        hits.append(time.monotonic())
        if len(hits) == 1:
            release.wait(60)  # the first poll hangs until its process is killed (and the test ends)
        return 200, {"Content-Type": "application/rss+xml"}, body

    feed_server.add("/wire.rss")
    feed_server.routes["/wire.rss"].handler = stall_first
    config = tmp_path / "syndication.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "var"}"\ndatabase_url = "{database_url}"\n'
        f"[fetch]\nallow_private_addresses = true\nread_timeout = 90\n"
        f"[schedule]\ntick = 0.2\nlease_seconds = {LEASE}\n"
        f'[[partners]]\nid = "wire"\nname = "Wire"\n[[partners.sources]]\nkind = "feed"\n'
        f'url = "{feed_server.url("/wire.rss")}"\ninterval = 3600\n'
    )
    env = {"SYNDICATION_CONFIG": str(config), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    logs = [tmp_path / "run1.log", tmp_path / "run2.log"]
    first = start_process(syndication_cmd("run", "--port", str(free_port())), env, logs[0])
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: hits, 60, "the first poll to reach the feed server", on_fail=lambda: tail(logs[0]))
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        restarted = time.monotonic()
        port = free_port()
        second = start_process(syndication_cmd("run", "--port", str(port)), env, logs[1])
        wait_for(lambda: len(hits) >= 2, 30, "the restarted process to poll the source again",
                 on_fail=lambda: tail(logs[1]))
        after = hits[1] - restarted
        assert after < 30 < LEASE, f"polled again {after:.1f}s after the restart"
        wait_for(lambda: b"Story 1" in httpx.get(f"http://127.0.0.1:{port}/feeds/all.atom", timeout=5).content
                 if _up(port) else False, 30, "the items published", on_fail=lambda: tail(logs[1]))
        assert "took back the leases of 1 source(s)" in tail(logs[1], 10**6)
    finally:
        release.set()
        _stop(first)
        if second is not None:
            _stop(second)


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _one_source(make_runtime: Callable[..., Runtime], **overrides: Any) -> Runtime:
    return make_runtime(partners=[{"id": "p", "name": "P", "sources": [
        {"kind": "feed", "url": "https://agency.example/rss"}]}], **overrides)


def test_reclaim_takes_only_a_dead_predecessors_leases(
    make_runtime: Callable[..., Runtime], database_url: str
) -> None:
    rt = _one_source(make_runtime, database_url=database_url)
    me = this_process(rt.settings.data_dir)
    now = utcnow()
    [(sid, _)] = claim_due(rt.sessions, now, lease_seconds=LEASE, limit=10, holder=holder_for(rt.settings))
    # Our own live lease stays.
    assert reclaim_predecessor_leases(rt.sessions, me, now) == []
    # The same lease seen by a successor whose predecessor (us) is still running: stays too.
    successor = Holder(me.host, me.boot, me.pid + 1, "1", me.data)
    assert reclaim_predecessor_leases(rt.sessions, successor, now) == []
    # Once the holder is gone (its pid runs no more), the successor takes it back at once.
    assert reclaim_predecessor_leases(rt.sessions, successor, now, start_of=lambda _pid: None) == [sid]
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None and src.lease_token is None and src.lease_holder is None
    assert [c[0] for c in claim_due(rt.sessions, now, lease_seconds=LEASE, limit=10)] == [sid]
    with rt.sessions() as s:
        assert s.scalars(select(Poll)).first() is None


def test_scaled_claims_have_no_holder_and_keep_lease_expiry(
    make_runtime: Callable[..., Runtime], database_url: str
) -> None:
    rt = _one_source(make_runtime, database_url=database_url)
    scaled = rt.settings.model_copy(update={"broker_url": "redis://127.0.0.1:6379/0"})
    now = utcnow()
    [(sid, _)] = claim_due(rt.sessions, now, lease_seconds=LEASE, limit=10, holder=holder_for(scaled))
    me = this_process(rt.settings.data_dir)
    assert reclaim_predecessor_leases(rt.sessions, me, now, start_of=lambda _pid: None) == []
    assert claim_due(rt.sessions, now + timedelta(seconds=LEASE - 1), lease_seconds=LEASE, limit=10) == []
    assert [c[0] for c in claim_due(rt.sessions, now + timedelta(seconds=LEASE + 1), lease_seconds=LEASE,
                                    limit=10)] == [sid]
