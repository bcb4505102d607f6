"""Operators: status --json, /metrics against the database, replay, pause/resume, the operator-token rules,
/readyz, and the queue view over a real Redis broker."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from typer.testing import CliRunner

from syndication.cli.app import app as cli_app
from syndication.db.models import Item, Poll, Source
from syndication.operations import ops
from syndication.runtime import deadletters, jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_due, claim_sources
from syndication.runtime.tasks import TASK_POLL
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer, free_port

runner = CliRunner()
LOOPBACK = ("127.0.0.1", 50123)
REMOTE = ("203.0.113.9", 50123)
STATUS_CONTRACT = {"partner", "source", "kind", "state", "last_attempt", "last_success", "last_error",
                   "consecutive_errors", "next_poll"}


def partners(good_url: str, bad_url: str) -> list[dict[str, Any]]:
    return [
        {"id": "good", "name": "Good Agency", "sources": [{"kind": "feed", "url": good_url, "interval": 60}]},
        {"id": "bad", "name": "Bad Agency", "sources": [{"kind": "feed", "url": bad_url, "interval": 60}]},
    ]


def poll_all(rt: Runtime) -> None:
    with rt.sessions() as s:
        ids = list(s.scalars(select(Source.id).order_by(Source.id)))
    for sid, token in claim_sources(rt.sessions, ids, ops.utcnow(), lease_seconds=60):
        jobs.poll_source(rt, sid, token)
    jobs.publish_dirty(rt)


def source_id(rt: Runtime, partner: str) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(Source.id).where(Source.partner_id == partner)))


@pytest.fixture
def two_sources(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> Runtime:
    good = feed_server.add_feed("/good.rss", rss(3))
    bad = feed_server.add("/bad.rss", "down", status=500)
    rt = make_runtime(partners=partners(good, bad))
    poll_all(rt)
    return rt


def write_config(tmp_path: Path, good: str, bad: str, extra: str = "") -> Path:
    path = tmp_path / "syndication.toml"
    body = f'data_dir = "{tmp_path / "var"}"\n[fetch]\nallow_private_addresses = true\n{extra}'
    for pid, url in (("good", good), ("bad", bad)):
        body += f'[[partners]]\nid = "{pid}"\nname = "{pid}"\n[[partners.sources]]\nkind = "feed"\nurl = "{url}"\n'
    path.write_text(body)
    return path


def cli_json(*args: str) -> Any:
    result = runner.invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------- CLI


def test_status_json_keeps_contract_and_adds_operator_fields(tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.add_feed("/good.rss", rss(3))
    quiet = feed_server.add_feed("/quiet.rss", rss(12))  # hourly items, last one 8 days ago: gone quiet
    bad = feed_server.add("/bad.rss", "down", status=500)
    cfg = write_config(tmp_path, good, bad)
    cfg.write_text(cfg.read_text() + f'[[partners]]\nid = "hush"\nname = "hush"\n[[partners.sources]]\n'
                   f'kind = "feed"\nurl = "{quiet}"\n')
    cli_json("--config", str(cfg), "ingest", "--json")
    out = cli_json("--config", str(cfg), "status", "--json")
    rows = {r["partner"]: r for r in out["sources"]}
    for r in rows.values():
        assert set(r) >= STATUS_CONTRACT
        assert {"id", "interval", "effective_url", "items_24h", "overdue", "paused"} <= set(r)
    assert rows["good"]["state"] == "ok" and rows["good"]["items_24h"] == 3 and rows["good"]["last_error"] is None
    assert rows["bad"]["state"] == "failing" and rows["bad"]["consecutive_errors"] == 1
    assert "500" in rows["bad"]["last_error"] and rows["bad"]["last_success"] is None
    assert rows["hush"]["state"] == "quiet" and rows["hush"]["usual_gap_seconds"] == 3600
    assert out["sources_by_state"] == {"ok": 1, "failing": 1, "disabled": 0, "quiet": 1}
    by_partner = {p["partner"]: p for p in out["pipeline"]["partners"]}
    assert by_partner["good"]["received_1h"] == 3 and by_partner["good"]["published_24h"] == 3
    assert by_partner["bad"]["received_24h"] == 0
    assert out["pipeline"]["lag_seconds"]["first_seen"]["count"] == 15
    assert out["queues"]["mode"] == "embedded"
    # The Rich table renders too (no crash, states shown).
    table = runner.invoke(cli_app, ["--config", str(cfg), "status"])
    assert table.exit_code == 0 and "failing" in table.stdout and "quiet" in table.stdout


def test_pause_resume_and_poll_now_from_the_cli(tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.add_feed("/good.rss", rss(2))
    cfg = write_config(tmp_path, good, feed_server.add("/bad.rss", "x", status=500))
    rows = cli_json("--config", str(cfg), "status", "--json")["sources"]
    sid = next(r["id"] for r in rows if r["partner"] == "good")
    assert runner.invoke(cli_app, ["--config", str(cfg), "source", "pause", str(sid)]).exit_code == 0
    row = next(r for r in cli_json("--config", str(cfg), "status", "--json")["sources"] if r["id"] == sid)
    assert row["state"] == "disabled" and row["paused"] and row["disabled_reason"] == ops.PAUSED_REASON
    assert runner.invoke(cli_app, ["--config", str(cfg), "source", "resume", str(sid)]).exit_code == 0
    result = runner.invoke(cli_app, ["--config", str(cfg), "source", "poll", str(sid)])
    assert result.exit_code == 0 and "polled: ok" in result.stdout
    row = next(r for r in cli_json("--config", str(cfg), "status", "--json")["sources"] if r["id"] == sid)
    assert row["state"] == "ok" and row["last_attempt"] and row["items_24h"] == 2
    bad = runner.invoke(cli_app, ["--config", str(cfg), "source", "poll", "9999"])
    assert bad.exit_code == 1 and "no source 9999" in bad.stderr


def test_paused_source_is_not_claimed(two_sources: Runtime) -> None:
    rt = two_sources
    sid = source_id(rt, "good")
    ops.set_paused(rt, sid, True)
    with rt.sessions() as s:
        s.get(Source, sid)
    far = ops.utcnow().replace(year=2030)
    assert sid not in [c[0] for c in claim_due(rt.sessions, far, lease_seconds=60, limit=10)]
    ops.set_paused(rt, sid, False)
    assert sid in [c[0] for c in claim_due(rt.sessions, far, lease_seconds=60, limit=10)]


def test_replay_of_a_dead_letter_republishes_the_item(tmp_path: Path, feed_server: FeedServer) -> None:
    bad = feed_server.add("/bad.rss", "down", status=500)
    cfg = write_config(tmp_path, feed_server.add_feed("/good.rss", rss(1)), bad)
    cli_json("--config", str(cfg), "ingest", "--json")
    rows = cli_json("--config", str(cfg), "status", "--json")["sources"]
    sid = next(r["id"] for r in rows if r["partner"] == "bad")
    from syndication.db.session import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'syndication.db'}")
    dl_id = deadletters.record(make_sessionmaker(engine), task=TASK_POLL, args=[sid, "lost-token"],
                               error="ConnectionError: database went away", attempts=5)
    engine.dispose()
    failures = cli_json("--config", str(cfg), "failures", "--json")
    assert [d["id"] for d in failures["dead_letters"]] == [dl_id]
    assert failures["dead_letters"][0]["task"] == TASK_POLL
    # The partner's feed works again; replaying the dead letter polls it and republishes its items.
    feed_server.add_feed("/bad.rss", rss(2, title="Back"))
    out = cli_json("--config", str(cfg), "replay", str(dl_id), "--json")
    assert out["replayed"][0]["ok"], out
    feed = feedparser.parse((tmp_path / "var/public/feeds/partners/bad.atom").read_bytes())
    assert sorted(e.title for e in feed.entries) == ["Story 0", "Story 1"]
    assert cli_json("--config", str(cfg), "failures", "--json")["dead_letters"] == []
    again = runner.invoke(cli_app, ["--config", str(cfg), "replay", str(dl_id)])
    assert again.exit_code == 1 and "already replayed" in again.stderr


# ---------------------------------------------------------------- /metrics


def metric_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def test_metrics_parse_and_match_the_database(two_sources: Runtime, feed_server: FeedServer) -> None:
    rt = two_sources
    poll_all(rt)  # second round: good is not modified? (no ETag: ok again), bad fails again
    client = TestClient(create_app(rt), client=LOOPBACK)
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    m = metric_samples(resp.text)
    with rt.sessions() as s:
        polls = {(p, o): n for p, o, n in s.execute(
            select(Source.partner_id, Poll.outcome, func.count()).join(Source, Source.id == Poll.source_id)
            .group_by(Source.partner_id, Poll.outcome))}
        n_polls = s.scalar(select(func.count()).select_from(Poll))
        new_items = s.scalar(select(func.count()).select_from(Item).where(Item.partner_id == "good"))
        sum_ms = s.scalar(select(func.sum(Poll.duration_ms)))
    got = {(lb["partner"], lb["outcome"]): v for lb, v in m["syndication_polls_total"]}
    assert got == polls and got[("bad", "error")] == 2
    items = {(lb["partner"], lb["outcome"]): v for lb, v in m["syndication_items_total"]}
    assert items[("good", "new")] == new_items == 3
    states = {(lb["partner"], lb["state"]): v for lb, v in m["syndication_sources"]}
    assert states == {("good", "ok"): 1, ("bad", "failing"): 1}
    assert m["syndication_poll_duration_seconds_count"][0][1] == n_polls
    assert m["syndication_poll_duration_seconds_sum"][0][1] == pytest.approx(sum_ms / 1000)
    buckets = [v for lb, v in m["syndication_poll_duration_seconds_bucket"]]
    assert buckets == sorted(buckets) and buckets[-1] == n_polls
    assert m["syndication_publish_lag_seconds_count"][0][1] == 3
    assert m["syndication_overdue_sources"][0][1] == 0
    assert {lb["queue"] for lb, _ in m.get("syndication_queue_depth", [])} <= {"poll", "publish", "notify"}
    assert m["syndication_tasks_running"][0][1] == 0
    assert "# TYPE syndication_deliveries gauge" in resp.text  # current states: it goes down ([hardening] 7)


def test_overdue_source_is_counted(two_sources: Runtime) -> None:
    rt = two_sources
    sid = source_id(rt, "good")
    from syndication.db.session import transaction

    with transaction(rt.sessions) as s:
        s.get(Source, sid).next_poll_at = ops.utcnow().replace(year=2020)
    client = TestClient(create_app(rt), client=LOOPBACK)
    m = metric_samples(client.get("/metrics").text)
    assert m["syndication_overdue_sources"][0][1] == 1
    snap = client.get("/ops/status.json").json()
    assert [o["id"] for o in snap["pipeline"]["overdue"]] == [sid]


# ---------------------------------------------------------------- /ops access rules


def test_without_token_ops_is_loopback_only(two_sources: Runtime) -> None:
    app = create_app(two_sources)
    remote = TestClient(app, client=REMOTE)
    for path in ("/ops", "/ops/status.json", "/metrics", f"/ops/sources/{source_id(two_sources, 'good')}"):
        assert remote.get(path).status_code == 403, path
    assert "loopback" in remote.get("/ops/status.json").json()["error"]
    assert remote.post(f"/ops/sources/{source_id(two_sources, 'good')}/poll").status_code == 403
    local = TestClient(app, client=LOOPBACK)
    assert local.get("/ops", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 403  # via a proxy
    page = local.get("/ops")
    assert page.status_code == 200 and 'id="loopback-note"' in page.text
    assert 'data-state="failing"' in page.text and 'data-state="ok"' in page.text
    # Forms need the CSRF field even from loopback (another site could make the browser post).
    sid = source_id(two_sources, "good")
    assert local.post(f"/ops/sources/{sid}/pause", data={}).status_code == 403
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    evil = local.post(f"/ops/sources/{sid}/pause", data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    ok = local.post(f"/ops/sources/{sid}/pause", data={"csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/ops?msg=")
    assert local.get("/ops/status.json").json()["sources_by_state"]["disabled"] == 1


def test_with_token_bearer_or_login_cookie(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    good = feed_server.add_feed("/good.rss", rss(2))
    rt = make_runtime(partners=partners(good, feed_server.add("/bad.rss", "x", status=500)),
                      ops={"token": "s3cret-operator-token-of-32-chars+"})
    poll_all(rt)
    app = create_app(rt)
    client = TestClient(app, client=LOOPBACK)  # loopback gets no free pass once a token is set
    r = client.get("/ops/status.json")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    html = client.get("/ops", headers={"Accept": "text/html"})
    assert html.status_code == 401 and 'action="/ops/login"' in html.text
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/ops/status.json", headers=wrong).status_code == 403
    right = {"Authorization": "Bearer s3cret-operator-token-of-32-chars+"}
    assert client.get("/ops/status.json", headers=right).status_code == 200
    assert client.get("/metrics", headers=right).status_code == 200
    sid = source_id(rt, "good")
    before = client.get("/ops/status.json", headers=right).json()
    act = client.post(f"/ops/sources/{sid}/poll", headers=right)
    assert act.status_code == 200 and "polled" in act.json()["message"]
    after = client.get("/ops/status.json", headers=right).json()
    last = {r["id"]: r["last_attempt"] for r in after["sources"]}
    assert last[sid] != {r["id"]: r["last_attempt"] for r in before["sources"]}[sid]
    assert client.post("/ops/sources/9999/poll", headers=right).status_code == 409
    # Browser flow: wrong token -> 403; right token -> HttpOnly SameSite=Strict cookie, then CSRF-checked forms.
    browser = TestClient(app, client=REMOTE)
    assert browser.post("/ops/login", data={"token": "nope"}).status_code == 403
    login = browser.post("/ops/login", data={"token": "s3cret-operator-token-of-32-chars+"}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "s3cret" not in cookie
    page = browser.get("/ops")
    assert page.status_code == 200 and "loopback-note" not in page.text and "s3cret" not in page.text
    assert browser.post(f"/ops/sources/{sid}/pause", data={"csrf": "forged"}).status_code == 403
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = browser.post(f"/ops/sources/{sid}/pause", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    detail = browser.get(f"/ops/sources/{sid}")
    assert detail.status_code == 200 and "paused by operator" in detail.text and 'id="polls"' in detail.text
    browser.cookies.set("syndication_ops", "tampered")
    assert browser.get("/ops").status_code == 403


def test_replay_and_retry_buttons(two_sources: Runtime, feed_server: FeedServer) -> None:
    rt = two_sources
    sid = source_id(rt, "bad")
    dl_id = deadletters.record(rt.sessions, task=TASK_POLL, args=[sid, "t"], error="boom")
    client = TestClient(create_app(rt), client=LOOPBACK)
    page = client.get("/ops").text
    assert f'id="dead-letter-{dl_id}"' in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    feed_server.add_feed("/bad.rss", rss(1))
    r = client.post(f"/ops/dead-letters/{dl_id}/replay", data={"csrf": csrf})
    assert r.status_code == 200 and "polled again" in r.text  # redirected back with the message
    assert f'id="dead-letter-{dl_id}"' not in r.text
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Item).where(Item.partner_id == "bad")) == 1
    nope = client.post("/ops/deliveries/424242/retry", data={"csrf": csrf})
    assert nope.status_code == 200 and "error:" in nope.text


# ---------------------------------------------------------------- scaled mode: Redis queues, readiness


@pytest.mark.redis
def test_queue_depth_and_age_from_redis(make_runtime: Callable[..., Runtime], redis_url: str) -> None:
    from syndication.runtime.dispatch import CeleryDispatcher

    rt = make_runtime(broker_url=redis_url)
    dispatcher = CeleryDispatcher(rt.settings)
    dispatcher.poll(1, "token-a")
    dispatcher.poll(2, "token-b")
    dispatcher.publish_all()
    q = ops.queues(rt)
    assert q["mode"] == "scaled" and "error" not in q
    depth = {r["queue"]: r for r in q["queues"]}
    assert depth["fetch"]["depth"] == 2 and depth["publish"]["depth"] == 1 and depth["notify"]["depth"] == 0
    assert depth["fetch"]["oldest_age_seconds"] is not None and 0 <= depth["fetch"]["oldest_age_seconds"] < 600
    assert depth["notify"]["oldest_age_seconds"] is None
    assert q["workers"] == [] and q["running"] == 0
    client = TestClient(create_app(rt), client=LOOPBACK)
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "broker": "ok", "publish": "ok"}
    m = metric_samples(client.get("/metrics").text)
    assert {lb["queue"]: v for lb, v in m["syndication_queue_depth"]}["fetch"] == 2
    assert m["syndication_broker_up"][0][1] == 1


def test_readyz_fails_when_the_broker_is_down(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(broker_url=f"redis://127.0.0.1:{free_port()}/0")
    client = TestClient(create_app(rt), client=LOOPBACK)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["database"] == "ok" and r.json()["broker"]
    snap = client.get("/ops/status.json").json()
    assert snap["queues"]["error"].startswith("broker not answering")
    assert client.get("/healthz").json() == {"status": "ok"}


def test_json_logs_when_configured(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from syndication.cli import app as cli

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    monkeypatch.setenv("SYNDICATION_LOG__FORMAT", "json")
    monkeypatch.setenv("SYNDICATION_LOG__LEVEL", "debug")
    try:
        # uvicorn then logs through our JSON handler; one line per request only when log.access is on
        assert cli.setup_logging() == {"log_config": None, "access_log": False}
        monkeypatch.setenv("SYNDICATION_LOG__ACCESS", "true")
        assert cli.setup_logging()["access_log"] is True
        logging.getLogger("syndication.runtime.jobs").debug(
            "poll of %s done", 7, extra={"partner": "turan", "source_id": 7, "item_id": 42})
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["message"] == "poll of 7 done" and line["level"] == "debug"
        assert (line["partner"], line["source_id"], line["item_id"]) == ("turan", 7, 42)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    monkeypatch.setenv("SYNDICATION_LOG__FORMAT", "yaml")
    result = runner.invoke(cli_app, ["status"])
    assert result.exit_code == 2 and "log.format" in result.stderr


@pytest.mark.postgres
def test_snapshot_and_metrics_on_postgresql(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                            postgres_url: str) -> None:
    good = feed_server.add_feed("/good.rss", rss(3))
    rt = make_runtime(database_url=postgres_url, partners=partners(good, feed_server.add("/bad.rss", "x", status=500)))
    poll_all(rt)
    snap = ops.snapshot(rt)
    assert snap["sources_by_state"] == {"ok": 1, "failing": 1, "disabled": 0, "quiet": 0}
    by_partner = {p["partner"]: p for p in snap["pipeline"]["partners"]}
    assert by_partner["good"]["received_1h"] == 3 and by_partner["good"]["published_1h"] == 3
    m = metric_samples(TestClient(create_app(rt), client=LOOPBACK).get("/metrics").text)
    assert {(lb["partner"], lb["outcome"]): v for lb, v in m["syndication_polls_total"]} == \
        {("good", "ok"): 1, ("bad", "error"): 1}
    assert m["syndication_poll_duration_seconds_count"][0][1] == 2


def test_failed_delivery_is_listed_and_retried(two_sources: Runtime) -> None:
    from datetime import timedelta

    from syndication.db import models
    from syndication.db.session import transaction

    if not hasattr(models, "Delivery"):
        pytest.skip("the [publish] area's deliveries table is not in this tree")
    rt = two_sources
    now = ops.utcnow()
    with transaction(rt.sessions) as s:
        notice = models.Notice(uid="urn:uuid:00000000-0000-4000-8000-000000000001", kind="republished",
                               created_at=now, partner_id="good", action="none", channels=[], attribution={})
        s.add(notice)
        s.flush()
        d = models.Delivery(notice_id=notice.id, endpoint="partner:good", url="http://127.0.0.1:9/hook",
                            state="failed", attempts=8, next_attempt_at=now, expires_at=now - timedelta(hours=1),
                            last_error="connection refused", created_at=now)
        s.add(d)
        s.flush()
        delivery_id = d.id
    listed = ops.failed_deliveries(rt)
    assert listed["available"] and [r["id"] for r in listed["items"]] == [delivery_id]
    assert "url" in listed["items"][0] and listed["items"][0]["last_error"] == "connection refused"
    client = TestClient(create_app(rt), client=LOOPBACK)
    page = client.get("/ops").text
    assert f'action="/ops/deliveries/{delivery_id}/retry"' in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    r = client.post(f"/ops/deliveries/{delivery_id}/retry", data={"csrf": csrf})
    assert r.status_code == 200 and "requeued" in r.text
    with rt.sessions() as s:
        row = s.get(models.Delivery, delivery_id)
        assert row.state == "pending" and row.expires_at > now
    m = metric_samples(client.get("/metrics").text)
    assert {lb["state"]: v for lb, v in m["syndication_deliveries"]} == {"pending": 1, "retrying": 0, "failed": 0}
    with rt.sessions() as s:
        kinds = dict(s.execute(select(models.Notice.kind, func.count()).group_by(models.Notice.kind)).all())
    kinds["republished"] -= 1  # the notice this test wrote by hand: counters count the notices the service creates
    assert {lb["kind"]: v for lb, v in m["syndication_notices_total"]} == kinds and kinds["republished"] >= 1
    assert ops.failed_deliveries(rt)["items"] == []


def test_status_and_ops_say_why_the_interval_differs(two_sources: Runtime) -> None:
    """[newcomer] A source not polled at its configured interval says why, in `status --json` and on /ops."""
    rt = two_sources
    client = TestClient(create_app(rt), client=LOOPBACK)
    snap = client.get("/ops/status.json").json()
    rows = {s["partner"]: s for s in snap["sources"]}
    assert rows["good"]["interval_reason"] is None  # new items: polled as configured
    assert rows["good"]["interval"] == rows["good"]["configured_interval"]
    reason = rows["bad"]["interval_reason"]
    assert re.fullmatch(r"backoff after \d consecutive errors? \(HTTP 500\): next poll in \S+( \S+)?", reason), reason
    page = client.get("/ops").text
    assert f'<small class="interval-reason">{reason}</small>' in page
    detail = client.get(f"/ops/sources/{source_id(rt, 'bad')}").text
    assert "interval_reason" in detail and reason in detail
