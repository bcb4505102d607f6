"""[wire] ninjs out: every channel (and archive page) published as ninjs 2.2 beside Atom, RSS and JSON Feed,
every item valid against IPTC's schema after updates and withdrawals, on PostgreSQL; served with the feeds'
caching; /items/<id>.ninjs.json; the demo partners' channels."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from syndication.db.models import ChannelFile, Item
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.publish.published import item_uid
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.conftest import FeedServer
from tests.feedcheck import assert_valid_ninjs, assert_valid_ninjs_item, validate_tree
from tests.integration.test_publish import jitem, partner, poll, serve, snapshot

ODD = 'Ünïcödé “quotes” & <b>tags</b> \u2028 🚀 "double" \\ back'


def ninjs(path: Path) -> dict[str, Any]:
    return assert_valid_ninjs(path.read_bytes(), str(path))


def json_feed_ids(path: Path) -> list[str]:
    return [i["id"] for i in json.loads(path.read_bytes())["items"]]


def test_every_channel_and_archive_page_as_valid_ninjs(make_runtime: Callable[..., Runtime],
                                                       feed_server: FeedServer, database_url: str) -> None:
    turan = [jitem(i) for i in range(7)]
    turan[6] = jitem(6, title=ODD, content_html=f"<p>BAKU, Nov 20 (AFP) – {ODD}</p>"
                                                '<p><img src="https://agency.example/img/a b/ü.jpg" alt="Ü"></p>',
                     url="https://agency.example/news/ünï cödé", tags=["politics", ODD],
                     _syndication={"image_credit": "AFP/Jane Doe"})
    a = serve(feed_server, "turan", turan)
    b = serve(feed_server, "caspian", [jitem(i, id=f"c{i}", url=f"https://caspian.example/{i}", tags=["economy"],
                                             title=f"Caspian {i}", content_html=f"<p>Caspian body {i}</p>")
                                       for i in range(2)])
    hub = feed_server.add("/hub", b"", status=204)
    rt = make_runtime(
        database_url=database_url,
        partners=[partner("turan", a), partner("caspian", b)],
        channels=[{"id": "politics", "title": "Politics", "categories": ["politics"], "language": "en"}],
        publish={"window": 3, "archive_page_size": 2},
        websub={"hub_url": hub, "retry_delay": 0},
    )
    poll(rt, "turan", "caspian")
    jobs.publish_all(rt)
    # A correction and a withdrawal.
    turan[4] = jitem(4, title="Story 4 (corrected)", _syndication={"status": "corrected", "change_note": "Name"})
    turan[5] = jitem(5, _syndication={"status": "withdrawn", "change_note": "Legal request"})
    serve(feed_server, "turan", turan)
    poll(rt, "turan")
    jobs.publish_dirty(rt)
    feeds = rt.settings.feeds_dir
    counts = validate_tree(rt.settings.public_dir)  # every item of every .ninjs.json, one by one
    atoms = sorted(p.relative_to(feeds).as_posix().removesuffix(".atom") for p in feeds.rglob("*.atom"))
    assert atoms and sorted(
        p.relative_to(feeds).as_posix().removesuffix(".ninjs.json") for p in feeds.rglob("*.ninjs.json")) == atoms
    assert counts[".ninjs.json"] == len(atoms) and any("/archive/" in name for name in atoms)
    # The same items, in the same order, as the JSON Feed of each document (current and archive pages).
    for name in atoms:
        doc = ninjs(feeds / f"{name}.ninjs.json")
        assert [i["uri"] for i in doc["items"]] == json_feed_ids(feeds / f"{name}.json"), name

    with rt.sessions() as session:
        rows = {i.guid: i for i in session.scalars(select(Item))}
        files = {(f.channel_id, f.format): f for f in session.scalars(select(ChannelFile))}
    current = ninjs(feeds / "partners/turan.ninjs.json")
    assert current["feed_url"] == "http://127.0.0.1:8000/feeds/partners/turan.ninjs.json"
    assert current["hubs"] == [{"type": "WebSub", "url": hub}]
    assert current["prev_archive"].endswith("/feeds/partners/turan/archive/2.ninjs.json")
    by_uri = {i["uri"]: i for i in current["items"]}
    odd = by_uri[item_uid("turan", rows["story-6"].key)]
    stored = rows["story-6"]
    assert "🚀" in stored.title and "“quotes”" in stored.title  # odd characters survive normalisation
    assert odd["headlines"] == [{"role": "main", "value": stored.title}]
    assert odd["subjects"] == [{"name": c} for c in stored.categories]
    assert odd["located"] == stored.attribution["dateline_place"] and odd["located"].upper() == "BAKU"
    assert odd["copyrightholder"] == stored.attribution["original_agency"] == "AFP"  # the originating agency
    assert ("AFP", "originator") in [(s["name"], s["role"]) for s in odd["infosources"]]
    assert odd["associations"][0]["by"] == "AFP/Jane Doe"
    assert odd["associations"][0]["renditions"][0]["href"] == "https://agency.example/img/a%20b/%C3%BC.jpg"
    assert {"role": "guid", "value": "story-6"} in odd["altids"]
    # The withdrawn story left every document; the current ones carry it as a canceled ninjs tombstone.
    gone = item_uid("turan", rows["story-5"].key)
    assert rows["story-5"].status == "withdrawn"
    for name in ("all", "partners/turan", "politics"):
        doc = ninjs(feeds / f"{name}.ninjs.json")
        assert gone not in [i["uri"] for i in doc["items"]]
        assert [(d["uri"], d["pubstatus"], d["ednote"]) for d in doc["deleted"]] == [
            (gone, "canceled", "Legal request")]
    corrected = next(i for i in ninjs(feeds / "all.ninjs.json")["items"]
                     if i["uri"] == item_uid("turan", rows["story-4"].key))
    assert corrected["headlines"][0]["value"] == "Story 4 (corrected)" and corrected["version"] == "2"
    assert files[("all", "ninjs")].sha256 and files[("all", "ninjs")].path.endswith("/feeds/all.ninjs.json")

    # Nothing changed: nothing rewritten, the same bytes.
    before = snapshot(feeds)
    jobs.publish_all(rt)
    assert snapshot(feeds) == before
    # A lost file comes back byte-identical.
    (feeds / "all.ninjs.json").unlink()
    jobs.publish_all(rt)
    assert (feeds / "all.ninjs.json").read_bytes() == before["all.ninjs.json"][1]


def test_served_with_the_feeds_caching_and_one_item_alone(make_runtime: Callable[..., Runtime],
                                                          feed_server: FeedServer) -> None:
    url = serve(feed_server, "turan", [jitem(i) for i in range(3)])
    rt = make_runtime(partners=[partner("turan", url)], publish={"ttl": 7})
    poll(rt, "turan")
    jobs.publish_all(rt)
    client = TestClient(create_app(rt))
    ident = {"Accept-Encoding": "identity"}
    r = client.get("/feeds/all.ninjs.json", headers=ident)
    assert r.status_code == 200 and r.content == (rt.settings.feeds_dir / "all.ninjs.json").read_bytes()
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=420" and r.headers["vary"] == "Accept-Encoding"
    etag = r.headers["etag"]
    assert client.get("/feeds/all.ninjs.json", headers={**ident, "If-None-Match": etag}).status_code == 304
    assert client.get("/feeds/all.ninjs.json", headers={
        **ident, "If-Modified-Since": r.headers["last-modified"]}).status_code == 304
    gz = client.get("/feeds/all.ninjs.json", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == r.content and gz.headers["etag"] != etag
    head = client.head("/feeds/partners/turan.ninjs.json", headers=ident)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert client.get("/feeds/nothing.ninjs.json").status_code == 404
    # The JSON Feed keeps its own type.
    assert client.get("/feeds/all.json").headers["content-type"] == "application/feed+json; charset=utf-8"

    # One item alone: the document the channel carries, with its own validators.
    entry = r.json()["items"][0]
    html = next(x["href"] for x in entry["renditions"] if x["name"] == "html")
    path = next(x["href"] for x in entry["renditions"] if x["name"] == "ninjs").removeprefix("http://127.0.0.1:8000")
    assert path == html.removeprefix("http://127.0.0.1:8000") + ".ninjs.json"
    one = client.get(path, headers=ident)
    assert one.status_code == 200 and one.json() == entry
    assert one.headers["content-type"] == "application/json; charset=utf-8"
    assert one.headers["cache-control"] == "public, max-age=420"
    assert_valid_ninjs_item(one.json(), path)
    assert client.get(path, headers={**ident, "If-None-Match": one.headers["etag"]}).status_code == 304
    assert client.get(path, headers={**ident, "If-Modified-Since": one.headers["last-modified"]}).status_code == 304
    assert client.head(path, headers=ident).content == b""
    assert client.get(path, headers={"Accept-Encoding": "gzip"}).headers["content-encoding"] == "gzip"
    # The HTML copy still answers at /items/<id>.
    assert client.get(path.removesuffix(".ninjs.json")).status_code == 200

    # Corrected: a new document and a new ETag; withdrawn: 410 like our HTML copy; unknown: 404.
    serve(feed_server, "turan", [jitem(0), jitem(1), jitem(2, title="Story 2, corrected",
                                                     _syndication={"status": "corrected"})])
    poll(rt, "turan")
    fixed = client.get(path, headers={**ident, "If-None-Match": one.headers["etag"]})
    assert fixed.status_code == 200 and fixed.json()["headlines"][0]["value"] == "Story 2, corrected"
    assert fixed.json()["version"] == "2"
    serve(feed_server, "turan", [jitem(0), jitem(1), jitem(2, _syndication={"status": "withdrawn",
                                                                           "change_note": "Legal"})])
    poll(rt, "turan")
    gone = client.get(path)
    assert gone.status_code == 410 and gone.json() == {"error": "gone", "detail": "this item was withdrawn: Legal"}
    missing = client.get("/items/999999.ninjs.json")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get("/items/nope.ninjs.json").status_code == 422


def test_demo_channels_as_ninjs(make_runtime: Callable[..., Runtime]) -> None:
    """The demo partners (config/syndication.toml) in ninjs: every item valid, the same stories as the JSON
    Feed, each partner's usage terms and the distributing sources read from credit lines in ninjs fields."""
    from tests.integration.test_normalise_store import ingest_demo_inbox

    rt = ingest_demo_inbox(make_runtime)
    feeds = rt.settings.feeds_dir
    channels = sorted(p for p in feeds.rglob("*.ninjs.json"))
    assert len(channels) >= 2
    for path in channels:
        doc = ninjs(path)
        assert [i["uri"] for i in doc["items"]] == json_feed_ids(path.with_name(path.name.replace(".ninjs", "")))
    items = ninjs(feeds / "all.ninjs.json")["items"]
    syn = {i["id"]: i["_syndication"] for i in json.loads((feeds / "all.json").read_bytes())["items"]}
    assert len(items) == len(syn) == 13
    for item in items:
        s = syn[item["uri"]]
        assert item["usageterms"] == s["usage_terms"] and item["copyrightnotice"] == s["rights"]
        assert item["infosources"][0] == {"name": s["partner_name"], "role": "distributor",
                                          "uri": item["infosources"][0]["uri"]}
        # Each party once (case aside): a credit line naming the partner adds no second entry.
        names = [x["name"].casefold() for x in item["infosources"]]
        assert len(names) == len(set(names))
        for party in (s["distributing_source"], s["original_agency"]):
            assert not party or party.casefold() in names, (party, names)
        if s["license_url"]:
            assert item["rightsinfo"] == {"linkedrights": s["license_url"]}
        credits = {c["credit"] for c in s["image_credits"] if c.get("credit")}
        assert {p.get("by") for p in item.get("associations", ())} - {None} == credits
    assert {"APA", "commonspace.eu", "Caspian Wire"} <= {
        x["name"] for i in items for x in i["infosources"] if x["role"] == "distributor"}


def test_our_channel_pushed_to_another_instance_keeps_its_attribution(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """The bridge both ways: the demo's `all.ninjs.json` pushed as is (application/ninjs+json) to a second
    instance, where it is one wire partner's push; every story arrives with the credit line, agency, rights,
    terms and photo credits ours carried, and that instance's own ninjs is valid too."""
    from tests.integration.test_ninjs_intake import PARTNER
    from tests.integration.test_normalise_store import ingest_demo_inbox

    ours = ingest_demo_inbox(make_runtime)
    body = (ours.settings.feeds_dir / "all.ninjs.json").read_bytes()
    published = {i["uri"]: i for i in ninjs(ours.settings.feeds_dir / "all.ninjs.json")["items"]}
    relay = make_runtime(data_dir=str(tmp_path / "relay"), partners=[PARTNER])
    with transaction(relay.sessions) as session:
        key = issue_key(session, "wire", load_pepper(relay.settings), utcnow()).key
    with TestClient(create_app(relay)) as client:
        resp = client.post("/api/v1/partners/wire/items", content=body,
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/ninjs+json"})
    assert resp.status_code in (200, 202), resp.text
    assert [r["status"] for r in resp.json()["items"]] == ["new"] * len(published)
    jobs.publish_all(relay)
    with relay.sessions() as session:
        rows = {row.guid: row for row in session.scalars(select(Item))}
    assert set(rows) == set(published)
    for uri, sent in published.items():
        a = rows[uri].attribution
        credit = next(d["value"] for d in sent["descriptions"] if d["role"] == "creditline")
        assert a["credit_line"] == credit and a["rights"] == sent["copyrightnotice"], uri
        assert a["usage_terms"] == sent["usageterms"] and a["license_url"] == sent["rightsinfo"]["linkedrights"]
        assert a["dateline_place"] == sent.get("located", a["dateline_place"])
        assert rows[uri].title == sent["headlines"][0]["value"]
        assert {c["credit"] for c in a["image_credits"]} >= {p["by"] for p in sent.get("associations", ())}
    # Published again by the relay: its own ninjs, valid, with the credit line that travelled (the relay is
    # the new distributor; our uri is its partner's guid).
    relayed = ninjs(relay.settings.feeds_dir / "all.ninjs.json")["items"]
    assert len(relayed) == len(published)
    for item in relayed:
        guid = next(x["value"] for x in item["altids"] if x["role"] == "guid")
        sent = published[guid]
        assert [d for d in item["descriptions"] if d["role"] == "creditline"] == [
            d for d in sent["descriptions"] if d["role"] == "creditline"]
        assert item["infosources"][0] == {"name": "Wire Partner", "role": "distributor"}
        assert item["usageterms"] == sent["usageterms"] and item["copyrightnotice"] == sent["copyrightnotice"]
