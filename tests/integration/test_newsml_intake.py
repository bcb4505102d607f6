"""NewsML-G2 through the real intake paths: the push API (IPTC's listings, hostile XML, out-of-scope items),
a kill (pubStatus stat:canceled) withdrawing the earlier version everywhere, an embargo keeping an item out
of every public output until its time, a drop folder and a polled source."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from syndication.db.models import Event, Item, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.partners.keys import issue_key, load_pepper
from syndication.publish.published import item_uid
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.conftest import SHARED, FeedServer
from tests.feedcheck import assert_valid_atom

LISTINGS = SHARED / "standards" / "iptc" / "newsml-g2" / "examples"
pytestmark = pytest.mark.skipif(not LISTINGS.is_dir(), reason=f"IPTC's NewsML-G2 listings are not at {LISTINGS}")
G2 = "http://iptc.org/std/nar/2006-10-01/"
NEWSITEM = "application/vnd.iptc.g2.newsitem+xml"
NEWSMESSAGE = "application/vnd.iptc.g2.newsmessage+xml"
AT = "{http://purl.org/atompub/tombstones/1.0}"
A = "{http://www.w3.org/2005/Atom}"
FAR_EMBARGO = "2099-01-01T00:00:00Z"


def listing(number: int) -> bytes:
    (path,) = LISTINGS.glob(f"LISTING_{number}_*.xml")
    return path.read_bytes()


def g2_item(guid: str, headline: str, *, version: int = 1, pubstatus: str = "stat:usable", embargoed: str = "",
            body: str = "<p>The body.</p>", ed_note: str = "", item_class: str = "ninat:text") -> bytes:
    embargo = f"<embargoed>{embargoed}</embargoed>" if embargoed else ""
    note = f"<edNote>{ed_note}</edNote>" if ed_note else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<newsItem xmlns="{G2}" guid="{guid}" version="{version}" standard="NewsML-G2" standardversion="2.35" xml:lang="en">
  <rightsInfo><copyrightHolder><name>Caspian Wire</name></copyrightHolder>
    <copyrightNotice>Copyright 2026 Caspian Wire</copyrightNotice><usageTerms>Editorial use only</usageTerms>
  </rightsInfo>
  <itemMeta><itemClass qcode="{item_class}"/><provider qcode="nprov:CW"/>
    <versionCreated>2026-11-30T1{version}:00:00Z</versionCreated><firstCreated>2026-11-30T09:00:00Z</firstCreated>
    {embargo}<pubStatus qcode="{pubstatus}"/>{note}</itemMeta>
  <contentMeta><located><name>Baku</name></located><creator><name>Leyla Aliyeva</name></creator>
    <subject qcode="medtop:11000000"><name>politics</name></subject>
    <headline>{headline}</headline><by>By Leyla Aliyeva</by><dateline>BAKU, Nov 30</dateline></contentMeta>
  <contentSet><inlineXML contenttype="application/xhtml+xml"><html xmlns="http://www.w3.org/1999/xhtml"><body>
    {body}</body></html></inlineXML></contentSet>
</newsItem>""".encode()


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    key: str

    def push(self, body: bytes, ctype: str = NEWSITEM) -> Any:
        return self.client.post("/api/v1/partners/caspian/items", content=body,
                                headers={"Authorization": f"Bearer {self.key}", "Content-Type": ctype})

    def item(self, guid: str) -> Item:
        with self.rt.sessions() as session:
            row = session.scalar(select(Item).where(Item.guid == guid))
            assert row is not None, guid
            return row

    def items(self) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Item)) or 0)


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], database_url: str) -> Iterator[Env]:
    rt = make_runtime(
        database_url=database_url,
        partners=[{"id": "caspian", "name": "Caspian Wire", "credit": "Caspian Wire", "language": "en",
                   "sources": [{"kind": "push"}]}],
        channels=[{"id": "politics", "title": "Politics", "categories": ["politics"]}],
    )
    with transaction(rt.sessions) as session:
        key = issue_key(session, "caspian", load_pepper(rt.settings), utcnow()).key
    client = TestClient(create_app(rt))
    yield Env(rt, client, key)
    client.close()


def error(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    return str(body["detail"])


# ---------------------------------------------------------------- IPTC's listings through the push API


@pytest.mark.parametrize(("number", "ctype"), [(1, NEWSITEM), (2, "application/xml"), (3, "text/xml; charset=utf-8")])
def test_the_listings_news_items_are_stored(env: Env, number: int, ctype: str) -> None:
    resp = env.push(listing(number), ctype)  # by media type, or sent as plain XML and known by its root
    assert resp.status_code == 202, resp.text
    (result,) = resp.json()["items"]
    assert result["status"] == "new"
    row = env.item(result["id"])
    expected = {1: ('Fed to halt QE to avert "bubble"', "en-GB", ["Meredith Jameson"]),
                2: ('Fed to halt QE to avert "bubble"', "en-US", ["Meredith Jameson"]),
                3: ("Variety Of Recessionary Forces Leave Las Vegas Economy Scarred", "en-US", ["Spencer Platt"])}
    assert (row.title, row.language, row.authors) == expected[number]
    if number == 2:
        assert row.content_html.startswith("<p>(New York, NY - October 21) Et, sent luptat")
        assert row.categories == ["economy, business and finance", "central bank", "money and monetary policy"]
        assert row.attribution["original_agency"] == "Associated Press"
    if number == 3:
        assert row.content_html.startswith("<p>A general view of part of downtown")
        assert row.attribution["image_credits"][0]["credit"] == "Getty Images"
    assert env.push(listing(number), ctype).json()["items"][0]["status"] == "unchanged"


def test_the_abbreviated_listings_are_refused_naming_what_is_missing(env: Env) -> None:
    # 24: a package and four items given as " ..... "; 29: "<!-- metadata and content -->". Nothing to publish.
    detail = error(env.push(listing(24), NEWSMESSAGE), 422, "invalid_items")
    assert "entry has no id, link, title or date to identify it" in detail
    assert "(id 'N1'): entry has neither title nor content" in detail
    detail = error(env.push(listing(29)), 422, "invalid_items")
    assert "'urn:newsml:acmenews.com:20161019T1205:HOP-HISTORY-EXAMPLE'): entry has neither title nor content" in detail
    for number in (25, 28):  # fragments of an item, not documents
        detail = error(env.push(listing(number), NEWSITEM), 422, "unparseable_document")
        assert "is not a newsItem, packageItem or newsMessage" in detail
    assert env.items() == 0


def test_a_complete_package_message_is_stored_item_by_item(env: Env) -> None:
    message = listing(24).decode()
    for n in range(1, 5):
        message = message.replace(f'<newsItem guid="N{n}"> ..... </newsItem>', g2_item(
            f"N{n}", f"Storm story {n}").decode().split("?>", 1)[1])
    message = message.replace("<packageItem>", '<packageItem guid="urn:pkg:storm" version="1"><itemMeta>'
                              '<itemClass qcode="ninat:composite"/><versionCreated>2026-11-30T10:00:00Z'
                              "</versionCreated></itemMeta><contentMeta><headline>Storm package</headline>"
                              "</contentMeta>")
    resp = env.push(message.encode(), NEWSMESSAGE)
    assert resp.status_code == 202, resp.text
    assert [r["id"] for r in resp.json()["items"]] == ["urn:pkg:storm", "N1", "N2", "N3", "N4"]
    assert env.item("urn:pkg:storm").content_html == (
        "<ul><li>Storm story 1</li><li>Storm story 2</li><li>Storm story 3</li><li>Storm story 4</li></ul>")
    assert env.item("N3").title == "Storm story 3"


# ---------------------------------------------------------------- refused safely


def test_hostile_xml_is_refused_and_nothing_is_stored(env: Env, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    laughs = g2_item("urn:lol", "&l9;").replace(b"<newsItem", f'<!DOCTYPE newsItem [<!ENTITY l0 "lol">{lol}]>'
                                                 "<newsItem".encode(), 1)
    external = g2_item("urn:xxe", "&xxe;").replace(
        b"<newsItem", f'<!DOCTYPE newsItem [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><newsItem'.encode(), 1)
    for body in (laughs, external):
        detail = error(env.push(body, "application/xml"), 422, "unparseable_document")
        assert "not well-formed XML: Entity" in detail and "TOP-SECRET-VALUE" not in detail
    assert env.items() == 0


def test_video_and_planning_items_are_refused_saying_what_we_take(env: Env) -> None:
    detail = error(env.push(g2_item("urn:v", "A video", item_class="ninat:video")), 415, "unsupported_item_type")
    assert "itemClass ninat:video is not taken; we accept text, photo and package news items" in detail
    planning = f'<planningItem xmlns="{G2}" guid="urn:p" version="1"><itemMeta/></planningItem>'.encode()
    detail = error(env.push(planning, "application/xml"), 415, "unsupported_item_type")
    assert "planningItem is not a news item" in detail
    assert env.items() == 0


# ---------------------------------------------------------------- a kill withdraws everywhere


def test_a_canceled_version_withdraws_the_item_everywhere(env: Env) -> None:
    assert env.push(g2_item("urn:cw:1", "Minister resigns")).status_code == 202
    assert env.push(g2_item("urn:cw:2", "Harbour reopens")).status_code == 202
    jobs.publish_all(env.rt)
    feeds = env.rt.settings.feeds_dir
    assert b"Minister resigns" in (feeds / "all.atom").read_bytes()
    row = env.item("urn:cw:1")
    assert env.client.get(f"/items/{row.id}").status_code == 200

    resp = env.push(g2_item("urn:cw:1", "Minister resigns", version=2, pubstatus="stat:canceled",
                            ed_note="Story killed: wrong minister"))
    assert resp.status_code == 202 and resp.json()["items"][0]["status"] == "updated", resp.text
    row = env.item("urn:cw:1")
    assert (row.status, row.change_note) == ("withdrawn", "Story killed: wrong minister")
    jobs.publish_dirty(env.rt)
    for channel in ("all", "partners/caspian", "politics"):
        root = assert_valid_atom((feeds / f"{channel}.atom").read_bytes())
        assert [e.findtext(A + "title") for e in root.findall(A + "entry")] == ["Harbour reopens"], channel
        (stone,) = root.findall(AT + "deleted-entry")
        assert stone.get("ref") == item_uid("caspian", row.key)
        assert stone.findtext(AT + "comment") == "Story killed: wrong minister"
        assert b"Minister resigns" not in (feeds / f"{channel}.rss").read_bytes()
        assert b"Minister resigns" not in (feeds / f"{channel}.json").read_bytes()
    assert env.client.get(f"/items/{row.id}").status_code in (404, 410)
    notices = env.client.get("/notices/all.atom")
    assert notices.status_code == 200 and b"Story killed: wrong minister" in notices.content
    with env.rt.sessions() as session:
        kinds = set(session.scalars(select(Event.kind).where(Event.item_id == row.id)))
    assert "item.withdrawn" in kinds


# ---------------------------------------------------------------- an embargo holds until its time


def public_documents(env: Env) -> dict[str, bytes]:
    public = env.rt.settings.public_dir
    return {p.relative_to(public).as_posix(): p.read_bytes() for p in sorted(public.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_an_embargoed_item_stays_out_of_every_public_output_until_its_time(env: Env) -> None:
    assert env.push(g2_item("urn:cw:open", "Harbour reopens")).status_code == 202
    assert env.push(g2_item("urn:cw:emb", "Quillfeather budget", embargoed=FAR_EMBARGO)).status_code == 202
    row = env.item("urn:cw:emb")
    assert row.embargo_until is not None and row.embargo_until.year == 2099
    jobs.publish_all(env.rt)
    docs = public_documents(env)
    assert any(b"Harbour reopens" in data for data in docs.values())
    for marker in (b"Quillfeather", b"urn:cw:emb", item_uid("caspian", row.key).encode()):
        assert not [name for name, data in docs.items() if marker in data], marker
    assert env.client.get(f"/items/{row.id}").status_code == 404
    assert b"Quillfeather" not in env.client.get("/feeds/all.json").content
    # The embargo time passes (the clock cannot be moved, so the stored embargo is, as the [trust] tests do).
    with transaction(env.rt.sessions) as session:
        session.execute(update(Item).where(Item.id == row.id).values(embargo_until=utcnow() - timedelta(seconds=1)))
    jobs.publish_dirty(env.rt)
    assert env.client.get("/feeds/all.json").json()["items"][0]["title"] == "Quillfeather budget"
    assert env.client.get(f"/items/{row.id}").status_code == 200


# ---------------------------------------------------------------- folders and polled sources


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    return functools.partial(make_settings, database_url=database_url)


def test_a_g2_file_in_a_drop_folder_is_ingested(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt = make_runtime(partners=[{"id": "p", "name": "P", "sources": [{"kind": "folder", "path": str(drop)}]}])
    with rt.sessions() as session:
        sid = session.scalar(select(Source.id))
    (drop / "photo.xml").write_bytes(listing(3))
    (drop / "video.xml").write_bytes(g2_item("urn:v", "A video", item_class="ninat:video"))
    past = time.time() - 60
    for name in ("photo.xml", "video.xml"):
        os.utime(drop / name, (past, past))
    assert sid is not None
    report = jobs.poll_source(rt, sid)
    assert report is not None and report.new == 1
    assert (drop / "done" / "photo.xml").exists() and (drop / "failed" / "video.xml").exists()
    assert "ninat:video is not taken" in (drop / "failed" / "video.xml.error.txt").read_text()
    with rt.sessions() as session:
        assert session.scalar(select(Item.title)) == "Variety Of Recessionary Forces Leave Las Vegas Economy Scarred"


def test_a_polled_source_serving_g2_is_ingested(make_runtime: Callable[..., Runtime],
                                                 feed_server: FeedServer) -> None:
    url = feed_server.add("/wire/latest", listing(2), content_type=NEWSITEM)
    rt = make_runtime(partners=[{"id": "p", "name": "P", "sources": [{"kind": "feed", "url": url}]}])
    with rt.sessions() as session:
        sid = session.scalar(select(Source.id))
    assert sid is not None
    report = jobs.poll_source(rt, sid)
    assert report is not None and report.status == "ok" and report.new == 1, report
    with rt.sessions() as session:
        row = session.scalar(select(Item))
    assert row is not None and row.guid == "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
    assert row.attribution["original_agency"] == "Associated Press"
