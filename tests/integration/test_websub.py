"""WebSub pings as deliveries: the publisher records them and never waits for the hub; the notify queue (a
thread in embedded mode, real Celery workers on Redis when scaled) sends and retries them; operators see
their states. Real SQLite/PostgreSQL, a real local hub (the conftest HTTP server)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs

import feedparser
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from syndication.db.models import WebSubPing
from syndication.kernel.clock import utcnow
from syndication.operations import service
from syndication.publish.websub import deliver_pings
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import LocalDispatcher
from syndication.runtime.tasks import TASK_DELIVER_PINGS
from tests.conftest import FeedServer
from tests.integration.scaled_support import WorkerProc, open_scaled_runtime, scaled_env, tail, wait_for, workers
from tests.integration.test_publish import jitem, partner, poll, serve

TOPICS = sorted(f"http://127.0.0.1:8000/feeds/{c}.{f}"
                for c in ("all", "partners/turan") for f in ("atom", "rss", "json", "ninjs.json"))
N = len(TOPICS)  # a ping per changed file: 2 channels x 4 formats


@dataclass
class Hub:
    """A WebSub hub: answers `statuses` in turn (then 204), the first `slow_first` requests after `delay` s."""

    statuses: list[int] = field(default_factory=list)
    slow_first: int = 0
    delay: float = 0.0
    pings: list[dict[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        form = parse_qs(req.request_body.decode())  # type: ignore[attr-defined]
        with self.lock:
            n = len(self.pings)
            self.pings.append(form)
            status = self.statuses.pop(0) if self.statuses else 204
        if n < self.slow_first:
            time.sleep(self.delay)
        return status, {}, b""

    def install(self, server: FeedServer) -> str:
        server.add("/hub", b"")
        server.routes["/hub"].handler = self.handle
        return server.url("/hub")

    def topics(self) -> list[str]:
        with self.lock:
            return [p["hub.url"][0] for p in self.pings]


def pings(rt: Runtime) -> list[WebSubPing]:
    with rt.sessions() as session:
        return list(session.scalars(select(WebSubPing).order_by(WebSubPing.id)))


def cli_pings(config: Path, *args: str) -> dict[str, object]:
    from syndication.cli.app import app

    out = CliRunner().invoke(app, ["--config", str(config), "notices", "pings", *args, "--json"])
    assert out.exit_code == 0, out.output
    return dict(json.loads(out.stdout))


def test_slow_failing_hub_does_not_delay_publishing(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str, tmp_path: Path
) -> None:
    """Each of the hub's first three answers takes 3 s and the first two are 503: publishing still takes less
    than one hub answer, and the pings are then sent, retried and delivered by the notify thread."""
    hub = Hub(statuses=[503, 503], slow_first=3, delay=3.0)
    hub_url = hub.install(feed_server)
    url = serve(feed_server, "turan", [jitem(0), jitem(1)])
    rt = make_runtime(database_url=database_url, partners=[partner("turan", url)],
                      websub={"hub_url": hub_url, "retries": 3, "retry_delay": 0.3, "timeout": 5})
    rt.dispatcher = LocalDispatcher(rt, 1)
    poll(rt, "turan")
    t0 = time.monotonic()
    results = jobs.publish_all(rt)
    took = time.monotonic() - t0
    assert took < 2.5, f"publishing took {took:.1f}s: it waited for the hub"
    assert sorted(r.path.rsplit("/feeds/", 1)[1] for r in results if r.changed) == [
        "all.atom", "all.json", "all.ninjs.json", "all.rss", "partners/turan.atom", "partners/turan.json",
        "partners/turan.ninjs.json", "partners/turan.rss"]
    assert len(feedparser.parse((rt.settings.feeds_dir / "all.atom").read_bytes()).entries) == 2
    assert sorted(p.topic_url for p in pings(rt)) == TOPICS  # one recorded ping per changed topic

    wait_for(lambda: all(p.state == "delivered" for p in pings(rt)), 40, "every ping delivered",
             on_fail=lambda: repr([(p.topic_url, p.state, p.attempts, p.error) for p in pings(rt)]))
    rows = pings(rt)
    assert sorted(p.attempts for p in rows) == [1] * (N - 2) + [2, 2]  # the two 503s were retried once each
    assert all(p.http_status == 204 and p.error is None and p.delivered_at is not None for p in rows)
    assert sorted(hub.topics()) == sorted(TOPICS + [p.topic_url for p in rows if p.attempts == 2])
    assert all(p["hub.mode"] == ["publish"] for p in hub.pings)
    # Operators see them: states and a count per state.
    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'data_dir = "{rt.settings.data_dir}"\ndatabase_url = "{database_url}"\n')
    listed = cli_pings(cfg)
    assert listed["counts"] == {"pending": 0, "retrying": 0, "delivered": N, "failed": 0}
    assert sorted((p["topic"], p["attempts"]) for p in listed["pings"]) == sorted(  # type: ignore[union-attr]
        (p.topic_url, p.attempts) for p in rows)
    # Unchanged files: no new pings.
    jobs.publish_all(rt)
    time.sleep(0.3)
    assert len(pings(rt)) == N and len(hub.pings) == N + 2
    rt.dispatcher.close()


def test_ping_failures_are_retried_with_backoff_visible_and_requeued(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, tmp_path: Path
) -> None:
    hub = Hub(statuses=[400] + [500] * 3 * N)
    hub_url = hub.install(feed_server)
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(partners=[partner("turan", url)],
                      websub={"hub_url": hub_url, "retries": 2, "retry_delay": 10, "timeout": 5})
    poll(rt, "turan")
    jobs.publish_all(rt)  # no dispatcher: the pings wait as rows
    assert [p.state for p in pings(rt)] == ["pending"] * N and hub.pings == []
    # Another publish of changed files before any ping went out adds no second ping per topic.
    serve(feed_server, "turan", [jitem(0), jitem(1)])
    poll(rt, "turan")
    jobs.publish_dirty(rt)
    assert len(pings(rt)) == N

    now = utcnow()
    run = deliver_pings(rt.sessions, rt.settings, now)
    assert (run.claimed, run.failed, run.retrying) == (N, 1, N - 1)
    failed = [p for p in pings(rt) if p.state == "failed"]
    assert len(failed) == 1 and failed[0].error == "hub answered HTTP 400" and failed[0].attempts == 1  # refused
    retrying = [p for p in pings(rt) if p.state == "retrying"]
    # Each ping's wait from its own attempt (the run's clock moves on while it posts to the hub).
    waits = sorted((p.next_attempt_at - p.last_attempt_at).total_seconds() for p in retrying)
    assert waits[0] >= 8 and waits[-1] <= 12  # retry_delay 10 s, ±20 %
    assert deliver_pings(rt.sessions, rt.settings, now + timedelta(seconds=5)).claimed == 0  # not due yet
    second = deliver_pings(rt.sessions, rt.settings, now + timedelta(seconds=15))  # all due: 12 s after each first try
    assert (second.claimed, second.retrying) == (N - 1, N - 1)
    waits = sorted((p.next_attempt_at - p.last_attempt_at).total_seconds()
                   for p in pings(rt) if p.state == "retrying")
    assert waits[0] >= 16 and waits[-1] <= 24  # doubled: 20 s ±20 %
    third = deliver_pings(rt.sessions, rt.settings, now + timedelta(seconds=60))
    assert (third.claimed, third.failed) == (N - 1, N - 1)
    assert all(p.state == "failed" for p in pings(rt))
    assert sorted(p.attempts for p in pings(rt)) == [1] + [3] * (N - 1)

    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'data_dir = "{rt.settings.data_dir}"\n')
    listed = cli_pings(cfg, "--state", "failed")
    assert listed["counts"] == {"pending": 0, "retrying": 0, "delivered": 0, "failed": N}
    assert {p["last_error"] for p in listed["pings"]} == {"hub answered HTTP 400", "hub answered HTTP 500"}  # type: ignore[union-attr]
    from syndication.cli.app import app

    bad = CliRunner().invoke(app, ["--config", str(cfg), "notices", "pings", "--state", "weird"])
    assert bad.exit_code == 2 and "unknown state" in bad.stderr
    out = CliRunner().invoke(app, ["--config", str(cfg), "notices", "pings", "retry", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout) == {"requeued": N}
    hub.statuses.clear()  # the hub is back
    assert deliver_pings(rt.sessions, rt.settings, utcnow()).delivered == N
    assert cli_pings(cfg)["counts"] == {"pending": 0, "retrying": 0, "delivered": N, "failed": 0}


@pytest.mark.slow
@pytest.mark.redis
def test_scaled_publish_never_waits_for_the_hub(
    tmp_path: Path, feed_server: FeedServer, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real workers on the real Redis: the publish worker writes the feeds and is done in less than one hub
    answer (3.5 s); the notify worker sends the pings, retries the 503s with backoff, and the states are in the
    database for `notices pings`."""
    hub = Hub(statuses=[503, 503], slow_first=3, delay=3.5)
    hub_url = hub.install(feed_server)
    url = serve(feed_server, "turan", [jitem(i) for i in range(5)])
    config = tmp_path / "syndication.toml"
    config.write_text(
        '[[partners]]\nid = "turan"\nname = "Turan"\ncredit = "Turan news agency"\n'
        f'[[partners.sources]]\nkind = "feed"\nurl = "{url}"\n'
        f'[websub]\nhub_url = "{hub_url}"\nretries = 3\nretry_delay = 0.5\ntimeout = 5\n', encoding="utf-8")
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, postgres_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    logs = {"main": tmp_path / "main.log", "notify": tmp_path / "notify.log"}
    try:
        with workers() as started:
            main = WorkerProc(env, logs["main"], queues="fetch,publish", name="main")
            notify = WorkerProc(env, logs["notify"], queues="notify", name="notify")
            started += [main, notify]
            main.ready()
            notify.ready()
            assert service.tick(rt) == 1
            atom = data_dir / "public" / "feeds" / "all.atom"
            wait_for(lambda: atom.exists() and len(feedparser.parse(atom.read_bytes()).entries) == 5, 30,
                     "5 items in all.atom", on_fail=lambda: tail(logs["main"]))
            wait_for(lambda: len(pings(rt)) == N and all(p.state == "delivered" for p in pings(rt)), 60,
                     "every ping delivered", on_fail=lambda: tail(logs["notify"]) + repr(
                         [(p.topic_url, p.state, p.attempts, p.error) for p in pings(rt)]))
            published = [float(s) for s in re.findall(
                r"Task syndication\.publish_dirty\[[^\]]+\] succeeded in ([0-9.]+)s", tail(logs["main"], 10**7))]
            assert published and max(published) < 2.5, (published, tail(logs["main"]))
            assert main.received(TASK_DELIVER_PINGS) == 0
            assert notify.received(TASK_DELIVER_PINGS) >= 2  # the first run, then follow-ups for the retries
        rows = pings(rt)
        assert sorted(p.attempts for p in rows) == [1] * (N - 2) + [2, 2]
        assert sorted(hub.topics()) == sorted(TOPICS + [p.topic_url for p in rows if p.attempts == 2])
        from syndication.cli.app import app

        out = CliRunner().invoke(app, ["notices", "pings", "--json"])  # reads the same environment
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["counts"]["delivered"] == N
    finally:
        rt.close()
