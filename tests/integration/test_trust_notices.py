"""[trust] A republished/updated/corrected notice, and its webhook, only once the channel files carrying
the change are written; a failed publish keeps the notice pending until a retry succeeds.

Real HTTP app (push API, notices feeds), real publish and delivery jobs, a webhook receiver, on SQLite and
PostgreSQL. The filesystem is failed the way root cannot bypass: a file where a directory must be.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from syndication.db.models import ChannelFile, Notice
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import LocalDispatcher
from syndication.web.app import create_app
from tests.conftest import FeedServer

SECRET = "whsec_" + base64.b64encode(b"trust-notices-test-secret-32byte").decode()
TOKEN = "turan-notices-token"


def story(ident: str, title: str, hour: int, **ext: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": ident, "url": f"https://turan.example/news/{ident}", "title": title,
                            "content_html": f"<p>{title}, the body.</p>",
                            "date_published": f"2026-11-20T{hour:02d}:00:00Z", "tags": ["politics"]}
    if ext:
        item["_syndication"] = ext
    return item


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    key: str
    received: dict[str, list[dict[str, Any]]]
    executor: LocalDispatcher

    def publish(self) -> None:
        """A dirty publish run as the embedded service runs it (an exception is logged, not raised)."""
        self.executor._run_safely("publish_dirty")

    def pending(self) -> int:
        from syndication.db.models import PendingNotice

        return self.count(PendingNotice)

    def push(self, *items: dict[str, Any]) -> None:
        r = self.client.post("/api/v1/partners/turan/items", content=json.dumps({"items": list(items)}),
                             headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        assert r.status_code == 202, r.text

    def own_notices(self) -> list[tuple[str, str | None]]:
        r = self.client.get("/notices/turan.json", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        return [(e["_syndication"]["kind"], e["_syndication"]["partner_item_id"]) for e in r.json()["items"]]

    def public_notices(self) -> list[tuple[str, str | None]]:
        r = self.client.get("/notices/all.json")
        assert r.status_code == 200, r.text
        return [(e["_syndication"]["kind"], e["_syndication"]["partner_item_id"]) for e in r.json()["items"]]

    def count(self, model: Any) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def publish_when_due(self, timeout: float = 15.0) -> None:
        """What the scheduler tick does: once a failed channel's backoff has passed, a dirty run."""
        deadline = time.monotonic() + timeout
        while not jobs.publish_retry_due(self.rt):
            assert time.monotonic() < deadline, "no retry came due"
            time.sleep(0.05)
        self.publish()


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str) -> Iterator[Env]:
    received: dict[str, list[dict[str, Any]]] = {"partner": [], "subscriber": []}
    for name in received:
        def handle(req: BaseHTTPRequestHandler, name: str = name) -> tuple[int, dict[str, str], bytes]:
            received[name].append(json.loads(req.request_body)["data"])  # type: ignore[attr-defined]
            return 204, {}, b""

        feed_server.add(f"/{name}-hook", b"")
        feed_server.routes[f"/{name}-hook"].handler = handle
    rt = make_runtime(
        database_url=database_url,
        partners=[{"id": "turan", "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "push"}],
                   "webhook_url": feed_server.url("/partner-hook"), "webhook_secret": SECRET,
                   "notices_token": TOKEN}],
        subscribers=[{"id": "downstream", "webhook_url": feed_server.url("/subscriber-hook"),
                      "webhook_secret": SECRET, "kinds": ["republished", "updated", "corrected", "withdrawn"]}],
        channels=[{"id": "politics", "title": "Politics", "categories": ["politics"]}],
        publish={"retry_base": 0.2, "retry_cap": 1.0},
    )
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    client = TestClient(create_app(rt))
    executor = LocalDispatcher(rt, 1)
    yield Env(rt, client, key, received, executor)
    executor.close()
    client.close()


def block(path: Path) -> None:
    """A file where the publisher needs a directory: writes fail even for root."""
    if path.is_dir():
        shutil.rmtree(path)
    path.write_text("not a directory\n")


def unblock(path: Path) -> None:
    path.unlink()


def test_notices_wait_for_the_files_that_carry_their_change(env: Env) -> None:
    env.push(story("s1", "First story", 9), story("s2", "Second story", 10))
    jobs.publish_all(env.rt)  # as at the service's start
    jobs.deliver_notices(env.rt)
    assert env.own_notices() == [("republished", "s2"), ("republished", "s1")]
    before = {k: len(v) for k, v in env.received.items()}

    feeds = env.rt.settings.feeds_dir
    block(feeds)
    env.push(story("s3", "Third story", 11),
             story("s1", "First story", 9) | {"content_html": "<p>First story, a longer body.</p>"},
             story("s2", "Second story (fixed)", 10, status="corrected", change_note="Name fixed"))
    env.publish()
    jobs.deliver_notices(env.rt)
    # Nothing was written, so nothing is claimed: no notice, no webhook; three notices wait.
    assert env.own_notices() == [("republished", "s2"), ("republished", "s1")]
    assert env.public_notices() == []
    assert {k: len(v) for k, v in env.received.items()} == before
    assert env.count(Notice) == 2 and env.pending() == 3
    # Still failing: the retry fails too and the notices keep waiting.
    env.publish_when_due()
    jobs.deliver_notices(env.rt)
    assert env.count(Notice) == 2 and env.pending() == 3
    assert {k: len(v) for k, v in env.received.items()} == before

    unblock(feeds)
    env.publish_when_due()
    jobs.deliver_notices(env.rt)
    assert env.pending() == 0
    # In the order of their events (the store writes a document's updates before its new items).
    assert env.own_notices()[:3] == [("republished", "s3"), ("corrected", "s2"), ("updated", "s1")]
    assert env.public_notices() == [("corrected", "s2")]
    # What the notices say is in the files, and the files were written before the notices were made.
    all_feed = json.loads((feeds / "all.json").read_text())
    assert {i["title"] for i in all_feed["items"]} >= {"Third story", "Second story (fixed)"}
    assert "a longer body" in json.dumps(all_feed)
    with env.rt.sessions() as session:
        written = {f.channel_id: f.written_at for f in session.scalars(select(ChannelFile))}
        made = list(session.scalars(select(Notice).where(Notice.partner_item_id.in_(["s1", "s2", "s3"]))
                                    .where(Notice.kind != "republished").order_by(Notice.id)))
    assert made and all(n.created_at >= written[c] for n in made for c in n.channels)
    new = {k: [(n["kind"], n["partner_item_id"]) for n in v[before[k]:]] for k, v in env.received.items()}
    assert sorted(new["partner"]) == [("corrected", "s2"), ("republished", "s3"), ("updated", "s1")]
    assert sorted(new["subscriber"]) == [("corrected", "s2"), ("republished", "s3"), ("updated", "s1")]


def test_a_notice_waits_for_every_channel_it_names(env: Env) -> None:
    env.push(story("s1", "First story", 9))
    jobs.publish_all(env.rt)
    # Only the partners' channels fail: `all` and `politics` are written, partners/turan is not.
    partners_dir = env.rt.settings.feeds_dir / "partners"
    block(partners_dir)
    env.push(story("s1", "First story (fixed)", 9, status="corrected", change_note="Typo"))
    env.publish()
    jobs.deliver_notices(env.rt)
    assert "First story (fixed)" in (env.rt.settings.feeds_dir / "all.json").read_text()
    assert ("corrected", "s1") not in env.own_notices()
    assert [n["kind"] for n in env.received["partner"]] == ["republished"]
    assert env.pending() == 1
    unblock(partners_dir)
    env.publish_when_due()
    jobs.deliver_notices(env.rt)
    assert env.pending() == 0
    assert env.own_notices()[0] == ("corrected", "s1")
    assert [n["kind"] for n in env.received["partner"]] == ["republished", "corrected"]
    with env.rt.sessions() as session:
        notice = session.scalars(select(Notice).where(Notice.kind == "corrected")).one()
    assert notice.channels == ["all", "partners/turan", "politics"]
