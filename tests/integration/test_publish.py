"""[publish] Channels, archives, tombstones, notices, WebSub and webhooks against real SQLite/PostgreSQL,
the local HTTP server (partner feeds, hub stub, webhook receiver) and the FastAPI app."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select, update

from syndication.db.models import (
    ArchivePage,
    ChannelFile,
    Item,
    Notice,
    Partner,
    Source,
)
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.publish.publisher import ENTRY_FILES, publish
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_sources
from syndication.web.app import create_app
from tests.conftest import FeedServer
from tests.feedcheck import assert_valid_atom, parse_clean, validate_tree

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
AT = "{http://purl.org/atompub/tombstones/1.0}"
A = "{http://www.w3.org/2005/Atom}"


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


def test_entry_locations_are_held_for_their_round_only(make_runtime: Callable[..., Runtime],
                                                      feed_server: FeedServer) -> None:
    """Where a round's entries sit in its files serves that round (publish.files.EntryFiles); held after it, the
    locations only grew a long-running service's memory (bench soak)."""
    a = serve(feed_server, "turan", [jitem(i) for i in range(3)])
    rt = make_runtime(partners=[partner("turan", a)])
    poll(rt, "turan")
    noted: list[int] = []
    note = ENTRY_FILES.note
    ENTRY_FILES.note = lambda *args: (note(*args), noted.append(len(ENTRY_FILES)))  # type: ignore[method-assign]
    try:
        jobs.publish_all(rt)
    finally:
        del ENTRY_FILES.note
    assert noted and max(noted) >= 3  # the round noted where its entries sit
    assert len(ENTRY_FILES) == 0  # and let go of them when it ended


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
    from syndication.publish.published import item_uid

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
    from syndication.partners.keys import issue_key, load_pepper

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


# (WebSub pings: tests/integration/test_websub.py)


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


# (webhooks: tests/integration/test_webhooks.py)


# ---------------------------------------------------------------- credits in every format ([newcomer] point 8)


def test_demo_partners_credits_reach_atom_rss_and_json(make_runtime: Callable[..., Runtime]) -> None:
    """The demo partners' usage terms and the distributing sources taken from their credit lines were in
    all.json only; atom:source/rights said the usage terms of partners without a copyright line."""
    from syndication.kernel.settings import load_settings
    from syndication.pipeline.policy import same_org
    from tests.integration.test_normalise_store import ingest_demo_inbox

    rt = ingest_demo_inbox(make_runtime)
    demo = load_settings(Path(__file__).resolve().parents[2] / "config" / "syndication.toml")
    feeds = rt.settings.feeds_dir
    texts = {fmt: (feeds / f"all.{fmt}").read_text(encoding="utf-8") for fmt in ("atom", "rss", "json")}
    terms = {p.id: p.usage_terms for p in demo.partners}
    assert all(terms.values())
    for fmt, text in texts.items():
        for pid, t in terms.items():
            assert t and t in text, (fmt, pid)
    syn = "{https://syndication.example/ns/1.0}"
    atom = {e.findtext(A + "id"): e for e in assert_valid_atom(texts["atom"].encode()).findall(A + "entry")}
    rss = {i.findtext("guid"): i for i in etree.fromstring(texts["rss"].encode()).iter("item")}
    items = {i["id"]: i["_syndication"] for i in json.loads(texts["json"])["items"]}
    assert set(atom) == set(rss) == set(items) and len(items) == 13
    distributed = {uid: s["distributing_source"] for uid, s in items.items() if s["distributing_source"]}
    assert {"APA", "commonspace.eu", "Caspian Wire"} <= set(distributed.values())
    for uid, s in items.items():
        for entry in (atom[uid], rss[uid]):
            assert entry.findtext(f"{syn}attribution/{syn}usage-terms") == terms[s["partner"]] == s["usage_terms"]
            assert entry.findtext(f"{syn}attribution/{syn}distributing-source") == s["distributing_source"]
            assert entry.findtext(f"{syn}attribution/{syn}original-agency") == s["original_agency"]
        source_rights = atom[uid].findtext(f"{A}source/{A}rights")
        assert source_rights and source_rights != s["usage_terms"] and source_rights == s["source"]["rights"]
        assert source_rights.startswith("©")
        footer = atom[uid].findtext(A + "content") or ""
        assert f"Usage terms: {terms[s['partner']]}" in footer
        dist = s["distributing_source"]
        assert (f"Distributed by {dist}." in footer) == bool(dist and not same_org(dist, s["credit"])), footer
    assert any("Distributed by APA." in (e.findtext(A + "content") or "") for e in atom.values())
    parse_clean(texts["rss"].encode())
