"""[trust] Nothing about an embargoed item reaches a public output before its embargo time.

Through the real HTTP app (the push API, the feeds, archives, notices, /items, /metrics), the real
publish and delivery jobs, a WebSub hub stub and a subscriber's webhook receiver, on SQLite and
PostgreSQL: after each kind of event on an embargoed item (created, updated, corrected, rights changed,
withdrawn) every public output is walked for its title, ids and links. The partner itself still sees its
notices and the item's status. Then the embargo time passes: the item appears normally, except the one
withdrawn under embargo, which was never public and stays unnamed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from syndication.db.models import Delivery, Item, Notice
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.partners.keys import issue_key, load_pepper
from syndication.partners.registry import sync_partners
from syndication.publish.published import item_uid
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.conftest import FeedServer

SECRET = "whsec_" + base64.b64encode(b"trust-embargo-test-secret-32byte").decode()
TOKEN = "turan-notices-token"
EMBARGO = "2099-01-01T00:00:00Z"
LOOPBACK = ("127.0.0.1", 50000)


def partner_config(feed_server: FeedServer, license_url: str) -> dict[str, Any]:
    return {"id": "turan", "name": "Turan", "credit": "Turan news agency", "license_url": license_url,
            "usage_terms": "Credit us.", "sources": [{"kind": "push"}],
            "webhook_url": feed_server.url("/partner-hook"), "webhook_secret": SECRET, "notices_token": TOKEN}


def story(ident: str, title: str, hour: int, **ext: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": ident, "url": f"https://turan.example/news/{ident}", "title": title,
        "content_html": f"<p>BAKU – {title}, the body.</p>", "date_published": f"2026-11-20T{hour:02d}:00:00Z",
        "tags": ["politics"], "language": "en",
    }
    if ext:
        item["_syndication"] = ext
    return item


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    key: str
    feed_server: FeedServer
    hooks: dict[str, list[bytes]] = field(default_factory=dict)

    def push(self, *items: dict[str, Any]) -> None:
        r = self.client.post("/api/v1/partners/turan/items", content=json.dumps({"items": list(items)}),
                             headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        assert r.status_code == 202, r.text
        self.publish()

    def publish(self, *, full: bool = False) -> None:
        """What a push triggers (debounced in the service), run here to the end: release, relay, publish,
        then a webhook delivery run and a WebSub ping run."""
        (jobs.publish_all if full else jobs.publish_dirty)(self.rt)
        jobs.deliver_notices(self.rt)
        jobs.deliver_pings(self.rt)

    def item(self, guid: str) -> Item:
        with self.rt.sessions() as session:
            row = session.scalar(select(Item).where(Item.guid == guid))
            assert row is not None, guid
            return row

    def mark(self) -> tuple[int, int]:
        with self.rt.sessions() as session:
            return len(self.hooks["subscriber"]), int(session.scalar(select(func.max(Notice.id))) or 0)

    def hub_posts(self) -> list[bytes]:
        return [body for path, _, body in self.feed_server.posts if path == "/hub"]


def markers(env: Env, guid: str, title_word: str) -> list[re.Pattern[bytes]]:
    """What would reveal the item: its title, the partner's id and URL, our id, our URL for it."""
    row = env.item(guid)
    return [re.compile(re.escape(s.encode())) for s in
            (title_word, guid, row.url or "", item_uid(row.partner_id, row.key))] + [
        re.compile(rb"/items/" + str(row.id).encode() + rb"(?!\d)")]


def leaks(data: bytes, pats: list[re.Pattern[bytes]]) -> list[str]:
    return [p.pattern.decode() for p in pats if p.search(data)]


def walk_public(env: Env, pats: list[re.Pattern[bytes]], item_ids: list[int], since: tuple[int, int] = (0, 0)) -> int:
    """Every public output, on disk and over HTTP; returns how many documents were looked at. `since`:
    (subscriber webhooks, notice id) before the item went under embargo; only what came after counts."""
    public = env.rt.settings.public_dir
    seen = 0
    for path in sorted(public.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(public).as_posix()
        if rel.startswith("notices/") and path.stem != "all":
            continue  # a partner's own notices feed (behind its key): checked below as allowed
        data = path.read_bytes()
        assert not leaks(data, pats), (rel, leaks(data, pats))
        resp = env.client.get("/" + rel)
        assert resp.status_code == 200 and resp.content == data, rel
        seen += 1
    for item_id in item_ids:
        for path in (f"/items/{item_id}", f"/items/{item_id}.ninjs.json"):
            resp = env.client.get(path)
            assert resp.status_code == 404 and not leaks(resp.content, pats), (path, resp.status_code)
    metrics = env.client.get("/metrics")
    assert metrics.status_code == 200 and not leaks(metrics.content, pats), leaks(metrics.content, pats)
    for body in env.hub_posts():
        assert not leaks(body, pats)
    for body in env.hooks["subscriber"][since[0]:]:
        assert not leaks(body, pats), "a subscriber's webhook named the embargoed item"
    with env.rt.sessions() as session:
        to_subscribers = session.scalars(select(Delivery.id).join(Notice, Notice.id == Delivery.notice_id).where(
            Notice.item_id.in_(item_ids), Notice.id > since[1], Delivery.endpoint.like("subscriber:%"))).all()
    assert to_subscribers == []
    return seen + len(item_ids) + 1


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], make_settings: Callable[..., Settings], feed_server: FeedServer,
        database_url: str) -> Iterator[Env]:
    hooks: dict[str, list[bytes]] = {"partner": [], "subscriber": []}
    for name, path in (("partner", "/partner-hook"), ("subscriber", "/subscriber-hook")):
        def handle(req: BaseHTTPRequestHandler, name: str = name) -> tuple[int, dict[str, str], bytes]:
            hooks[name].append(req.request_body)  # type: ignore[attr-defined]
            return 204, {}, b""

        feed_server.add(path, b"")
        feed_server.routes[path].handler = handle
    feed_server.add("/hub", b"", status=204)
    rt = make_runtime(
        database_url=database_url,
        partners=[partner_config(feed_server, "https://creativecommons.org/licenses/by/4.0/")],
        subscribers=[{"id": "downstream", "webhook_url": feed_server.url("/subscriber-hook"),
                      "webhook_secret": SECRET,
                      "kinds": ["republished", "updated", "corrected", "withdrawn", "rights_changed"]}],
        channels=[{"id": "politics", "title": "Politics", "categories": ["politics"]}],
        publish={"window": 3, "archive_page_size": 2},
        websub={"hub_url": feed_server.url("/hub"), "retries": 0},
    )
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    client = TestClient(create_app(rt), client=LOOPBACK)
    yield Env(rt, client, key, feed_server, hooks)
    client.close()


def test_embargoed_item_never_reaches_a_public_output(env: Env, make_settings: Callable[..., Settings],
                                                       feed_server: FeedServer) -> None:
    # Public items first, older than the embargoed ones: the window holds 3, the rest are archived.
    env.push(*(story(f"public-{i}", f"Public story {i}", 8 + i) for i in range(5)))
    assert (env.rt.settings.feeds_dir / "all/archive/1.atom").exists()

    # 1. created: two embargoed items, newer than everything public (they would top every window).
    env.push(story("secret-a", "Zanzibar merger talks", 20, embargo_until=EMBARGO),
             story("secret-b", "Quillfeather resigns", 21, embargo_until=EMBARGO))
    a, b = env.item("secret-a"), env.item("secret-b")
    pats_a, pats_b = markers(env, "secret-a", "Zanzibar"), markers(env, "secret-b", "Quillfeather")
    pings = len(env.hub_posts())
    looked = walk_public(env, pats_a + pats_b, [a.id, b.id])
    assert looked >= 3 * 3 + 2 + 2 + 3  # current channels, archive pages, public notices, /items, /metrics

    # 2. updated, 3. corrected (a new title too): the partner learns of them; the public does not.
    env.push(story("secret-a", "Zanzibar merger talks", 20, embargo_until=EMBARGO) | {
        "content_html": "<p>BAKU – Zanzibar merger talks, a longer body.</p>"})
    walk_public(env, pats_a + pats_b, [a.id, b.id])
    env.push(story("secret-a", "Zanzibar merger talks resume", 20, embargo_until=EMBARGO, status="corrected",
                   change_note="Zanzibar date fixed"))
    walk_public(env, pats_a + pats_b, [a.id, b.id])
    assert len(env.hub_posts()) == pings, "a WebSub ping announced a change no public feed shows"

    # 4. the partner's rights policy changes (its channels are rewritten; every entry carries the policy).
    sync_partners(env.rt.sessions, make_settings(partners=[partner_config(
        feed_server, "https://creativecommons.org/licenses/by-nd/4.0/")]))
    env.publish()
    assert b"by-nd/4.0" in (env.rt.settings.feeds_dir / "partners/turan.atom").read_bytes()
    walk_public(env, pats_a + pats_b, [a.id, b.id])

    # 5. withdrawn while under embargo: no tombstone, no public notice.
    pings = len(env.hub_posts())
    env.push(story("secret-b", "Quillfeather resigns", 21, embargo_until=EMBARGO, status="withdrawn",
                   change_note="Quillfeather story killed"))
    walk_public(env, pats_a + pats_b, [a.id, b.id])
    assert len(env.hub_posts()) == pings
    assert b"deleted-entry" not in (env.rt.settings.feeds_dir / "all.atom").read_bytes()

    # The partner itself may see all of it: its notices feed and the item-status API.
    own = env.client.get("/notices/turan.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert own.status_code == 200
    kinds = [(e["_syndication"]["kind"], e["_syndication"]["partner_item_id"]) for e in own.json()["items"]]
    assert ("updated", "secret-a") in kinds and ("corrected", "secret-a") in kinds
    assert ("withdrawn", "secret-b") in kinds and ("rights_changed", None) in kinds
    status = env.client.get("/api/v1/partners/turan/items/secret-a", headers={"Authorization": f"Bearer {env.key}"})
    assert status.status_code == 200 and status.json()["embargoed"] is True
    assert status.json()["title"] == "Zanzibar merger talks resume"
    assert any(b"Zanzibar" in body for body in env.hooks["partner"]), "the partner's own webhook hears of it"

    # 6. The embargo time passes. (The clock cannot be moved, so the stored embargo is: to one second ago,
    # B's withdrawal staying before it, as it was.)
    now = utcnow()
    with transaction(env.rt.sessions) as session:
        session.execute(update(Item).where(Item.id.in_([a.id, b.id])).values(embargo_until=now - timedelta(seconds=1)))
        session.execute(update(Item).where(Item.id == b.id).values(withdrawn_at=now - timedelta(seconds=2)))
    env.publish()
    # A appears normally: on top of every channel it belongs to, at /items, announced to subscribers.
    for channel in ("all", "partners/turan", "politics"):
        doc = env.client.get(f"/feeds/{channel}.json").json()
        assert doc["items"][0]["title"] == "Zanzibar merger talks resume", channel
    page = env.client.get(f"/items/{a.id}")
    assert page.status_code == 200 and "Zanzibar merger talks resume" in page.text
    republished = [json.loads(b) for b in env.hooks["subscriber"] if b"Zanzibar" in b]
    assert [n["data"]["kind"] for n in republished] == ["republished"]
    assert len(env.hub_posts()) > pings
    # Its correction happened before anyone outside could see it: nothing to correct publicly.
    assert b"Zanzibar" not in env.client.get("/notices/all.atom").content
    # B was withdrawn before it was ever public: it stays unnamed everywhere, also after the scheduled
    # full refresh rewrites every file.
    walk_public(env, pats_b, [b.id])
    env.publish(full=True)
    walk_public(env, pats_b, [b.id])
    assert b"Zanzibar" not in env.client.get("/notices/all.atom").content
    assert b"Zanzibar" in env.client.get("/feeds/all.atom").content


def test_item_put_under_embargo_again_leaves_every_public_output(env: Env) -> None:
    # An older item, so that it is on the open archive page, not in the window.
    env.push(story("vellichor-c", "Vellichor summit", 5))
    env.push(*(story(f"public-{i}", f"Public story {i}", 8 + i) for i in range(4)))
    env.push(story("vellichor-c", "Vellichor summit opens", 5, status="corrected", change_note="Vellichor date"))
    env.publish(full=True)
    assert b"Vellichor" in env.client.get("/notices/all.atom").content  # public: a correction of a public item
    assert b"Vellichor" in env.client.get("/feeds/all/archive/1.atom").content
    # The partner puts the item under embargo (again): it and its notices leave every public output.
    since = env.mark()
    env.push(story("vellichor-c", "Vellichor summit opens", 5, embargo_until=EMBARGO))
    c = env.item("vellichor-c")
    walk_public(env, markers(env, "vellichor-c", "Vellichor"), [c.id], since)
