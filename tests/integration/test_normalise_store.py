"""Normalise through the real pipeline and store: stories across partners, versions, corrections,
withdrawal, embargo; on SQLite and PostgreSQL (database_url), plus the demo inbox end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from syndication.db.models import Event, Item, ItemVersion, Partner, Source, Story
from syndication.db.session import transaction
from syndication.intake.parse import parse_document
from syndication.kernel.domain import IngestCounts
from syndication.pipeline.ingest import release_embargoes, store_items
from syndication.pipeline.normalise import normalise_feed
from syndication.publish.publisher import publish, relay_outbox
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.jobs import policy_of
from tests.conftest import REPO, FeedServer

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DEMO = REPO / "config" / "demo" / "inbox"
FERRY = "Azerbaijan and Kazakhstan agree to expand Caspian ferry fleet for Middle Corridor cargo"


def partner(pid: str, credit: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": credit, "credit": credit, "language": "en",
            "license_url": "https://creativecommons.org/licenses/by/4.0/", "sources": [{"kind": "push"}], **extra}


PARTNERS = [
    partner("turan", "Turan news agency", copyright="© {year} {credit}"),
    partner("commonspace", "commonspace.eu"),
    partner("caspian-wire", "Caspian Wire"),
]


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime], database_url: str) -> Runtime:
    """On SQLite and PostgreSQL."""
    return make_runtime(database_url=database_url, partners=PARTNERS)


@pytest.fixture
def rt_sqlite(make_runtime: Callable[..., Runtime]) -> Runtime:
    """For the many-variant tables (the store paths they take are covered on both databases above)."""
    return make_runtime(partners=PARTNERS)


def ingest(rt: Runtime, partner_id: str, doc: bytes | str | dict[str, Any], now: datetime = NOW) -> IngestCounts:
    """One document through parse -> normalise (the partner's configured policy) -> store, as jobs do."""
    body = json.dumps(doc).encode() if isinstance(doc, dict) else doc.encode() if isinstance(doc, str) else doc
    parsed = parse_document(body, {}, f"https://{partner_id}.example/feed")
    with rt.sessions() as session:
        row = session.get(Partner, partner_id)
        assert row is not None
        policy = policy_of(row, rt.settings)
    items, rejections = normalise_feed(parsed, policy, now=now, document_url=f"https://{partner_id}.example/feed")
    with transaction(rt.sessions) as session:
        return store_items(session, items, rejections, now=now, source_id=None)


def jsonfeed(*items: dict[str, Any]) -> dict[str, Any]:
    return {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": list(items)}


def jitem(i: str, title: str = "Budget passes in third reading", body: str | None = None, **ext: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i, "url": f"https://agency.example/{i}", "title": title,
        "content_html": body or f"<p>BAKU, 24 November – Story {i} text about the budget.</p><p>More text.</p>",
        "date_published": "2026-11-28T09:00:00Z",
    }
    if ext:
        out["_syndication"] = ext
    return out


def published(rt: Runtime, channel: str, now: datetime = NOW, only_dirty: bool = False) -> dict[str, Any]:
    with transaction(rt.sessions) as session:
        relay_outbox(session, rt.settings, now)
    publish(rt.sessions, rt.settings, now, only_dirty=only_dirty)
    return json.loads((rt.settings.feeds_dir / f"{channel}.json").read_text())


def events(rt: Runtime, kind: str) -> list[Event]:
    with rt.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


# ------------------------------------------------------------------------------------------ schema



def ingest_demo_inbox(make_runtime: Callable[..., Runtime]) -> Runtime:
    """A runtime with the demo partners of config/syndication.toml, their drop folders polled once and every
    channel published."""
    from syndication.kernel.settings import load_settings

    demo = load_settings(REPO / "config" / "syndication.toml")
    partners = []
    for p in demo.partners:
        cfg = p.model_dump(exclude_none=True)
        cfg["sources"] = [{**s, "path": str(REPO / s["path"])} if s.get("path") else s for s in cfg["sources"]]
        partners.append(cfg)
    rt = make_runtime(partners=partners)
    with rt.sessions() as session:
        ids = list(session.scalars(select(Source.id).where(Source.kind == "folder")))
    for sid in ids:
        assert (r := jobs.poll_source(rt, sid)) is not None and r.status == "ok", r
    jobs.publish_all(rt)
    return rt

def test_migration_adds_stories_and_fingerprints(rt: Runtime) -> None:
    insp = inspect(rt.engine)
    assert "stories" in insp.get_table_names()
    cols = {c["name"] for c in insp.get_columns("items")}
    assert {"story_id", "simhash", "body_hash", "title_key", "embargo_released_at"} <= cols


# ------------------------------------------------------------------------------------------ stories


@pytest.mark.parametrize("order", [("turan", "commonspace"), ("commonspace", "turan")])
def test_shared_story_once_in_all_preferring_originating_agency(rt: Runtime, order: tuple[str, str]) -> None:
    docs = {pid: (DEMO / pid / "feed.xml").read_bytes() for pid in order}
    for pid in order:
        assert ingest(rt, pid, docs[pid]).new == 5
    with rt.sessions() as session:
        ferry = list(session.scalars(select(Item).where(Item.title == FERRY)))
        assert len(ferry) == 2 and ferry[0].story_id is not None and ferry[0].story_id == ferry[1].story_id
        story = session.get(Story, ferry[0].story_id)
        assert story is not None and story.original_agency == "Turan news agency"
        assert session.scalar(select(func.count()).select_from(Story)) == 1  # nothing else merged
    everything = published(rt, "all")
    ferries = [i for i in everything["items"] if i["title"] == FERRY]
    assert len(everything["items"]) == 9 and len(ferries) == 1
    shown = ferries[0]["_syndication"]
    assert shown["partner"] == "turan"  # the originating agency's own copy, whichever arrived first
    assert [c["partner_id"] for c in shown["carriers"]] == ["turan", "commonspace"]
    assert "Also carried by" in ferries[0]["content_html"] and "commonspace.eu</a>" in ferries[0]["content_html"]
    # Each partner's own channel still shows its own copy.
    for pid in ("turan", "commonspace"):
        own = [i for i in published(rt, f"partners/{pid}")["items"] if i["title"] == FERRY]
        assert len(own) == 1 and own[0]["_syndication"]["partner"] == pid


def test_exact_duplicates_by_url_and_by_body(rt: Runtime) -> None:
    body = "<p>" + " ".join(f"word{i}" for i in range(60)) + "</p>"
    ingest(rt, "turan", jsonfeed(jitem("a", title="First title here", body=body)))
    same_body = jitem("b", title="A completely different headline", body=body)
    same_body["url"] = "https://other.example/b"
    ingest(rt, "commonspace", jsonfeed(same_body))
    same_url = jitem("c", title="Yet another", body="<p>short</p>")
    same_url["url"] = "https://agency.example/a?utm_source=x"
    ingest(rt, "caspian-wire", jsonfeed(same_url))
    with rt.sessions() as session:
        stories = {i.partner_id: i.story_id for i in session.scalars(select(Item))}
    assert stories["turan"] is not None and len(set(stories.values())) == 1
    assert len(published(rt, "all")["items"]) == 1


def test_same_title_unrelated_bodies_or_far_apart_stay_separate(rt: Runtime) -> None:
    a = "<p>" + " ".join(f"alpha{i}" for i in range(60)) + "</p>"
    b = "<p>" + " ".join(f"beta{i}" for i in range(60)) + "</p>"
    ingest(rt, "turan", jsonfeed(jitem("a", title="Weather update for the weekend", body=a)))
    ingest(rt, "commonspace", jsonfeed(jitem("b", title="Weather update for the weekend", body=b)))
    late = jitem("c", title="Something", body=a)
    late["date_published"] = "2026-12-09T09:00:00Z"
    ingest(rt, "caspian-wire", jsonfeed(late), now=datetime(2026, 12, 9, 12, tzinfo=UTC))
    with rt.sessions() as session:
        assert all(i.story_id is None for i in session.scalars(select(Item)))


def _words(prefix: str, n: int = 80) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_story_index_sees_what_another_process_stored_and_changed(
    make_runtime: Callable[..., Runtime], database_url: str
) -> None:
    """Each process keeps its own index of fingerprints, brought up to date from the outbox: a story
    stored or rewritten by another process (here: a second engine on the same database) is matched."""
    one = make_runtime(database_url=database_url, partners=PARTNERS)
    two = make_runtime(database_url=database_url, partners=PARTNERS)
    body = _words("gamma")
    reworded = body.replace("gamma7 ", "delta7 ").replace("gamma40 ", "delta40 ")
    ingest(one, "turan", jsonfeed(jitem("a", title="Unrelated opening item", body=f"<p>{_words('zeta')}</p>")))
    # Process two stores the story; process one, whose index was built before, must find it.
    ingest(two, "commonspace", jsonfeed(jitem("b", title="Caspian ferry deal signed in Baku", body=f"<p>{body}</p>")))
    ingest(one, "caspian-wire", jsonfeed(jitem("c", title="Caspian ferry deal signed in Baku",
                                               body=f"<p>{reworded}</p>")))
    # Process two rewrites turan's item into the same story (a new version): one must see the new text.
    ingest(two, "turan", jsonfeed(jitem("a", title="Caspian ferry deal signed in Baku", body=f"<p>{reworded} x</p>")),
           now=NOW + timedelta(minutes=5))
    ingest(one, "caspian-wire", jsonfeed(jitem("d", title="Ferry deal: Caspian ferry signed in Baku today",
                                               body=f"<p>{reworded} x</p>")))
    with one.sessions() as session:
        stories = {i.guid: i.story_id for i in session.scalars(select(Item))}
    assert len(stories) == 4
    assert stories["b"] is not None and len(set(stories.values())) == 1, stories


def test_two_partners_stored_in_one_transaction_share_the_story(rt: Runtime) -> None:
    """Items of this transaction are candidates before commit (the transaction's own overlay)."""
    ingest(rt, "caspian-wire", jsonfeed(jitem("z", title="Unrelated", body=f"<p>{_words('psi')}</p>")))  # index built
    body = _words("omega")
    docs = {"turan": jitem("a", title="Caspian summit opens in Baku", body=f"<p>{body}</p>"),
            "commonspace": jitem("b", title="Caspian summit opens in Baku", body=f"<p>{body} extra</p>")}
    with transaction(rt.sessions) as session:
        for pid, doc in docs.items():
            doc["url"] = f"https://{pid}.example/story"
            parsed = parse_document(json.dumps(jsonfeed(doc)).encode(), {}, f"https://{pid}.example/feed")
            row = session.get(Partner, pid)
            assert row is not None
            items, rejections = normalise_feed(parsed, policy_of(row, rt.settings), now=NOW)
            store_items(session, items, rejections, now=NOW, source_id=None)
    with rt.sessions() as session:
        stories = [i.story_id for i in session.scalars(select(Item).where(Item.partner_id != "caspian-wire"))]
    assert len(stories) == 2 and stories[0] is not None and stories[0] == stories[1]


# ------------------------------------------------------------------------------------------ versions


def test_changed_body_is_a_new_version_and_bumps_updated(rt: Runtime) -> None:
    ingest(rt, "turan", jsonfeed(jitem("a")))
    assert ingest(rt, "turan", jsonfeed(jitem("a")), now=NOW + timedelta(minutes=5)).unchanged == 1
    changed = jitem("a", body="<p>BAKU, 24 November – Story a text, now with the final vote count.</p>")
    assert ingest(rt, "turan", jsonfeed(changed), now=NOW + timedelta(hours=1)).updated == 1
    with rt.sessions() as session:
        row = session.scalar(select(Item))
        assert row is not None and row.version == 2 and "final vote count" in row.content_html
        assert row.updated_at == NOW + timedelta(hours=1)  # the partner did not move `updated`; we did
        versions = list(session.scalars(select(ItemVersion).order_by(ItemVersion.version)))
        assert [v.version for v in versions] == [1, 2] and "final vote" not in versions[0].content_html
    assert len(events(rt, "item.updated")) == 1 and not events(rt, "item.corrected")


@pytest.mark.parametrize(
    ("title", "ext", "tags"),
    [
        ("CORRECTION: Budget passes in third reading", {}, []),
        ("UPDATE: Budget passes in third reading", {}, []),
        ("Budget passes in third reading", {}, ["Politics", "correction"]),
        ("Budget passes in third reading", {"status": "corrected", "change_note": "Vote count fixed: 96, not 69."}, []),
    ],
)
def test_corrections_are_corrected_events_with_note(
    rt_sqlite: Runtime, title: str, ext: dict[str, str], tags: list[str]
) -> None:
    rt = rt_sqlite
    ingest(rt, "turan", jsonfeed(jitem("a")))
    fixed = jitem("a", title=title, body="<p>BAKU – The vote was 96 to 6.</p>", **ext)
    if tags:
        fixed["tags"] = tags
    ingest(rt, "turan", jsonfeed(fixed), now=NOW + timedelta(hours=1))
    [ev] = events(rt, "item.corrected")
    assert ev.payload is not None and ev.payload["version"] == 2
    assert ev.payload["change_note"] == ext.get("change_note")


# ------------------------------------------------------------------------------------------ withdrawal


@pytest.mark.parametrize("how", [{"status": "withdrawn"}, {"status": "canceled"}, {"title": "WITHDRAWN: Budget"}])
def test_withdrawal_leaves_every_channel(rt_sqlite: Runtime, how: dict[str, str]) -> None:
    rt = rt_sqlite
    ingest(rt, "turan", jsonfeed(jitem("a"), jitem("b", title="Other story about ferries")))
    assert len(published(rt, "all")["items"]) == 2
    ext = {"status": how["status"]} if "status" in how else {}
    gone = jitem("a", title=how.get("title", "Budget passes in third reading"), **ext)
    ingest(rt, "turan", jsonfeed(gone, jitem("b", title="Other story about ferries")), now=NOW + timedelta(hours=1))
    [ev] = events(rt, "item.withdrawn")
    assert ev.partner_id == "turan"
    later = NOW + timedelta(hours=1)
    for channel in ("all", "partners/turan"):
        assert [i["title"] for i in published(rt, channel, later)["items"]] == ["Other story about ferries"]


def test_dropping_off_the_feed_is_not_withdrawal(rt: Runtime) -> None:
    ingest(rt, "turan", jsonfeed(jitem("a"), jitem("b", title="Other story about ferries")))
    ingest(rt, "commonspace", jsonfeed(jitem("c", title="Third", status="canceled")))
    assert len(events(rt, "item.withdrawn")) == 1  # a new item arriving withdrawn: stored, never shown
    assert len(published(rt, "all")["items"]) == 2
    ingest(rt, "turan", jsonfeed(jitem("b", title="Other story about ferries")), now=NOW + timedelta(hours=1))
    assert [e.partner_id for e in events(rt, "item.withdrawn")] == ["commonspace"]
    assert len(published(rt, "all", NOW + timedelta(hours=1))["items"]) == 2


def test_withdrawn_preferred_copy_hands_the_story_to_the_other_carrier(rt: Runtime) -> None:
    body = "<p>" + " ".join(f"word{i}" for i in range(60)) + "</p>"
    ingest(rt, "turan", jsonfeed(jitem("a", title="Ferry deal signed in Baku today", body=body)))
    ingest(rt, "commonspace", jsonfeed(jitem("b", title="Ferry deal signed in Baku today", body=body,
                                             original_agency="Turan news agency")))
    assert [i["_syndication"]["partner"] for i in published(rt, "all")["items"]] == ["turan"]
    ingest(rt, "turan", jsonfeed(jitem("a", title="Ferry deal signed in Baku today", body=body, status="withdrawn")))
    assert [i["_syndication"]["partner"] for i in published(rt, "all")["items"]] == ["commonspace"]


# ------------------------------------------------------------------------------------------ embargo


def test_embargo_holds_the_item_until_released(rt: Runtime) -> None:
    until = NOW + timedelta(hours=2)
    ingest(rt, "turan", jsonfeed(jitem("a", embargo_until=until.isoformat()), jitem("b", title="Free to publish")))
    assert [i["title"] for i in published(rt, "all")["items"]] == ["Free to publish"]
    with transaction(rt.sessions) as session:
        assert release_embargoes(session, NOW + timedelta(hours=1)) == []  # not yet
        assert release_embargoes(session, until + timedelta(seconds=1)) == ["turan"]
        assert release_embargoes(session, until + timedelta(seconds=2)) == []  # once only
    [ev] = events(rt, "item.released")
    later = until + timedelta(seconds=5)
    # The release event marks the channels dirty, so a dirty-only publish picks the item up.
    titles = [i["title"] for i in published(rt, "all", later, only_dirty=True)["items"]]
    assert sorted(titles) == ["Budget passes in third reading", "Free to publish"]


def test_partner_embargo_delay_from_config(make_runtime: Callable[..., Runtime], database_url: str) -> None:
    rt = make_runtime(database_url=database_url, partners=[partner("turan", "Turan news agency", embargo_delay=3600)])
    ingest(rt, "turan", jsonfeed(jitem("a")), now=datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    with rt.sessions() as session:
        row = session.scalar(select(Item))
        assert row is not None and row.embargo_until == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert published(rt, "all", datetime(2026, 11, 28, 9, 45, tzinfo=UTC))["items"] == []
    # A re-poll is not a change, even though the embargo is computed again.
    assert ingest(rt, "turan", jsonfeed(jitem("a")), now=datetime(2026, 11, 28, 9, 50, tzinfo=UTC)).unchanged == 1
    assert len(published(rt, "all", datetime(2026, 11, 28, 10, 1, tzinfo=UTC))["items"]) == 1


# ------------------------------------------------------------------------------------------ end to end


def test_partner_policy_from_config_reaches_the_published_feed(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    body = (
        "<p>BAKU, 2 December – The story.</p><div class='share'><p>Share this on X</p></div><p>After share box.</p>"
    )
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
        {"id": "1", "url": "https://turan.az/1?utm_source=rss", "title": "Story", "content_html": body,
         "date_published": "2026-11-28T09:00:00Z"}]}
    url = feed_server.add_feed("/turan.json", json.dumps(feed), content_type="application/feed+json")
    rt = make_runtime(partners=[{
        "id": "turan", "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "feed", "url": url}],
        "furniture_selectors": ["div.share"], "attribution_template": "Courtesy of {credit} ({original_url}).",
        "tracking_pixel_url": "https://px.turan.az/p.gif", "no_derivatives": False,
    }])
    with rt.sessions() as session:
        source_id = session.scalar(select(Source.id))
    assert source_id is not None
    report = jobs.poll_source(rt, source_id)
    assert report is not None and report.new == 1, report
    jobs.publish_all(rt)
    [item] = json.loads((rt.settings.feeds_dir / "all.json").read_text())["items"]
    html = item["content_html"]
    assert "Share this" not in html and "After share box" not in html
    assert "Courtesy of Turan news agency (https://turan.az/1)." in html
    assert '<img src="https://px.turan.az/p.gif" width="1" height="1"' in html


def test_demo_inbox_shared_story_once(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    rt = ingest_demo_inbox(make_runtime)
    for fmt in ("json", "atom", "rss"):
        text = (rt.settings.feeds_dir / f"all.{fmt}").read_text()
        assert text.count(FERRY) == 1 or (fmt == "json" and text.count(FERRY) == 1), fmt
    items = json.loads((rt.settings.feeds_dir / "all.json").read_text())["items"]
    assert len(items) == 13
    by_title = {i["title"]: i for i in items}
    ferry = by_title[FERRY]["_syndication"]
    assert ferry["partner"] == "turan" and {c["partner_id"] for c in ferry["carriers"]} == {"turan", "commonspace"}
    seabed = by_title["Caspian Sea level falls another 30 centimetres in a year, scientists warn"]["_syndication"]
    assert [(c["credit"], c["caption"]) for c in seabed["image_credits"]] == [
        ("Trend", "Exposed seabed near the Absheron coast")
    ]
    assert (seabed["distributing_source"], seabed["original_agency"]) == ("APA", "Trend news agency")
    for item in items:  # furniture and credit lines left every body
        body = item["content_html"].split('<p class="syndication-attribution">')[0]
        for gone in ("Related articles", "Editor's choice", "Popular", "More on commonspace", "Read also",
                     "source:", "Source:", "SOURCE:", "Photo:", "photo:", "<script", "onclick", "javascript:",
                     "utm_"):
            assert gone not in body, (item["title"], gone)


def test_publish_jobs_release_passed_embargoes(rt_sqlite: Runtime) -> None:
    from syndication.kernel.clock import utcnow

    rt = rt_sqlite
    now = utcnow()
    ingest(rt, "turan", jsonfeed(jitem("a", embargo_until=(now - timedelta(seconds=1)).isoformat())), now=now)
    jobs.publish_dirty(rt)  # what the scheduler tick and `publish` run: releases, relays, publishes
    [ev] = events(rt, "item.released")
    assert ev.relayed_at is not None
    assert len(json.loads((rt.settings.feeds_dir / "all.json").read_text())["items"]) == 1
    jobs.publish_dirty(rt)
    assert len(events(rt, "item.released")) == 1


def test_story_window_reads_each_year_once_when_documents_span_years(rt: Runtime) -> None:
    """[real-feeds] 4: partners' documents span years (a blog's feed from 2012 to today) and arrive between
    documents of this week. The index keeps what it read, so a later document reaching back as far reads no
    time range again (it used to forget the old years after every recent document and read them back:
    13 % of an ingest of real feeds)."""
    from sqlalchemy import event

    ranges: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM items" in statement and "BETWEEN" in statement:
            ranges.append(statement)

    def spanning(partner_id: str, n: int) -> dict[str, Any]:
        items = [jitem(f"{partner_id}-{year}", title=f"Annual report {year} of {partner_id}",
                       body=f"<p>{_words(f'{partner_id}{year}x')}</p>") for year in range(2012, 2012 + n)]
        for year, item in zip(range(2012, 2012 + n), items, strict=True):
            item["date_published"] = f"{year}-06-01T00:00:00Z"
        return jsonfeed(*items)

    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        ingest(rt, "turan", spanning("turan", 14))  # 2012..2025: reads that range once
        first = len(ranges)
        for i in range(4):
            ingest(rt, "commonspace", jsonfeed(jitem(f"week-{i}", title=f"This week {i}",
                                                     body=f"<p>{_words(f'week{i}x')}</p>")))
            ingest(rt, "caspian-wire", spanning(f"caspian-wire-{i}", 10))  # 2012..2021 again
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    assert first >= 1
    # This week's documents extend the range forward once; the spanning ones never re-read the past.
    assert len(ranges) - first <= 1, ranges[first:]
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 14 + 4 + 40


def test_item_without_a_usable_date_keeps_its_first_sighting_when_it_changes(rt: Runtime) -> None:
    """[real-feeds] 1: an item dated by its first sighting (no date, or Hugo's 0001-01-01) is not re-dated
    by each later change; its `updated` moves instead."""
    undated, hugo = jitem("undated", title="About us"), jitem("hugo", title="Our team")
    del undated["date_published"]
    hugo["date_published"] = "0001-01-01T00:00:00Z"
    ingest(rt, "turan", jsonfeed(undated, hugo))
    later = NOW + timedelta(hours=2)
    undated["content_html"] += "<p>Now with a second paragraph.</p>"
    hugo["content_html"] += "<p>Now with a second paragraph.</p>"
    counts = ingest(rt, "turan", jsonfeed(undated, hugo), now=later)
    assert counts.updated == 2
    with rt.sessions() as session:
        rows = {r.guid: r for r in session.scalars(select(Item).where(Item.partner_id == "turan"))}
    for guid in ("undated", "hugo"):
        row = rows[guid]
        assert row.published_at == NOW and row.sort_at == NOW, guid
        assert row.updated_at >= later and row.version == 2, guid
    assert rows["hugo"].partner_dates and rows["hugo"].partner_dates[0]["raw"] == "0001-01-01T00:00:00Z"
    assert rows["undated"].partner_dates is None


@pytest.mark.parametrize(("hours", "one_story"), [(72.0, True), (1.0, False)])
def test_the_story_window_is_a_setting(make_runtime: Callable[..., Runtime], hours: float, one_story: bool) -> None:
    """`stories.window_hours`: two partners' reworded copies of one story (same title, bodies a word apart, no
    shared URL or body) published two hours apart are one story within the default 72 h, two within 1 h."""
    rt = make_runtime(partners=PARTNERS, stories={"window_hours": hours})
    words = _words("ferry")
    a = jitem("a", title=FERRY, body=f"<p>{words} first.</p>")
    b = jitem("b", title=FERRY, body=f"<p>{words} second.</p>")
    b["url"], b["date_published"] = "https://other.example/b", "2026-11-28T11:00:00Z"
    ingest(rt, "turan", jsonfeed(a))
    ingest(rt, "commonspace", jsonfeed(b))
    with rt.sessions() as session:
        stories = [i.story_id for i in session.scalars(select(Item))]
    assert len(stories) == 2
    assert (stories[0] is not None and stories[0] == stories[1]) is one_story


def test_the_story_index_keeps_the_newest_items_within_its_bound(make_runtime: Callable[..., Runtime],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """`stories.index_max_items` ([hardening] 10): a window busier than the bound keeps its newest items (the
    newest story is still found), forgets the oldest, and does not read them back for the next document."""
    from syndication.pipeline import stories

    rt = make_runtime(partners=PARTNERS, stories={"index_max_items": 100})
    start = NOW - timedelta(hours=10)

    def doc(n: int, at: datetime) -> dict[str, Any]:
        items = [jitem(f"t{n}-{i}", title=f"Report {n} number {i} on the budget", body=f"<p>{_words(f'n{n}i{i}x')}</p>")
                 for i in range(30)]
        for i, item in enumerate(items):
            item["date_published"] = (at + timedelta(minutes=i)).isoformat()
        return jsonfeed(*items)

    for n in range(6):
        ingest(rt, "turan", doc(n, start + timedelta(hours=n)))
    shared = stories._SHARED[rt.engine]
    floor = shared.floor
    assert len(shared.index) <= 100 and floor is not None and floor > start
    assert [r.message for r in caplog.records if "stories.index_max_items = 100" in r.message]  # said to the operator
    reads: list[tuple[datetime, datetime]] = []
    load = shared._load

    def recorded(session: Any, lo: datetime, hi: datetime) -> None:
        reads.append((lo, hi))
        load(session, lo, hi)

    shared._load = recorded  # type: ignore[method-assign]
    # Another partner's copy of the newest story: its window reaches back 72 h, over what was forgotten.
    copy = jitem("copy", title="Report 5 number 29 on the budget", body=f"<p>{_words('n5i29x')} again.</p>")
    copy["url"] = "https://other.example/copy"
    copy["date_published"] = (start + timedelta(hours=5, minutes=30)).isoformat()
    ingest(rt, "commonspace", jsonfeed(copy))
    assert reads and all(lo >= floor for lo, _ in reads), reads  # only forward: the newest items' window
    with rt.sessions() as session:
        newest = list(session.scalars(select(Item.id).where(Item.partner_id == "turan")
                                      .order_by(Item.published_at.desc()).limit(80)))
        pair = [i.story_id for i in session.scalars(select(Item).where(Item.title == copy["title"]))]
    assert all(i in shared.index for i in newest)  # the last document's came from the outbox (sync)
    assert len(pair) == 2 and pair[0] is not None and pair[0] == pair[1]
    assert len(shared.index) <= 100
    # A process starting on this store (181 items in the window) reads only the newest 100 of them.
    rt = make_runtime(partners=PARTNERS, stories={"index_max_items": 100})
    again = jitem("again", title="Report 5 number 28 on the budget", body=f"<p>{_words('n5i28x')} again.</p>")
    again["url"] = "https://other.example/again"
    ingest(rt, "caspian-wire", jsonfeed(again))
    restarted = stories._SHARED[rt.engine]
    assert restarted is not shared and 0 < len(restarted.index) <= 100
    assert restarted.floor is not None and min(restarted.index.published()) >= restarted.floor
    with rt.sessions() as session:
        pair = [i.story_id for i in session.scalars(select(Item).where(Item.title == again["title"]))]
    assert len(pair) == 2 and pair[0] is not None and pair[0] == pair[1]
