"""Webhook deliveries of notices, Standard Webhooks signed, against real SQLite/PostgreSQL and a real local
receiver (the conftest HTTP server) that verifies with the `standardwebhooks` library; the scaled case runs
real Celery workers on the real Redis."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from syndication.db.models import Delivery, Notice, WebhookEndpoint
from syndication.kernel.clock import utcnow
from syndication.publish import webhooks
from syndication.publish.signing import new_secret, webhook_id
from syndication.publish.webhooks import deliver_due
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.tasks import TASK_DELIVER_NOTICES
from tests.conftest import FeedServer
from tests.integration.scaled_support import WorkerProc, open_scaled_runtime, scaled_env, tail, wait_for, workers
from tests.integration.test_publish import jitem, partner, poll, serve


@dataclass
class Received:
    webhook_id: str | None
    valid: bool
    why: str | None
    payload: dict[str, Any] | None
    headers: dict[str, str]
    state_on_arrival: str | None = None  # the delivery's recorded state when the POST arrived


@dataclass
class Receiver:
    """A partner's endpoint: verifies every POST with the Standard Webhooks library, answers 200 unless told
    otherwise, and notes what our database said about that delivery when the POST arrived."""

    secret: str
    statuses: list[int] = field(default_factory=list)
    slow_first: int = 0  # the first N requests take `delay` s to answer
    delay: float = 0.0
    state_of: Callable[[str], str | None] | None = None
    seen: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        body: bytes = req.request_body  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in req.headers.items()}
        wid = headers.get("webhook-id")
        state = self.state_of(wid) if self.state_of is not None and wid else None
        try:
            payload = Webhook(self.secret).verify(body, headers)
            valid, why = True, None
        except (WebhookVerificationError, ValueError) as exc:  # ValueError: a malformed signature header
            payload, valid, why = None, False, str(exc)
        with self.lock:
            n = len(self.seen)
            self.seen.append(Received(wid, valid, why, payload, headers, state))
            status = self.statuses.pop(0) if self.statuses else 200
        if n < self.slow_first:
            time.sleep(self.delay)
        return (status if valid else 401), {}, b""

    def install(self, server: FeedServer, path: str = "/hook") -> str:
        server.add(path, b"")
        server.routes[path].handler = self.handle
        return server.url(path)

    def ids(self) -> list[str | None]:
        with self.lock:
            return [r.webhook_id for r in self.seen]


def delivery_states(rt: Runtime) -> Callable[[str], str | None]:
    """webhook-id -> the state our database records for that delivery (read by the receiver on arrival)."""
    def state_of(wid: str) -> str | None:
        with rt.sessions() as session:
            for d, uid in session.execute(select(Delivery, Notice.uid).join(Notice, Notice.id == Delivery.notice_id)):
                if webhook_id(uid, d.endpoint) == wid:
                    return d.state
        return None

    return state_of


def rows(rt: Runtime) -> list[Delivery]:
    with rt.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


# ---------------------------------------------------------------- the receiver's library verifies us


def test_receiver_verifies_every_delivery_with_standardwebhooks(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str
) -> None:
    secret = new_secret()
    receiver = Receiver(secret)
    hook = receiver.install(feed_server)
    url = serve(feed_server, "turan", [jitem(0), jitem(1)])
    rt = make_runtime(database_url=database_url,
                      partners=[partner("turan", url, webhook_url=hook, webhook_secret=secret)])
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    assert jobs.deliver_notices(rt)["delivered"] == 2
    assert [r.valid for r in receiver.seen] == [True, True], [r.why for r in receiver.seen]
    with rt.sessions() as session:
        notices = {n.uid: n for n in session.scalars(select(Notice))}
    for r in receiver.seen:
        assert r.payload is not None and r.payload["type"] == "notice.republished"
        data = r.payload["data"]
        assert data["partner"] == "turan" and data["kind"] == "republished" and data["id"] in notices
        assert r.payload["timestamp"] == data["time"]
        assert r.webhook_id == webhook_id(data["id"], "partner:turan")
        assert r.headers["content-type"] == "application/json"
        # Our own scheme is gone: only the Standard Webhooks headers sign a delivery.
        assert not [h for h in r.headers if h.startswith("x-syndication")]
    assert all(d.state == "delivered" and d.last_status == 200 for d in rows(rt))


def test_signature_timestamp_is_the_send_time(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    """A run's deliveries are signed when each is sent: a run whose clock (`now`) is six minutes away from
    the moment of sending — a long batch, a backlog — still signs inside the receivers' 5-minute window."""
    secret = new_secret()
    receiver = Receiver(secret)
    hook = receiver.install(feed_server)
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(partners=[partner("turan", url, webhook_url=hook, webhook_secret=secret)])
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    before = int(time.time())
    run = deliver_due(rt.sessions, rt.settings, utcnow() + timedelta(minutes=6))
    assert run.delivered == 1 and receiver.seen[0].valid, receiver.seen[0].why
    assert before <= int(receiver.seen[0].headers["webhook-timestamp"]) <= time.time()


def test_webhook_retries_with_the_same_id_then_delivers_once(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    secret = new_secret()
    receiver = Receiver(secret, statuses=[500, 500, 200])
    hook = receiver.install(feed_server)
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(partners=[partner("turan", url, webhook_url=hook, webhook_secret=secret)],
                      webhooks={"backoff_base": 10, "backoff_cap": 60})
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    now = utcnow()
    runs = [deliver_due(rt.sessions, rt.settings, now + timedelta(seconds=120 * step)).as_dict() for step in range(6)]
    assert [r["claimed"] for r in runs] == [1, 1, 1, 0, 0, 0]
    assert len(receiver.seen) == 3 and all(r.valid for r in receiver.seen)
    assert len(set(receiver.ids())) == 1  # every attempt carries the same webhook-id
    assert [(d.state, d.attempts, d.last_status) for d in rows(rt)] == [("delivered", 3, 200)]
    # Survives a restart: a new runtime on the same database sends nothing again.
    rt2 = make_runtime(partners=[partner("turan", url, webhook_url=hook, webhook_secret=secret)])
    assert jobs.deliver_notices(rt2)["claimed"] == 0 and len(receiver.seen) == 3
    # The secret is nowhere in the published files.
    for p in rt.settings.public_dir.rglob("*"):
        assert not p.is_file() or secret.encode() not in p.read_bytes()


def test_crash_between_2xx_and_recording_resends_with_the_same_id(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = new_secret()
    receiver = Receiver(secret)
    hook = receiver.install(feed_server)
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(partners=[partner("turan", url, webhook_url=hook, webhook_secret=secret)],
                      webhooks={"lease_seconds": 60})
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    real_record = webhooks._record

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("process died after the 2xx")

    monkeypatch.setattr(webhooks, "_record", crash)
    with pytest.raises(RuntimeError):
        deliver_due(rt.sessions, rt.settings, utcnow())
    monkeypatch.setattr(webhooks, "_record", real_record)
    # While the dead run's lease lasts nobody resends; after it expires the delivery goes again, same id.
    assert deliver_due(rt.sessions, rt.settings, utcnow()).claimed == 0
    assert deliver_due(rt.sessions, rt.settings, utcnow() + timedelta(seconds=61)).delivered == 1
    assert len(receiver.seen) == 2 and all(r.valid for r in receiver.seen)
    assert receiver.seen[0].webhook_id == receiver.seen[1].webhook_id
    assert [(d.state, d.attempts) for d in rows(rt)] == [("delivered", 1)]
    assert secret not in caplog.text


# ---------------------------------------------------------------- two runners, a slow receiver


def test_two_runners_and_a_slow_receiver_never_resend_after_a_recorded_2xx(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str
) -> None:
    """The receiver is slow for the first five POSTs, so the first runner is still at work when a lease
    as long as several POSTs has passed and the second runner starts. Whatever each runner holds, no POST
    may arrive for a delivery whose 2xx is already recorded, and here (no crash) none arrives twice."""
    secret = new_secret()
    receiver = Receiver(secret, slow_first=5, delay=1.2)
    hook = receiver.install(feed_server)
    url = serve(feed_server, "turan", [jitem(i) for i in range(8)])
    rt = make_runtime(database_url=database_url,
                      partners=[partner("turan", url, webhook_url=hook, webhook_secret=secret)],
                      webhooks={"lease_seconds": 5, "timeout": 1.5})
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    receiver.state_of = delivery_states(rt)
    assert len(rows(rt)) == 8
    errors: list[BaseException] = []

    def runner(start_after: float) -> None:
        time.sleep(start_after)
        deadline = time.monotonic() + 40
        try:
            while time.monotonic() < deadline and any(d.state != "delivered" for d in rows(rt)):
                deliver_due(rt.sessions, rt.settings, utcnow())
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(0.0,)), threading.Thread(target=runner, args=(5.3,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    late = [(r.webhook_id, r.state_on_arrival) for r in receiver.seen if r.state_on_arrival == "delivered"]
    assert late == [], f"POSTs sent after their 2xx was recorded: {late}"
    ids = receiver.ids()
    assert len(ids) == 8 and len(set(ids)) == 8, ids
    assert all(r.valid for r in receiver.seen)
    assert [(d.state, d.attempts) for d in rows(rt)] == [("delivered", 1)] * 8


@pytest.mark.slow
@pytest.mark.redis
def test_scaled_notify_workers_never_resend_after_a_recorded_2xx(
    tmp_path: Path, feed_server: FeedServer, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same promise through real Celery workers: two notify workers on the real Redis take delivery
    runs while a slow receiver holds the first; runs stop at their time budget and dispatch follow-ups."""
    secret = new_secret()
    receiver = Receiver(secret, slow_first=5, delay=1.2)
    hook = receiver.install(feed_server)
    url = serve(feed_server, "turan", [jitem(i) for i in range(10)])
    config = tmp_path / "syndication.toml"
    config.write_text(
        '[[partners]]\nid = "turan"\nname = "Turan"\ncredit = "Turan news agency"\n'
        f'webhook_url = "{hook}"\nwebhook_secret = "{secret}"\n'
        f'[[partners.sources]]\nkind = "feed"\nurl = "{url}"\n', encoding="utf-8")
    env = scaled_env(tmp_path / "var", redis_url, postgres_url, config,
                     SYNDICATION_WEBHOOKS__LEASE_SECONDS="5", SYNDICATION_WEBHOOKS__TIMEOUT="1.5")
    rt = open_scaled_runtime(env, monkeypatch)
    try:
        poll(rt, "turan")
        jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
        receiver.state_of = delivery_states(rt)
        assert len(rows(rt)) == 10
        logs = [tmp_path / "notify1.log", tmp_path / "notify2.log"]
        with workers() as started:
            started += [WorkerProc(env, logs[0], queues="notify", name="n1"),
                        WorkerProc(env, logs[1], queues="notify", name="n2")]
            for w in started:
                w.ready()
            app = rt.dispatcher.app

            def all_delivered() -> bool:
                # The scheduler's periodic dispatch, compressed: a run every half second while work is left.
                app.send_task(TASK_DELIVER_NOTICES, queue="notify")
                return all(d.state == "delivered" for d in rows(rt))

            wait_for(all_delivered, 60, "every delivery recorded delivered", interval=0.5,
                     on_fail=lambda: tail(logs[0]) + tail(logs[1]))
            assert sum(w.received(TASK_DELIVER_NOTICES) for w in started) >= 2
            assert all(w.received(TASK_DELIVER_NOTICES) for w in started), "both workers ran deliveries"
        late = [(r.webhook_id, r.state_on_arrival) for r in receiver.seen if r.state_on_arrival == "delivered"]
        assert late == [], f"POSTs sent after their 2xx was recorded: {late}"
        ids = receiver.ids()
        assert len(ids) == 10 and len(set(ids)) == 10, ids
        assert all(r.valid for r in receiver.seen), [r.why for r in receiver.seen if not r.valid]
        assert secret not in tail(logs[0], 10**7) + tail(logs[1], 10**7)
    finally:
        rt.close()


# ---------------------------------------------------------------- 410, operators' CLI, scheduling


def test_webhook_410_unsubscribes_and_retry_requeues(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                                     tmp_path: Path) -> None:
    secret = new_secret()
    receiver = Receiver(secret, statuses=[410])
    gone = receiver.install(feed_server, "/gone")
    url = serve(feed_server, "turan", [jitem(0)])
    subscriber = {"id": "downstream", "webhook_url": gone, "webhook_secret": secret,
                  "kinds": ["republished", "corrected", "withdrawn"]}
    rt = make_runtime(partners=[partner("turan", url)], subscribers=[subscriber])
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    run = deliver_due(rt.sessions, rt.settings, utcnow())
    assert run.unsubscribed == ["subscriber:downstream"] and len(receiver.seen) == 1
    with rt.sessions() as session:
        ep = session.get(WebhookEndpoint, "subscriber:downstream")
        d = session.scalars(select(Delivery)).one()
    assert ep is not None and ep.unsubscribed_at is not None and d.state == "failed"
    # New notices are not queued for an unsubscribed endpoint.
    serve(feed_server, "turan", [jitem(0), jitem(1)])
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # [trust] notices are released once their channels are written
    assert len(rows(rt)) == 1
    notice_id = d.notice_id

    # The CLI lists notices with delivery states and requeues failed deliveries.
    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'data_dir = "{rt.settings.data_dir}"\n'
                   f'[[subscribers]]\nid = "downstream"\nwebhook_url = "{gone}"\n'
                   f'webhook_secret = "{secret}"\nkinds = ["republished"]\n')
    from syndication.cli.app import app

    runner = CliRunner()
    out = runner.invoke(app, ["--config", str(cfg), "notices", "--state", "failed", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.stdout)["notices"]
    assert [n["id"] for n in listed] == [notice_id]
    assert listed[0]["deliveries"][0]["state"] == "failed" and secret not in out.stdout
    out = runner.invoke(app, ["--config", str(cfg), "notices", "--partner", "turan", "--json"])
    assert len(json.loads(out.stdout)["notices"]) == 2
    bad = runner.invoke(app, ["--config", str(cfg), "notices", "retry", "424242"])
    assert bad.exit_code == 2 and "unknown notice id" in bad.stderr
    bad = runner.invoke(app, ["--config", str(cfg), "notices", "--state", "weird"])
    assert bad.exit_code == 2
    out = runner.invoke(app, ["--config", str(cfg), "notices", "retry", str(notice_id), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout) == {"requeued": 1}
    with rt.sessions() as session:
        assert session.scalars(select(Delivery)).one().state == "pending"
        ep = session.get(WebhookEndpoint, "subscriber:downstream")
        assert ep is not None and ep.unsubscribed_at is None
    run = deliver_due(rt.sessions, rt.settings, utcnow())
    assert run.delivered == 1 and len(receiver.seen) == 2
    assert receiver.seen[0].webhook_id == receiver.seen[1].webhook_id


def test_secret_command_and_refusal_at_start(tmp_path: Path) -> None:
    from syndication.cli.app import app

    runner = CliRunner()
    out = runner.invoke(app, ["notices", "secret"])
    assert out.exit_code == 0, out.output
    fresh = out.stdout.strip()
    assert fresh.startswith("whsec_") and fresh != runner.invoke(app, ["notices", "secret"]).stdout.strip()
    assert json.loads(runner.invoke(app, ["notices", "secret", "--json"]).stdout)["secret"].startswith("whsec_")
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "var"}"\n'
                   '[[partners]]\nid = "turan"\nname = "Turan"\nwebhook_url = "https://t.example/h"\n'
                   'webhook_secret = "my-old-hex-secret-0123456789abcdef"\n')
    for command in (["run"], ["status"], ["notices"]):
        bad = runner.invoke(app, ["--config", str(cfg), *command])
        assert bad.exit_code == 2, (command, bad.output)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and "partners[0].webhook_secret" in lines[0], bad.stderr
        assert "syndication notices secret" in lines[0] and "my-old-hex-secret" not in bad.stderr
    cfg.write_text(cfg.read_text().replace("my-old-hex-secret-0123456789abcdef", fresh))
    assert runner.invoke(app, ["--config", str(cfg), "notices", "--json"]).exit_code == 0


def test_delivery_runs_are_scheduled_and_routed_to_notify(make_runtime: Callable[..., Runtime]) -> None:
    from syndication.operations.service import start_scheduler
    from syndication.runtime.dispatch import LocalDispatcher
    from syndication.runtime.tasks import TASK_DELIVER_PINGS

    rt = make_runtime(webhooks={"interval": 30})
    rt.dispatcher = LocalDispatcher(rt, 1)
    sched = start_scheduler(rt)
    try:
        job = sched.get_job("deliver_notices")
        assert job is not None and job.trigger.interval == timedelta(seconds=30)
        assert sched.get_job("refresh").trigger.interval == timedelta(seconds=300)
    finally:
        sched.shutdown(wait=True)
    import workers.celery_app as w

    for task in (TASK_DELIVER_NOTICES, TASK_DELIVER_PINGS):
        assert task in w.app.tasks
        assert w.app.amqp.router.route({}, task)["queue"].name == "notify"
