"""[publish] Channels, archives, tombstones, notices, WebSub and webhooks against real SQLite/PostgreSQL,
the local HTTP server (partner feeds, hub stub, webhook receiver) and the FastAPI app."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import feedparser
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select, update
from typer.testing import CliRunner

from syndication import jobs
from syndication.clock import utcnow
from syndication.db.models import (
    ArchivePage,
    ChannelFile,
    Delivery,
    Item,
    Notice,
    Partner,
    Source,
    WebhookEndpoint,
    WebSubPing,
)
from syndication.db.session import transaction
from syndication.publish.publisher import publish
from syndication.publish.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, deliver_due, verify
from syndication.runtime import Runtime
from syndication.schedule import claim_sources
from syndication.web.app import create_app
from tests.conftest import FeedServer
from tests.feedcheck import assert_valid_atom, parse_clean, validate_tree

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
AT = "{http://purl.org/atompub/tombstones/1.0}"
A = "{http://www.w3.org/2005/Atom}"
SECRET = "whsec-test-0123456789"


def jitem(i: int, **over: Any) -> dict[str, Any]:
    it: dict[str, Any] = {
        "id": f"story-{i}",
        "url": f"https://agency.example/news/{i}",
        "title": f"Story {i}",
        "content_html": f'<p>Body of story {i}.</p>'
                        f'<p><img src="https://agency.example/img/{i}.jpg" alt="Scene {i}"></p>',
        "date_published": (BASE + timedelta(hours=i)).isoformat(),
        "authors": [{"name": f"Writer {i}"}],
        "tags": ["politics"],
        "language": "en",
        "_syndication": {"image_credit": "Photo Person"},
    }
    it.update(over)
    return it


def jfeed(items: list[dict[str, Any]]) -> str:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Agency",
                       "home_page_url": "https://agency.example/", "items": items})


def partner(pid: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": f"{pid.title()} Agency", "homepage": f"https://{pid}.example/",
            "credit": f"{pid.title()} news agency", "license_url": CC_BY, "usage_terms": "Credit us.",
            "copyright": "© {year} " + pid.title(), "language": "en",
            "sources": [{"kind": "feed", "url": url}], **extra}


def serve(feed_server: FeedServer, pid: str, items: list[dict[str, Any]]) -> str:
    return feed_server.add(f"/{pid}.json", jfeed(items), content_type="application/feed+json")


def poll(rt: Runtime, *partners: str) -> None:
    with rt.sessions() as session:
        ids = list(session.scalars(select(Source.id).where(Source.partner_id.in_(partners))))
    for sid, token in claim_sources(rt.sessions, ids, utcnow(), lease_seconds=60):
        report = jobs.poll_source(rt, sid, token)
        assert report is not None and report.status == "ok", report


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- validity of everything we publish


def test_every_published_file_validates(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    a = serve(feed_server, "turan", [jitem(i) for i in range(7)])
    b = serve(feed_server, "caspian", [jitem(i, id=f"c{i}", url=f"https://caspian.example/{i}", tags=["economy"],
                                             title=f"Caspian {i}", content_html=f"<p>Caspian body {i}</p>")
                                       for i in range(2)])
    hub = feed_server.add("/hub", b"", status=204)
    rt = make_runtime(
        partners=[partner("turan", a, notices_token="tok"), partner("caspian", b)],
        channels=[{"id": "politics", "title": "Politics", "categories": ["politics"], "language": "en"}],
        publish={"window": 3, "archive_page_size": 2},
        websub={"hub_url": hub, "retry_delay": 0},
    )
    poll(rt, "turan", "caspian")
    # A correction and a withdrawal, so tombstones and every notice kind exist.
    items = [jitem(i) for i in range(8)]
    items[6] = jitem(6, title="Story 6 (corrected)", _syndication={"status": "corrected", "change_note": "Name fixed"})
    items[5] = jitem(5, _syndication={"status": "withdrawn", "change_note": "Legal request"})
    serve(feed_server, "turan", items)
    poll(rt, "turan")
    jobs.publish_all(rt)
    public = rt.settings.public_dir
    counts = validate_tree(public)
    # all, partners/turan, partners/caspian, politics + archive pages; notices for 2 partners + all.
    assert counts[".atom"] >= 4 + 3 + 3 and counts[".rss"] >= 4 + 3 and counts[".json"] >= 4 + 3 + 3
    assert (public / "feeds/all/archive/1.atom").exists() and (public / "notices/turan.atom").exists()
    current = assert_valid_atom((public / "feeds/partners/turan.atom").read_bytes())
    assert current.find(AT + "deleted-entry") is not None
    assert {lk.get("rel") for lk in current.findall(A + "link")} >= {"self", "alternate", "hub", "prev-archive"}
    # The configured channel holds only its category.
    politics = feedparser.parse((public / "feeds/politics.rss").read_bytes())
    assert politics.entries and all(e.link for e in politics.entries)
    assert not any("caspian" in (e.get("source") or {}).get("href", "") for e in politics.entries)
    rss = parse_clean((public / "feeds/all.rss").read_bytes()).entries[0]
    assert rss.author and rss.rights and rss.license == CC_BY and rss.source["title"]
    assert any(lk.get("rel") == "via" for lk in rss.links)


# ---------------------------------------------------------------- publishing only what changed


def test_only_dirty_channels_are_rewritten(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    a = serve(feed_server, "turan", [jitem(0)])
    b = serve(feed_server, "caspian", [jitem(0, id="c0", title="Caspian story", content_html="<p>Other news.</p>",
                                             url="https://caspian.example/0")])
    rt = make_runtime(partners=[partner("turan", a), partner("caspian", b)])
    poll(rt, "turan", "caspian")
    jobs.publish_all(rt)
    before = snapshot(rt.settings.feeds_dir)
    again = jobs.publish_all(rt)
    assert not any(r.changed for r in again)  # the same data writes nothing
    serve(feed_server, "turan", [jitem(0), jitem(1)])
    poll(rt, "turan")
    results = jobs.publish_dirty(rt)
    assert {r.channel for r in results} == {"all", "partners/turan"}
    assert all(r.changed for r in results)
    after = snapshot(rt.settings.feeds_dir)
    for fmt in ("atom", "rss", "json"):
        assert after[f"partners/caspian.{fmt}"] == before[f"partners/caspian.{fmt}"]
        assert after[f"partners/turan.{fmt}"] != before[f"partners/turan.{fmt}"]
    assert jobs.publish_dirty(rt) == []  # nothing dirty any more
    with rt.sessions() as session:
        rows = {(f.channel_id, f.format): f for f in session.scalars(select(ChannelFile))}
    assert rows[("all", "atom")].items == 3 and rows[("partners/caspian", "atom")].items == 1


# ---------------------------------------------------------------- RFC 5005 archives


def test_archives_are_linked_and_stable(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                       database_url: str) -> None:
    url = serve(feed_server, "turan", [jitem(i) for i in range(8)])
    rt = make_runtime(database_url=database_url, partners=[partner("turan", url)],
                      publish={"window": 3, "archive_page_size": 2})
    poll(rt, "turan")
    jobs.publish_all(rt)
    feeds = rt.settings.feeds_dir / "partners/turan/archive"
    # 8 items, 3 in the window: 5 archived oldest first -> pages 1 (0,1), 2 (2,3), 3 (4).
    assert sorted(p.name for p in feeds.glob("*.atom")) == ["1.atom", "2.atom", "3.atom"]

    def entries(n: int) -> list[str]:
        d = feedparser.parse((feeds / f"{n}.atom").read_bytes())
        return sorted(e.title for e in d.entries)

    def links(path: Path) -> dict[str, str]:
        root = etree.fromstring(path.read_bytes())
        return {lk.get("rel"): lk.get("href") for lk in root.findall(A + "link")}

    assert entries(1) == ["Story 0", "Story 1"] and entries(2) == ["Story 2", "Story 3"] and entries(3) == ["Story 4"]
    base = "http://127.0.0.1:8000/feeds/partners/turan"
    assert links(rt.settings.feeds_dir / "partners/turan.atom")["prev-archive"] == f"{base}/archive/3.atom"
    assert links(feeds / "2.atom")["prev-archive"] == f"{base}/archive/1.atom"
    assert links(feeds / "2.atom")["next-archive"] == f"{base}/archive/3.atom"
    assert "prev-archive" not in links(feeds / "1.atom") and "next-archive" not in links(feeds / "3.atom")
    assert links(feeds / "3.atom")["current"] == f"{base}.atom"
    with rt.sessions() as session:
        frozen = {p.page: p.frozen_at is not None for p in session.scalars(
            select(ArchivePage).where(ArchivePage.channel_id == "partners/turan"))}
    assert frozen == {1: True, 2: True, 3: False}
    full = {n: (feeds / f"1.{f}").read_bytes() for n, f in enumerate(("atom", "rss", "json"))}
    page2 = (feeds / "2.atom").read_bytes()
    stat1 = (feeds / "1.atom").stat().st_mtime_ns

    # Three newer items and a correction of an archived one: full pages never change.
    items = [jitem(i) for i in range(11)]
    items[0] = jitem(0, title="Story 0 corrected", _syndication={"status": "corrected", "change_note": "x"})
    serve(feed_server, "turan", items)
    poll(rt, "turan")
    jobs.publish_dirty(rt)
    jobs.publish_all(rt)
    assert {n: (feeds / f"1.{f}").read_bytes() for n, f in enumerate(("atom", "rss", "json"))} == full
    assert (feeds / "1.atom").stat().st_mtime_ns == stat1 and (feeds / "2.atom").read_bytes() == page2
    assert entries(3) == ["Story 4", "Story 5"] and entries(4) == ["Story 6", "Story 7"]
    assert links(rt.settings.feeds_dir / "partners/turan.atom")["prev-archive"] == f"{base}/archive/4.atom"
    assert links(feeds / "3.atom")["next-archive"] == f"{base}/archive/4.atom"
    # Regenerating lost files reproduces identical bytes (page 1 holds the corrected Story 0: when lost, it is
    # rebuilt from the current data).
    snap = snapshot(rt.settings.feeds_dir)
    for p in rt.settings.feeds_dir.rglob("*.atom"):
        p.unlink()
    jobs.publish_all(rt)
    regenerated = snapshot(rt.settings.feeds_dir)
    assert set(regenerated) == set(snap)
    assert {k: v[1] for k, v in regenerated.items() if "/archive/1." not in k} == {
        k: v[1] for k, v in snap.items() if "/archive/1." not in k}
    validate_tree(rt.settings.feeds_dir)


# ---------------------------------------------------------------- RFC 6721 tombstones


def test_withdrawn_item_leaves_feed_with_tombstone(make_runtime: Callable[..., Runtime],
                                                   feed_server: FeedServer) -> None:
    url = serve(feed_server, "turan", [jitem(0), jitem(1)])
    rt = make_runtime(partners=[partner("turan", url)], publish={"tombstone_days": 2})
    poll(rt, "turan")
    jobs.publish_all(rt)
    serve(feed_server, "turan", [jitem(0), jitem(1, _syndication={"status": "withdrawn", "change_note": "Legal"})])
    poll(rt, "turan")
    jobs.publish_dirty(rt)
    path = rt.settings.feeds_dir / "all.atom"
    root = assert_valid_atom(path.read_bytes())
    assert [e.findtext(A + "title") for e in root.findall(A + "entry")] == ["Story 0"]
    stones = root.findall(AT + "deleted-entry")
    with rt.sessions() as session:
        gone = session.scalar(select(Item).where(Item.guid == "story-1"))
    assert gone is not None and gone.status == "withdrawn"
    assert len(stones) == 1 and stones[0].findtext(AT + "comment") == "Legal"
    from syndication.publish.channels import item_uid

    assert stones[0].get("ref") == item_uid("turan", gone.key)
    assert "Story 1" not in (rt.settings.feeds_dir / "all.rss").read_text()
    # After the configured period the tombstone goes too.
    publish(rt.sessions, rt.settings, utcnow() + timedelta(days=3), only_dirty=False)
    assert assert_valid_atom(path.read_bytes()).find(AT + "deleted-entry") is None


# ---------------------------------------------------------------- HTTP


def test_http_validators_head_gzip_notices_auth_and_items(make_runtime: Callable[..., Runtime],
                                                          feed_server: FeedServer) -> None:
    url = serve(feed_server, "turan", [jitem(i) for i in range(3)])
    rt = make_runtime(partners=[partner("turan", url, notices_token="tok-123")], publish={"ttl": 7})
    poll(rt, "turan")
    jobs.publish_all(rt)
    client = TestClient(create_app(rt))
    ident = {"Accept-Encoding": "identity"}
    r = client.get("/feeds/all.atom", headers=ident)
    assert r.status_code == 200 and r.content == (rt.settings.feeds_dir / "all.atom").read_bytes()
    assert r.headers["cache-control"] == "public, max-age=420" and "content-encoding" not in r.headers
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert client.get("/feeds/all.atom", headers={**ident, "If-None-Match": etag}).status_code == 304
    assert client.get("/feeds/all.atom", headers={**ident, "If-Modified-Since": modified}).status_code == 304
    # If-None-Match wins over If-Modified-Since.
    assert client.get("/feeds/all.atom", headers={**ident, "If-None-Match": '"x"',
                                                  "If-Modified-Since": modified}).status_code == 200
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("/feeds/all.atom", headers={**ident, "If-Modified-Since": old}).status_code == 200
    h = client.head("/feeds/all.atom", headers=ident)
    assert h.status_code == 200 and h.content == b"" and h.headers["content-length"] == str(len(r.content))
    gz = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == r.content  # httpx decodes
    assert gz.headers["etag"] != etag and gz.headers["vary"] == "Accept-Encoding"
    raw = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(gzip.compress(raw.content)) == r.content
    assert client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip",
                                                  "If-None-Match": gz.headers["etag"]}).status_code == 304
    assert client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip;q=0"}).headers.get(
        "content-encoding") is None

    # Notices: public corrections feed; partner feed behind its token or push key.
    assert client.get("/notices/all.atom").status_code == 200
    assert client.get("/notices/turan.atom").status_code == 401
    assert client.get("/notices/turan.atom?token=nope").status_code == 403
    assert client.get("/notices/turan.atom", headers={"Authorization": "Bearer nope"}).status_code == 403
    ok = client.get("/notices/turan.atom?token=tok-123")
    assert ok.status_code == 200 and ok.headers["cache-control"].startswith("private")
    feed = parse_clean(ok.content)
    assert [e.title for e in feed.entries].count("republished: Story 0") == 1
    assert client.get("/notices/turan.json", headers={"Authorization": "Bearer tok-123"}).status_code == 200
    from syndication.keys import issue_key, load_pepper

    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    assert client.get("/notices/turan.atom", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/notices/nobody.atom").status_code == 404
    assert client.get("/notices/turan.xml?token=tok-123").status_code == 404

    # Our copy of an item (the alternate link), and 410 once withdrawn.
    entry = feedparser.parse(r.content).entries[0]
    path = entry.link.removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert page.status_code == 200 and "Story 2" in page.text and 'rel="canonical"' in page.text
    serve(feed_server, "turan", [jitem(0), jitem(1), jitem(2, _syndication={"status": "withdrawn"})])
    poll(rt, "turan")
    assert client.get(path).status_code == 410
    assert client.get("/items/999999").status_code == 404


# ---------------------------------------------------------------- WebSub


def test_websub_ping_to_local_hub(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    calls: list[int] = []

    def hub(_: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        calls.append(1)
        return (503 if len(calls) == 1 else 204), {}, b""

    feed_server.add("/hub", b"")
    feed_server.routes["/hub"].handler = hub
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(partners=[partner("turan", url)],
                      websub={"hub_url": feed_server.url("/hub"), "retries": 2, "retry_delay": 0})
    poll(rt, "turan")
    jobs.publish_all(rt)
    pings = [parse_qs(body.decode()) for path, headers, body in feed_server.posts if path == "/hub"]
    topics = sorted(p["hub.url"][0] for p in pings)
    assert all(p["hub.mode"] == ["publish"] for p in pings)
    expected = sorted(f"http://127.0.0.1:8000/feeds/{c}.{f}" for c in ("all", "partners/turan")
                      for f in ("atom", "rss", "json"))
    assert sorted(set(topics)) == expected and len(pings) == len(expected) + 1  # the first answer was 503
    with rt.sessions() as session:
        rows = list(session.scalars(select(WebSubPing).order_by(WebSubPing.id)))
    assert len(rows) == len(expected) and all(r.outcome == "ok" and r.http_status == 204 for r in rows)
    assert rows[0].attempts == 2 and all(r.attempts == 1 for r in rows[1:])
    # Hub links in Atom and RSS.
    assert f'href="{feed_server.url("/hub")}"'.encode() in (rt.settings.feeds_dir / "all.rss").read_bytes()
    jobs.publish_all(rt)  # unchanged: no ping
    assert len([p for p in feed_server.posts if p[0] == "/hub"]) == len(expected) + 1


# ---------------------------------------------------------------- notices


def test_notices_one_per_event_with_every_field(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                                 database_url: str) -> None:
    url = serve(feed_server, "turan", [jitem(0), jitem(1)])
    rt = make_runtime(database_url=database_url, partners=[partner("turan", url)],
                      channels=[{"id": "politics", "title": "Politics", "categories": ["politics"]}])
    poll(rt, "turan")
    jobs.publish_all(rt)
    items = [jitem(0, title="Story 0 fixed", _syndication={"status": "corrected", "change_note": "Wrong name"}),
             jitem(1, _syndication={"status": "withdrawn", "change_note": "Legal request"})]
    serve(feed_server, "turan", items)
    poll(rt, "turan")
    # [trust] Notices are released once the channel files carrying their change are written.
    jobs.publish_dirty(rt)
    jobs.publish_dirty(rt)  # publishing again creates nothing
    with rt.sessions() as session:
        notices = list(session.scalars(select(Notice).order_by(Notice.id)))
        item0 = session.scalar(select(Item).where(Item.guid == "story-0"))
    assert [(n.kind, n.action) for n in notices] == [
        ("republished", "none"), ("republished", "none"), ("corrected", "update"), ("withdrawn", "remove")]
    c = notices[2]
    assert item0 is not None
    assert c.partner_id == "turan" and c.partner_item_id == "story-0" and c.partner_item_url.endswith("/news/0")
    assert c.item_uid and c.item_uid.startswith("urn:uuid:") and c.item_version == 2
    assert c.item_url == f"http://127.0.0.1:8000/items/{item0.id}" and c.reason == "Wrong name"
    assert c.channels == ["all", "partners/turan", "politics"]
    assert c.attribution["credit"] == "Turan news agency" and c.attribution["license_url"] == CC_BY
    assert c.attribution["usage_terms"] == "Credit us."
    assert notices[3].reason == "Legal request" and c.event_id is not None
    assert len({n.event_id for n in notices}) == 4
    jobs.publish_dirty(rt)
    public = feedparser.parse((rt.settings.public_dir / "notices/all.atom").read_bytes())
    assert sorted(e.title.split(":")[0] for e in public.entries) == ["corrected", "withdrawn"]
    validate_tree(rt.settings.public_dir / "notices")
    doc = json.loads((rt.settings.public_dir / "notices/turan.json").read_text())
    assert doc["items"][0]["_syndication"]["kind"] == "withdrawn"

    # A partner's rights policy changes -> rights_changed.
    with transaction(rt.sessions) as session:
        session.execute(update(Partner).where(Partner.id == "turan").values(
            license_url="https://creativecommons.org/licenses/by-nd/4.0/"))
    jobs.publish_all(rt)
    with rt.sessions() as session:
        last = session.scalars(select(Notice).order_by(Notice.id.desc())).first()
    assert last is not None and last.kind == "rights_changed" and last.reason == "changed: license_url"
    assert last.attribution["license_url"].endswith("/by-nd/4.0/") and last.action == "update"
    # Notices are immutable.
    import pytest

    from syndication.publish.notices import ImmutableNoticeError

    with pytest.raises(ImmutableNoticeError), transaction(rt.sessions) as session:
        row = session.get(Notice, last.id)
        assert row is not None
        row.reason = "rewritten"


# ---------------------------------------------------------------- webhooks


def _receiver(feed_server: FeedServer, path: str, statuses: list[int], secret: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def handle(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        body = req.request_body  # type: ignore[attr-defined]
        ok = verify(secret, req.headers[TIMESTAMP_HEADER], body, req.headers[SIGNATURE_HEADER], now=time.time())
        seen.append({"valid": ok, "notice": json.loads(body)["notice"]})
        status = statuses.pop(0) if statuses else 200
        return (status if ok else 401), {}, b""

    feed_server.add(path, b"")
    feed_server.routes[path].handler = handle
    return seen


def test_webhook_retries_then_delivers_once(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    seen = _receiver(feed_server, "/hook", [500, 500, 200], SECRET)
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(partners=[partner("turan", url, webhook_url=feed_server.url("/hook"), webhook_secret=SECRET)],
                      webhooks={"backoff_base": 10, "backoff_cap": 60})
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # notices are released once their channels are written
    now = utcnow()
    runs = []
    for step in range(6):
        runs.append(deliver_due(rt.sessions, rt.settings, now + timedelta(seconds=120 * step)).as_dict())
    assert [r["claimed"] for r in runs] == [1, 1, 1, 0, 0, 0]
    assert len(seen) == 3 and all(s["valid"] for s in seen)
    assert seen[0]["notice"]["kind"] == "republished" and seen[0]["notice"]["partner"] == "turan"
    with rt.sessions() as session:
        rows = list(session.scalars(select(Delivery)))
    assert [(d.state, d.attempts, d.last_status) for d in rows] == [("delivered", 3, 200)]
    # Survives a restart: a new runtime on the same database sends nothing again.
    rt2 = make_runtime(partners=[partner("turan", url, webhook_url=feed_server.url("/hook"), webhook_secret=SECRET)])
    assert jobs.deliver_notices(rt2)["claimed"] == 0 and len(seen) == 3
    # The secret is never in the notices table, the delivery rows or the published files.
    for p in rt.settings.public_dir.rglob("*"):
        assert not p.is_file() or SECRET.encode() not in p.read_bytes()


def test_webhook_410_unsubscribes_and_retry_requeues(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                                     tmp_path: Path) -> None:
    seen = _receiver(feed_server, "/gone", [410], SECRET)
    url = serve(feed_server, "turan", [jitem(0)])
    subscriber = {"id": "downstream", "webhook_url": feed_server.url("/gone"), "webhook_secret": SECRET,
                  "kinds": ["republished", "corrected", "withdrawn"]}
    rt = make_runtime(partners=[partner("turan", url)], subscribers=[subscriber])
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # notices are released once their channels are written
    run = deliver_due(rt.sessions, rt.settings, utcnow())
    assert run.unsubscribed == ["subscriber:downstream"] and len(seen) == 1
    with rt.sessions() as session:
        ep = session.get(WebhookEndpoint, "subscriber:downstream")
        d = session.scalars(select(Delivery)).one()
    assert ep is not None and ep.unsubscribed_at is not None and d.state == "failed"
    # New notices are not queued for an unsubscribed endpoint.
    serve(feed_server, "turan", [jitem(0), jitem(1)])
    poll(rt, "turan")
    jobs.publish_dirty(rt)  # notices are released once their channels are written
    with rt.sessions() as session:
        assert len(list(session.scalars(select(Delivery)))) == 1
        notice_id = d.notice_id

    # The CLI lists notices with delivery states and requeues failed deliveries.
    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'data_dir = "{rt.settings.data_dir}"\n'
                   f'[[subscribers]]\nid = "downstream"\nwebhook_url = "{feed_server.url("/gone")}"\n'
                   f'webhook_secret = "{SECRET}"\nkinds = ["republished"]\n')
    from syndication.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["--config", str(cfg), "notices", "--state", "failed", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.stdout)["notices"]
    assert [n["id"] for n in listed] == [notice_id]
    assert listed[0]["deliveries"][0]["state"] == "failed" and SECRET not in out.stdout
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
    assert run.delivered == 1 and len(seen) == 2



def test_delivery_runs_are_scheduled_and_routed_to_notify(make_runtime: Callable[..., Runtime]) -> None:
    from syndication.dispatch import LocalDispatcher
    from syndication.publish.webhooks import TASK_DELIVER_NOTICES
    from syndication.service import start_scheduler

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

    assert TASK_DELIVER_NOTICES in w.app.tasks
    assert w.app.amqp.router.route({}, TASK_DELIVER_NOTICES)["queue"].name == "notify"
