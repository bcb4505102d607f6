"""[wire] ninjs out, the pure writer: every item valid against IPTC's ninjs 2.2 schema (photos, datelines,
rights, odd characters, archive pages, tombstones), our attribution in ninjs's own fields, determinism and
the fragment cache giving the same bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syndication.publish.feeds import Extras, FeedContext, FragmentCache, Paging, Tombstone, render_json
from syndication.publish.ninjs import as_uri, ninjs_item, ninjs_item_bytes, render_ninjs
from syndication.publish.published import ChannelSpec, PartnerInfo, PublishedItem, item_uid
from tests.feedcheck import assert_valid_ninjs, assert_valid_ninjs_item

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
PARTNER = PartnerInfo(
    id="turan", name="Turan News Agency", homepage="https://turan.az/", feed_url="https://turan.az/feed.rss",
    credit="Turan news agency", license_url=CC_BY, usage_terms="Republish with credit.",
    copyright="© {year} Turan News Agency", updated=T0,
)
SPEC = ChannelSpec("all", "Syndication", "Every partner's news, credited.", 10, language="en")
CTX = FeedContext(public_url="http://news.example", ttl_minutes=15, hub_url="https://hub.example/")
ODD = 'Ünïcödé “quotes” & <tags> \\ back\\slash \u2028 line-sep \u202eRTL 🚀 "double"'


def item(i: int, **over: Any) -> PublishedItem:
    data: dict[str, Any] = dict(
        id=i, uid=item_uid("turan", f"k{i}"), partner=PARTNER, url=f"https://turan.az/news/{i}",
        title=f"Story {i}", content_html=f'<p>Body {i}</p><img src="https://turan.az/img/{i}.jpg" alt="Alt {i}">',
        summary=None, authors=(f"Writer {i}",), categories=("politics", "baku"), language="en",
        published=T0 + timedelta(hours=i), updated=T0 + timedelta(hours=i, minutes=5),
        attribution={"credit": "Turan news agency", "license_url": CC_BY, "original_url": f"https://turan.az/news/{i}",
                     "image_credits": [{"credit": "Photo Person", "caption": f"Caption {i}", "url": None}]},
        version=1, guid=f"turan-{i}",
    )
    data.update(over)
    return PublishedItem(**data)


def rich() -> PublishedItem:
    """Every attribution field we store, a wire partner's fields, odd characters and awkward URLs."""
    return item(
        7, title=ODD, summary="A summary\nover two lines.", authors=("Leyla Aliyeva", "Rauf Mammadov"),
        categories=("politics", ODD), language="az-Latn",
        url="https://turan.az/news/ünï cödé?x=1&y=ü",
        content_html=f"<p>{ODD}</p><p>BAKU, Nov 20 (Turan) – text.</p>",
        attribution={
            "credit": "Turan", "original_agency": "AFP", "distributing_source": "APA",
            "dateline_place": "BAKU", "dateline_date": "Nov 20", "usage_terms": "Editorial use only.",
            "rights": "© 2026 AFP", "license_url": "https://licences.example/editorial only",
            "authors": ["Leyla Aliyeva", "Rauf Mammadov"],
            "image_credits": [
                {"credit": "AFP/Jane Doe", "caption": "Protest in Baku ✊", "url": "https://img.example/a b/ü.jpg"},
                {"credit": "Turan/Photo Desk", "caption": None, "url": "https://img.example/2.png"},
                {"credit": "Unplaced Credit", "caption": "No URL known", "url": None},
            ],
            "credit_line": "AFP via Turan",  # a wire (ninjs / NewsML-G2) partner's own credit line
        },
        carriers=({"partner_id": "caspian", "partner_name": "Caspian Wire", "credit": "Caspian", "url": None},),
        version=3,
    )


def docs(data: bytes) -> dict[str, Any]:
    return dict(json.loads(data))


def test_every_item_and_tombstone_is_valid_ninjs_2_2() -> None:
    items = [rich(), item(2), item(1, authors=(), categories=(), language=None, url=None, guid=None,
                                      attribution={}, content_html="", partner=PartnerInfo(
                                          "bare", "Bare", None, None, "Bare", None, None, None, None))]
    stones = (Tombstone(item_uid("turan", "gone"), T0, f"Legal request: {ODD}", "http://news.example/items/9"),
              Tombstone(item_uid("turan", "gone2"), T0, None))
    for extras in (Extras(), Extras(Paging(prev_archive=2), stones), Extras(Paging(3, 2, 4))):
        doc = assert_valid_ninjs(render_ninjs(SPEC, items, CTX, extras), "channel")
        assert [i["uri"] for i in doc["items"]] == [i.uid for i in items]
    # The validator really judges: a wrong item is refused.
    with pytest.raises(AssertionError, match="headlines"):
        assert_valid_ninjs_item({"uri": "urn:x:y", "headlines": [{"role": "main"}]})


def test_attribution_in_ninjs_own_fields() -> None:
    doc = ninjs_item(rich(), CTX)
    assert doc["uri"] == rich().uid and doc["type"] == "text" and doc["version"] == "3"
    assert doc["standard"] == {"name": "ninjs", "version": "2.2",
                               "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json"}
    assert (doc["firstcreated"], doc["versioncreated"]) == ("2026-11-20T16:00:00Z", "2026-11-20T16:05:00Z")
    assert doc["pubstatus"] == "usable" and doc["language"] == "az-Latn"
    assert doc["headlines"] == [{"role": "main", "value": ODD}]
    body = doc["bodies"][0]
    assert body["role"] == "main" and body["contenttype"] == "text/html"
    assert ODD in body["value"] and "Usage terms: Editorial use only." in body["value"]  # the footer, as elsewhere
    assert doc["by"] == "Leyla Aliyeva, Rauf Mammadov"
    assert doc["located"] == "BAKU" and doc["places"] == [{"name": "BAKU", "rel": "located"}]
    assert doc["descriptions"] == [
        {"role": "summary", "contenttype": "text/plain", "value": "A summary\nover two lines."},
        {"role": "creditline", "value": "AFP via Turan"}]
    assert doc["subjects"] == [{"name": "politics"}, {"name": ODD}]
    assert doc["copyrightholder"] == "AFP" and doc["copyrightnotice"] == "© 2026 AFP"
    assert doc["usageterms"] == "Editorial use only."
    assert doc["rightsinfo"] == {"linkedrights": "https://licences.example/editorial%20only"}
    assert [(s["name"], s["role"]) for s in doc["infosources"]] == [
        ("Turan News Agency", "distributor"), ("AFP", "originator"), ("APA", "distributor"),
        ("Caspian Wire", "distributor")]
    assert doc["infosources"][0]["uri"] == "https://turan.az/"
    photos = doc["associations"]
    assert [(p["name"], p["type"], p["by"]) for p in photos] == [
        ("picture1", "picture", "AFP/Jane Doe"), ("picture2", "picture", "Turan/Photo Desk"),
        ("picture3", "picture", "Unplaced Credit")]
    assert photos[0]["descriptions"] == [{"role": "caption", "value": "Protest in Baku ✊"}]
    assert photos[0]["renditions"] == [{"name": "original", "href": "https://img.example/a%20b/%C3%BC.jpg",
                                        "contenttype": "image/jpeg"}]
    assert photos[1]["renditions"][0]["contenttype"] == "image/png" and "descriptions" not in photos[1]
    assert "renditions" not in photos[2] and photos[2]["descriptions"][0]["value"] == "No URL known"
    assert len({p["uri"] for p in photos}) == 3 and all(p["uri"].startswith("urn:uuid:") for p in photos)
    assert doc["altids"] == [{"role": "partner", "value": "turan"}, {"role": "guid", "value": "turan-7"},
                             {"role": "original-url", "value": "https://turan.az/news/ünï cödé?x=1&y=ü"}]
    assert doc["renditions"] == [
        {"name": "html", "href": "http://news.example/items/7", "contenttype": "text/html"},
        {"name": "ninjs", "href": "http://news.example/items/7.ninjs.json", "contenttype": "application/json"}]
    assert_valid_ninjs_item(doc, "rich")


def test_fallbacks_without_wire_fields() -> None:
    """A feed partner's item: rights from the partner's copyright template, holder = partner, byline from
    authors, located from the dateline, the partner's credit as the credit line; an image found in the body
    with the stored credit and its alt."""
    doc = ninjs_item(item(1, attribution={**item(1).attribution, "dateline_place": "GANJA"}), CTX)
    assert doc["type"] == "text" and doc["descriptions"] == [{"role": "creditline", "value": "Turan news agency"}]
    assert doc["copyrightholder"] == "Turan News Agency" and doc["copyrightnotice"] == "© 2026 Turan News Agency"
    assert doc["usageterms"] == "Republish with credit." and doc["rightsinfo"] == {"linkedrights": CC_BY}
    assert doc["by"] == "Writer 1" and doc["located"] == "GANJA"
    assert doc["associations"] == [{
        "name": "picture1", "uri": doc["associations"][0]["uri"], "type": "picture",
        "representationtype": "partial", "by": "Photo Person",
        "descriptions": [{"role": "caption", "value": "Caption 1"}],
        "renditions": [{"name": "original", "href": "https://turan.az/img/1.jpg", "contenttype": "image/jpeg"}]}]
    bare = ninjs_item(item(2, authors=(), attribution={}, content_html="", url=None, guid=None,
                           partner=PartnerInfo("x", "X", None, None, "X credit", "not a uri", None, None, None)), CTX)
    assert "by" not in bare and "rightsinfo" not in bare and "associations" not in bare and "usageterms" not in bare
    assert bare["infosources"] == [{"name": "X", "role": "distributor"}]
    assert bare["altids"] == [{"role": "partner", "value": "x"}]
    assert bare["copyrightnotice"] == "© 2026 X credit"


@pytest.mark.parametrize(("value", "expected"), [
    ("https://a.example/x y/ü?q=1#f", "https://a.example/x%20y/%C3%BC?q=1#f"),
    ("urn:uuid:0f1c9a52-52b8-4d5e-9a77-2b1e0c6f9a10", "urn:uuid:0f1c9a52-52b8-4d5e-9a77-2b1e0c6f9a10"),
    ("https://a.example/50%25", "https://a.example/50%25"),
    ("https://a.example/100%", None),  # a stray % is no URI, and guessing what was meant could be wrong
    ("relative/path", None), ("", None), (None, None), ("  ", None),
])
def test_as_uri(value: object, expected: str | None) -> None:
    assert as_uri(value) == expected


def test_channel_document_metadata_paging_hub_and_tombstones() -> None:
    stone = Tombstone(item_uid("turan", "gone"), T0 + timedelta(days=1), "Legal request")
    current = docs(render_ninjs(SPEC, [item(2), item(1)], CTX, Extras(Paging(prev_archive=4), (stone,))))
    assert list(current)[:3] == ["standard", "channel", "title"] and list(current)[-1] == "items"
    assert current["feed_url"] == "http://news.example/feeds/all.ninjs.json"
    assert current["prev_archive"] == "http://news.example/feeds/all/archive/4.ninjs.json"
    assert current["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]
    assert current["updated"] == "2026-11-21T09:00:00Z"  # the tombstone is the latest change
    assert current["language"] == "en" and current["ttl"] == 15 and "archive" not in current
    assert current["deleted"] == [{"uri": stone.ref, "standard": current["standard"],
                                   "versioncreated": "2026-11-21T09:00:00Z", "pubstatus": "canceled",
                                   "ednote": "Legal request"}]
    page = docs(render_ninjs(SPEC, [item(1)], CTX, Extras(Paging(archive_page=4, prev_archive=3, next_archive=5))))
    assert page["archive"] is True and page["current"] == current["feed_url"] and "hubs" not in page
    assert page["feed_url"].endswith("/feeds/all/archive/4.ninjs.json")
    assert page["next_archive"].endswith("/archive/5.ninjs.json") and page["prev_archive"].endswith("/3.ninjs.json")
    empty = docs(render_ninjs(SPEC, [], CTX))
    assert empty["items"] == [] and empty["updated"] == "1970-01-01T00:00:00Z"


def test_same_data_same_bytes_with_and_without_the_cache() -> None:
    items = [rich(), item(3), item(2)]
    extras = Extras(Paging(prev_archive=1), (Tombstone(item_uid("turan", "gone"), T0, "x"),))
    plain = render_ninjs(SPEC, items, CTX, extras)
    assert render_ninjs(SPEC, list(items), CTX, extras) == plain
    cache = FragmentCache()
    assert render_ninjs(SPEC, items, CTX, extras, cache) == plain  # rendered into the cache
    assert render_ninjs(SPEC, items, CTX, extras, cache) == plain and cache.hits == 3  # spliced from it
    # The ninjs entries are not the JSON Feed entries of the same items (the format is in the key).
    assert json.loads(render_json(SPEC, items, CTX, extras, cache))["items"][0]["id"] == items[0].uid
    assert cache.misses == 6
    # A changed item changes its entry and nothing else.
    changed = render_ninjs(SPEC, [items[0], item(3, title="Story 3, corrected", version=2), items[2]], CTX, extras,
                           cache)
    before, after = docs(plain)["items"], docs(changed)["items"]
    assert before[0] == after[0] and before[2] == after[2]
    assert after[1]["headlines"][0]["value"] == "Story 3, corrected" and after[1]["version"] == "2"


def test_the_item_alone_is_the_channel_entry() -> None:
    one = rich()
    alone = json.loads(ninjs_item_bytes(one, CTX))
    assert alone == docs(render_ninjs(SPEC, [item(1), one], CTX, cache=FragmentCache()))["items"][1]
    assert_valid_ninjs_item(alone, "alone")
    assert ninjs_item_bytes(one, CTX).endswith(b"}\n")


def test_the_check_judges_formats() -> None:
    """The schema's formats are checked by tests.feedcheck (jsonschema alone would let these pass)."""
    good = {"uri": "urn:uuid:0f1c9a52-52b8-4d5e-9a77-2b1e0c6f9a10", "versioncreated": "2026-11-20T09:00:00Z"}
    assert_valid_ninjs_item(good)
    for bad in ({**good, "uri": "no scheme here"}, {**good, "versioncreated": "yesterday"},
                {**good, "rightsinfo": {"linkedrights": "https://x.example/a b"}}):
        with pytest.raises(AssertionError, match="is not a"):
            assert_valid_ninjs_item(bad)


def test_a_channel_reads_back_through_our_ninjs_intake() -> None:
    """Another instance of this service (or any ninjs reader) can take our channel as a wire partner's
    push: the intake (intake/ninjs.py) reads the wrapper's `items` and finds our attribution in its fields."""
    from syndication.intake.ninjs import parse_ninjs

    items = [rich(), item(1)]
    feed = parse_ninjs(render_ninjs(SPEC, items, CTX, Extras(Paging(prev_archive=1),
                                                             (Tombstone(item_uid("turan", "x"), T0, "Legal"),))))
    assert feed.format == "ninjs" and [e.guid for e in feed.entries] == [i.uid for i in items]
    entry, plain = feed.entries
    assert entry.title == ODD and entry.authors == ("Leyla Aliyeva, Rauf Mammadov",)
    assert entry.categories == ("politics", ODD) and entry.language == "az-Latn"
    assert (entry.published, entry.updated) == (rich().published, rich().updated)
    assert entry.original_agency == "AFP" and entry.status is None and entry.embargo_until is None
    assert entry.summary_html is not None and "A summary" in entry.summary_html  # never the credit line
    assert entry.content_html is not None and "Usage terms: Editorial use only." in entry.content_html
    wire = entry.wire
    assert wire is not None and wire.format == "ninjs-2" and wire.version == "3"
    assert (wire.located, wire.copyright_holder, wire.copyright_notice) == ("BAKU", "AFP", "© 2026 AFP")
    assert (wire.usage_terms, wire.license_url) == ("Editorial use only.", "https://licences.example/editorial%20only")
    assert wire.credit_line == "AFP via Turan" and wire.distributor == "Turan News Agency"
    assert wire.info_sources == ("Turan News Agency", "AFP", "APA", "Caspian Wire")
    assert [(c.credit, c.url) for c in wire.images] == [
        ("AFP/Jane Doe", "https://img.example/a%20b/%C3%BC.jpg"), ("Turan/Photo Desk", "https://img.example/2.png"),
        ("Unplaced Credit", None)]
    assert plain.wire is not None and plain.wire.credit_line == "Turan news agency"
