"""[wire] WebSub-subscribed intake against a small hub we run here (bench/hub.py: the hub's side of the spec on
loopback), our real web app served by uvicorn (the hub calls our callback over HTTP), real SQLite/PostgreSQL
and the embedded dispatcher (the subscription job runs on its notify thread, as in `syndication run`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import delete, select
from typer.testing import CliRunner

from bench.hub import Hub, running_hub
from syndication.db.models import Item, Source, WebSubSubscription
from syndication.db.session import transaction
from syndication.intake import subscriptions
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import LocalDispatcher
from syndication.runtime.tasks import TASK_WEBSUB_SUBSCRIPTIONS
from syndication.web.app import create_app
from tests.conftest import FeedServer, free_port
from tests.integration.scaled_support import (
    WorkerProc,
    atom_entries,
    open_scaled_runtime,
    scaled_env,
    tail,
    wait_for,
    workers,
    write_config,
)
from tests.integration.test_publish import poll

ATOM = "application/atom+xml"


def atom(titles: list[str], *, hub: str | None, self_url: str | None) -> str:
    links = (f'<link rel="hub" href="{hub}"/>' if hub else "") + (f'<link rel="self" href="{self_url}"/>'
                                                                    if self_url else "")
    # An entry's identity and date follow from its title: the same story in two documents is the same entry.
    entries = "".join(
        f"<entry><id>urn:story:{t.replace(' ', '-')}</id><title>{t}</title>"
        f"<link href='https://agency.example/{t.replace(' ', '-')}'/>"
        f"<updated>2026-11-20T09:{sum(map(ord, t)) % 60:02d}:00Z</updated>"
        f"<content type='html'>&lt;p&gt;Body of {t}.&lt;/p&gt;</content></entry>" for t in titles)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Agency</title>'
            f"<id>urn:agency</id><updated>2026-11-20T09:00:00Z</updated>{links}{entries}</feed>")


def partner(url: str) -> dict[str, Any]:
    return {"id": "turan", "name": "Turan Agency", "credit": "Turan news agency",
            "sources": [{"kind": "feed", "url": url, "interval": 600}]}


@contextmanager
def served(rt: Runtime, port: int) -> Iterator[None]:
    """Our web app on a real port: the hub verifies intent and distributes content over HTTP, as in production."""
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the web app did not start"
            time.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def service(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> Callable[..., Runtime]:
    """A runtime serving its web app, with the embedded dispatcher; its public_url is where it listens."""
    stack: list[Any] = []

    def _make(url: str, **over: Any) -> Runtime:
        port = free_port()
        rt = make_runtime(partners=[partner(url)], public_url=f"http://127.0.0.1:{port}", **over)
        rt.dispatcher = LocalDispatcher(rt, 2)
        ctx = served(rt, port)
        ctx.__enter__()
        stack.append(ctx)
        return rt

    yield _make  # type: ignore[misc]
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


def sub_row(rt: Runtime) -> WebSubSubscription | None:
    with rt.sessions() as session:
        row = session.scalar(select(WebSubSubscription))
        if row is not None:
            session.expunge(row)
        return row


def wait_state(rt: Runtime, state: str, timeout: float = 15.0) -> WebSubSubscription:
    deadline = time.monotonic() + timeout
    while True:
        row = sub_row(rt)
        if row is not None and row.state == state:
            return row
        assert time.monotonic() < deadline, f"subscription never became {state}: {row and row.state}"
        time.sleep(0.02)


def titles(rt: Runtime) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(Item.title)))


def published(rt: Runtime, title: str, timeout: float = 15.0) -> bool:
    path = rt.settings.feeds_dir / "all.atom"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and title in path.read_text(encoding="utf-8"):
            return True
        time.sleep(0.02)
    return False


def status_websub(rt: Runtime) -> dict[str, Any]:
    from syndication.operations.ops import source_status

    row = source_status(rt)[0]
    assert isinstance(row["websub"], dict)
    return row["websub"]


def subscribe(rt: Runtime, hub: Hub) -> WebSubSubscription:
    poll(rt, "turan")
    row = wait_state(rt, "active")
    assert hub.wait(lambda h: len(h.subscribers) == 1)
    return row


# ---------------------------------------------------------------- the whole exchange


def test_subscribed_push_is_stored_and_published_like_a_poll(
    service: Callable[..., Runtime], feed_server: FeedServer, database_url: str,
) -> None:
    with running_hub() as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic, database_url=database_url)
        row = subscribe(rt, hub)
        # Discovery by link element; the request carried everything the spec asks for.
        request = hub.requests[0]
        assert (request["hub.mode"], request["hub.topic"]) == ("subscribe", topic)
        assert request["hub.callback"] == subscriptions.callback_url(rt.settings.public_url, row.callback_id)
        assert int(request["hub.lease_seconds"]) == rt.settings.websub.lease_seconds
        secret = request["hub.secret"]
        assert len(secret) >= 32 and secret not in row.secret  # stored sealed, never as is
        assert hub.verifications == [("subscribe", 200, True)]
        assert row.hub_url == hub.url and row.topic_url == topic and row.expires_at is not None
        assert row.renew_at is not None and row.verified_at is not None and row.renew_at < row.expires_at
        assert "First story" in titles(rt)

        # A distribution, signed: stored and published like a poll's document, nothing polled meanwhile.
        polls_before = len(feed_server.requests)
        body = atom(["Second story", "First story"], hub=hub.url, self_url=topic).encode()
        [answer] = hub.distribute(topic, body, ATOM)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"status": "accepted", "new": 1, "updated": 0, "unchanged": 1, "rejected": 0}
        assert published(rt, "Second story")
        assert len(feed_server.requests) == polls_before
        with rt.sessions() as session:
            item = session.scalar(select(Item).where(Item.title == "Second story"))
            assert item is not None and item.source_id == sub_row(rt).source_id  # type: ignore[union-attr]
            assert item.attribution["credit"] == "Turan news agency"

        # sha1 and sha512 are accepted too (the hub chooses).
        [answer] = hub.distribute(topic, atom(["Third story"], hub=hub.url, self_url=topic).encode(), ATOM,
                                  method="sha512")
        assert answer.status_code == 202 and answer.json()["new"] == 1
        state = status_websub(rt)
        assert (state["state"], state["pushes"], state["ignored"]) == ("active", 2, 0)
        assert secret not in repr(state) and row.callback_id not in repr(state)

        # Polling goes on as the safety net, on the source's own schedule (its interval, stretched within its
        # bound while the feed is quiet, as for any source).
        poll(rt, "turan")
        with rt.sessions() as session:
            src = session.scalar(select(Source))
            assert src is not None and src.enabled and src.last_error is None
            assert utcnow() < src.next_poll_at <= utcnow() + timedelta(seconds=4 * 600)


def test_bad_signature_is_acknowledged_ignored_and_recorded(
    service: Callable[..., Runtime], feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_hub() as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic)
        subscribe(rt, hub)
        body = atom(["Forged story"], hub=hub.url, self_url=topic).encode()
        for kwargs in ({"secret": "not-the-secret"}, {"signature": ""}, {"signature": "md5=abc"}):
            [answer] = hub.distribute(topic, body, ATOM, **kwargs)
            assert answer.status_code == 202 and answer.json() == {"status": "ignored"}
        assert "Forged story" not in titles(rt)
        state = status_websub(rt)
        assert state["ignored"] == 3 and state["pushes"] == 0
        assert "unsupported X-Hub-Signature method 'md5'" in state["last_ignored_reason"]
        # A body that is no feed, correctly signed: refused with the reason, recorded too.
        [answer] = hub.distribute(topic, b"<html><body>oops</body></html>", "text/html")
        assert answer.status_code == 422 and answer.json()["error"] == "unparseable_document"
        assert status_websub(rt)["ignored"] == 4
        [answer] = hub.distribute(topic, atom(["Real story"], hub=hub.url, self_url=topic).encode(), ATOM)
        assert answer.status_code == 202 and "Real story" in titles(rt)
        # Operators' figures: the distributions by outcome, the subscriptions by state (every state listed).
        from syndication.operations.metrics import render

        text = render(rt).decode()
        assert 'syndication_websub_distributions_total{outcome="ignored",partner="turan"} 4.0' in text
        assert 'syndication_websub_distributions_total{outcome="taken",partner="turan"} 1.0' in text
        assert 'syndication_websub_subscriptions{state="active"} 1.0' in text
        assert 'syndication_websub_subscriptions{state="failed"} 0.0' in text
        # The operator's source page shows the subscription and why content was ignored; `status` says its state.
        source_id = sub_row(rt).source_id  # type: ignore[union-attr]
        page = httpx.get(f"{rt.settings.public_url}/ops/sources/{source_id}", trust_env=False)
        assert page.status_code == 200 and "WebSub subscription" in page.text and hub.url in page.text
        assert "not a feed" in page.text  # the last reason content was ignored for
        from syndication.cli.app import app as cli_app

        monkeypatch.setenv("SYNDICATION_DATA_DIR", str(rt.settings.data_dir))
        out = CliRunner().invoke(cli_app, ["status"], env={"COLUMNS": "200"})
        assert out.exit_code == 0 and "WebSub active" in out.stdout, out.output


def test_discovery_by_link_header(service: Callable[..., Runtime], feed_server: FeedServer) -> None:
    with running_hub() as hub:
        url = feed_server.url("/turan.atom")
        topic = "http://127.0.0.1:1/canonical-topic.atom"  # the publisher's own name for the topic
        feed_server.add("/turan.atom", atom(["First story"], hub=None, self_url=None), content_type=ATOM,
                        Link=f'<{hub.url}>; rel="hub", <{topic}>; rel="self"')
        rt = service(url)
        row = subscribe(rt, hub)
        assert (row.hub_url, row.topic_url) == (hub.url, topic)
        assert hub.requests[0]["hub.topic"] == topic


def test_verification_only_for_the_pending_request(service: Callable[..., Runtime], feed_server: FeedServer) -> None:
    with running_hub(verify=False) as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic)
        poll(rt, "turan")
        assert hub.wait(lambda h: len(h.requests) == 1)
        row = sub_row(rt)
        assert row is not None and row.state == "pending" and row.request_mode == "subscribe"
        callback = subscriptions.callback_url(rt.settings.public_url, row.callback_id)
        ok = {"hub.mode": "subscribe", "hub.topic": topic, "hub.challenge": "c-123", "hub.lease_seconds": "3600"}
        with httpx.Client(trust_env=False) as client:
            for wrong in ({"hub.topic": topic + "x"}, {"hub.mode": "unsubscribe"}, {"hub.challenge": ""}):
                answer = client.get(callback, params={**ok, **wrong})
                assert answer.status_code == 404 and answer.json()["error"] == "not_found"
            assert client.get(callback + "x", params=ok).status_code == 404
            # Content for a callback that is not ours is refused before its body is read.
            for wrong in (callback + "x", callback.replace(row.callback_id, "a.b")):
                answer = client.post(wrong, content=b"<feed/>", headers={"Content-Type": ATOM})
                assert answer.status_code == 404 and answer.json()["error"] == "not_found"
            assert sub_row(rt).state == "pending"  # type: ignore[union-attr]
            answer = client.get(callback, params=ok)
            assert (answer.status_code, answer.text) == (200, "c-123")
            assert answer.headers["content-type"].startswith("text/plain")
            # Once verified, the same request is not pending any more.
            assert client.get(callback, params=ok).status_code == 404
        row = sub_row(rt)
        assert row is not None and row.state == "active" and row.lease_seconds == 3600


# ---------------------------------------------------------------- the hub failing: polling alone


def test_hub_refusing_falls_back_to_polling(service: Callable[..., Runtime], feed_server: FeedServer) -> None:
    with running_hub(refuse=400) as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic)
        poll(rt, "turan")
        row = wait_state(rt, "failed")
        assert "hub refused the request: HTTP 400" in (row.last_error or "")
        assert "polling alone" in (row.last_error or "")
        assert row.retry_at is not None and row.retry_at > utcnow() + timedelta(seconds=3000)
        secret = hub.requests[0]["hub.secret"]
        # Polling carries on; the hub is not asked again before retry_at, even though it is still advertised.
        feed_server.add_feed("/turan.atom", atom(["Second story"], hub=hub.url, self_url=topic), ATOM)
        poll(rt, "turan")
        assert "Second story" in titles(rt)
        jobs.websub_subscriptions(rt)
        assert len(hub.requests) == 1 and sub_row(rt).state == "failed"  # type: ignore[union-attr]
        state = status_websub(rt)
        assert state["state"] == "failed" and state["retry_at"] is not None and secret not in repr(state)
        # Once retry_at has passed, the next poll that sees the hub subscribes again (a fresh secret).
        with transaction(rt.sessions) as session:
            stored = session.scalar(select(WebSubSubscription))
            assert stored is not None
            stored.retry_at = utcnow() - timedelta(seconds=1)
        hub.refuse = None
        poll(rt, "turan")
        wait_state(rt, "active")
        assert hub.requests[-1]["hub.secret"] != secret


def test_hub_denying_falls_back_to_polling(service: Callable[..., Runtime], feed_server: FeedServer) -> None:
    with running_hub(deny="topic not open to subscribers") as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic)
        poll(rt, "turan")
        row = wait_state(rt, "denied")
        assert row.last_error == "the hub denied the subscription: topic not open to subscribers; polling alone"
        assert hub.verifications == [("denied", 200, False)] and not hub.subscribers


def test_verification_that_never_comes_fails(service: Callable[..., Runtime], feed_server: FeedServer) -> None:
    with running_hub(verify=False) as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic, websub={"verify_timeout": 60})
        poll(rt, "turan")
        assert hub.wait(lambda h: len(h.requests) == 1)
        run = subscriptions.run(rt.sessions, rt.settings, utcnow() + timedelta(seconds=30),
                                key=jobs.sealing_key(rt), policy=jobs.fetch_policy(rt))
        assert run.failed == 0 and sub_row(rt).state == "pending"  # type: ignore[union-attr]
        run = subscriptions.run(rt.sessions, rt.settings, utcnow() + timedelta(seconds=61),
                                key=jobs.sealing_key(rt), policy=jobs.fetch_policy(rt))
        assert run.failed == 1
        row = sub_row(rt)
        assert row is not None and row.state == "failed" and "did not verify it within 60 s" in (row.last_error or "")
        assert len(hub.requests) == 1
        # Its source deleted: a subscription never verified is dropped without asking the hub anything.
        with transaction(rt.sessions) as session:
            session.execute(delete(Source))
        run = subscriptions.run(rt.sessions, rt.settings, utcnow(), key=jobs.sealing_key(rt),
                                policy=jobs.fetch_policy(rt))
        assert run.forgotten == 1 and sub_row(rt) is None


# ---------------------------------------------------------------- leases


def test_lease_is_renewed_before_it_ends_and_lapses_without_renewal(
    service: Callable[..., Runtime], feed_server: FeedServer,
) -> None:
    with running_hub(lease_seconds=7200) as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic, websub={"renew_before": 600})
        first = subscribe(rt, hub)
        assert first.lease_seconds == 7200 and first.renew_at is not None and first.expires_at is not None
        assert first.expires_at - first.renew_at == timedelta(seconds=600)
        key, policy = jobs.sealing_key(rt), jobs.fetch_policy(rt)
        # Before renew_at nothing is sent; from renew_at on, a renewal (the same callback and secret).
        subscriptions.run(rt.sessions, rt.settings, first.renew_at - timedelta(seconds=1), key=key, policy=policy)
        assert len(hub.requests) == 1
        run = subscriptions.run(rt.sessions, rt.settings, first.renew_at, key=key, policy=policy)
        assert run.requested == 1
        assert hub.wait(lambda h: len(h.verifications) == 2)
        renewal = hub.requests[1]
        assert renewal["hub.mode"] == "subscribe" and renewal["hub.callback"] == hub.requests[0]["hub.callback"]
        assert renewal["hub.secret"] == hub.requests[0]["hub.secret"]
        renewed = wait_state(rt, "active")
        assert renewed.expires_at is not None and renewed.expires_at > first.expires_at
        assert renewed.request_mode is None
        # A hub that stops verifying: the renewal is asked again while the lease lasts, then the lease lapses.
        hub.verify = False
        assert renewed.renew_at is not None and renewed.expires_at is not None
        subscriptions.run(rt.sessions, rt.settings, renewed.renew_at, key=key, policy=policy)
        assert len(hub.requests) == 3
        run = subscriptions.run(rt.sessions, rt.settings, renewed.expires_at, key=key, policy=policy)
        assert run.expired == 1
        row = sub_row(rt)
        assert row is not None and row.state == "expired" and "without a verified renewal" in (row.last_error or "")
        # The next poll still sees the hub: subscribed again at once.
        hub.verify = True
        poll(rt, "turan")
        wait_state(rt, "active")


def test_scheduler_hands_the_subscription_run_to_the_notify_queue(make_runtime: Callable[..., Runtime]) -> None:
    """Renewal runs in both modes: the scheduler dispatches the subscription task with the other deliveries
    (the notify thread embedded, the notify queue scaled), and workers register it under that name."""
    from syndication.operations import service as svc
    from syndication.runtime.dispatch import TASK_ROUTES
    from workers.celery_app import app

    rt = make_runtime()
    sent: list[str] = []

    class Recorder:
        def deliver(self, task: str, countdown: float = 0.0) -> None:
            sent.append(task)

    rt.dispatcher = Recorder()  # type: ignore[assignment]
    svc._deliver_notices(rt)
    rt.dispatcher = None
    assert TASK_WEBSUB_SUBSCRIPTIONS in sent and TASK_WEBSUB_SUBSCRIPTIONS in jobs.DELIVERIES
    assert TASK_WEBSUB_SUBSCRIPTIONS in app.tasks
    assert any(TASK_WEBSUB_SUBSCRIPTIONS.startswith(p.rstrip("*")) and r["queue"] == "notify"
               for p, r in TASK_ROUTES.items())


# ---------------------------------------------------------------- a source deleted


def test_deleted_source_is_unsubscribed(service: Callable[..., Runtime], feed_server: FeedServer) -> None:
    with running_hub() as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        rt = service(topic)
        row = subscribe(rt, hub)
        with transaction(rt.sessions) as session:
            key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
            source_id = session.scalar(select(Source.id))
        # A distribution on its way while the partner deletes the source is told to stop (410).
        hub.verify = False  # held back, to see the state in between
        answer = httpx.delete(f"{rt.settings.public_url}/api/v1/partners/turan/sources/{source_id}",
                              headers={"Authorization": f"Bearer {key}"}, trust_env=False)
        assert answer.status_code == 204, answer.text
        # The partner API dispatched the subscription run: the hub is asked to unsubscribe at once.
        assert hub.wait(lambda h: h.requests[-1]["hub.mode"] == "unsubscribe")
        gone = sub_row(rt)
        assert gone is not None and gone.source_id is None and gone.state == "unsubscribing"
        [answer] = hub.distribute(topic, atom(["Late story"], hub=hub.url, self_url=topic).encode(), ATOM)
        assert answer.status_code == 410 and "Late story" not in titles(rt)
        hub.verify = True
        hub.verify_request(hub.requests[-1])  # the verification the hub held back
        assert hub.wait(lambda h: not h.subscribers)
        assert hub.requests[-1]["hub.mode"] == "unsubscribe"
        assert hub.requests[-1]["hub.callback"] == subscriptions.callback_url(rt.settings.public_url, row.callback_id)
        assert hub.verifications[-1] == ("unsubscribe", 200, True)
        assert sub_row(rt) is None



# ---------------------------------------------------------------- scaled out


@pytest.mark.slow
@pytest.mark.redis
def test_scaled_subscribe_distribute_and_renew(
    tmp_path: Path, feed_server: FeedServer, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real Celery workers on the real Redis and PostgreSQL: the fetch worker's poll finds the hub, the notify
    worker subscribes, the web process (here, in a thread) takes the distribution and the publish worker writes
    it; the scheduler's delivery job renews the lease on the notify queue."""
    from syndication.operations import service as svc

    with running_hub() as hub:
        topic = feed_server.url("/turan.atom")
        feed_server.add_feed("/turan.atom", atom(["First story"], hub=hub.url, self_url=topic), ATOM)
        port = free_port()
        config = write_config(tmp_path / "syndication.toml", [("turan", topic)])
        data_dir = tmp_path / "var"
        env = scaled_env(data_dir, redis_url, postgres_url, config,
                         SYNDICATION_PUBLIC_URL=f"http://127.0.0.1:{port}")
        rt = open_scaled_runtime(env, monkeypatch)
        logs = {"main": tmp_path / "main.log", "notify": tmp_path / "notify.log"}
        try:
            with workers() as started, served(rt, port):
                main = WorkerProc(env, logs["main"], queues="fetch,publish", name="main")
                notify = WorkerProc(env, logs["notify"], queues="notify", name="notify")
                started += [main, notify]
                main.ready()
                notify.ready()
                assert svc.tick(rt) == 1
                first = wait_for(lambda: (r := sub_row(rt)) is not None and r.state == "active" and r, 60,
                                 "an active subscription", on_fail=lambda: tail(logs["main"]) + tail(logs["notify"]))
                assert notify.received(TASK_WEBSUB_SUBSCRIPTIONS) >= 1
                assert main.received(TASK_WEBSUB_SUBSCRIPTIONS) == 0
                [answer] = hub.distribute(topic, atom(["Pushed story"], hub=hub.url, self_url=topic).encode(), ATOM)
                assert answer.status_code == 202 and answer.json()["new"] == 1, answer.text
                wait_for(lambda: any(e.title == "Pushed story" for e in atom_entries(data_dir)), 30,
                         "the pushed story in all.atom", on_fail=lambda: tail(logs["main"]))
                # Renewal: once renew_at has come, the scheduler's delivery job renews on the notify queue.
                with transaction(rt.sessions) as session:
                    row = session.scalar(select(WebSubSubscription))
                    assert row is not None
                    row.renew_at = utcnow() - timedelta(seconds=1)
                svc._deliver_notices(rt)
                renewed = wait_for(lambda: (r := sub_row(rt)) is not None and r.verified_at is not None
                                   and first.verified_at is not None and r.verified_at > first.verified_at and r,
                                   60, "a verified renewal", on_fail=lambda: tail(logs["notify"]))
                assert renewed.state == "active" and renewed.expires_at > first.expires_at
                assert [r["hub.mode"] for r in hub.requests] == ["subscribe", "subscribe"]
        finally:
            rt.close()
