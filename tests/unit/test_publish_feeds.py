"""[publish] Pure rendering: every structured element, validity (RFC 4287 RELAX NG, JSON Feed 1.1 schema),
feedparser round trips, determinism, archives/tombstone markup, webhook signing, channel specs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from syndication.kernel.settings import load_settings
from syndication.publish.channels import channel_specs
from syndication.publish.feeds import (
    AT,
    ATOM,
    DC,
    DCTERMS,
    FH,
    MEDIA,
    Extras,
    FeedContext,
    Paging,
    Tombstone,
    render_atom,
    render_json,
    render_rss,
)
from syndication.publish.published import ChannelSpec, PartnerInfo, PublishedItem, item_uid
from tests.feedcheck import assert_valid_atom, assert_valid_json_feed, parse_clean

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
HUB = "https://hub.example/"
A = f"{{{ATOM}}}"

PARTNER = PartnerInfo(
    id="turan", name="Turan News Agency", homepage="https://turan.az/", feed_url="https://turan.az/feed.rss",
    credit="Turan news agency", license_url=CC_BY, usage_terms="Republish with credit.",
    copyright="© {year} Turan News Agency", updated=T0,
)


def item(i: int, **over: object) -> PublishedItem:
    data: dict[str, object] = dict(
        id=i, uid=item_uid("turan", f"k{i}"), partner=PARTNER, url=f"https://turan.az/news/{i}",
        title=f"Story {i} & <more>",
        content_html=f'<p>Body {i}</p><img src="https://turan.az/img/{i}.jpg" alt="Alt {i}">',
        summary=None, authors=(f"Writer {i}",), categories=("politics", "baku"), language="en",
        published=T0 + timedelta(hours=i), updated=T0 + timedelta(hours=i, minutes=5),
        attribution={"credit": "Turan news agency", "license_url": CC_BY, "original_url": f"https://turan.az/news/{i}",
                     "image_credits": [{"credit": "Photo Person", "caption": f"Caption {i}", "url": None}]},
        version=1,
    )
    data.update(over)
    return PublishedItem(**data)  # type: ignore[arg-type]


SPEC = ChannelSpec("all", "Syndication", "Every partner's news, credited.", 10)
CTX = FeedContext(public_url="http://news.example", ttl_minutes=15, hub_url=HUB)
ITEMS = [item(2), item(1)]


def test_atom_entry_carries_every_structured_element() -> None:
    root = assert_valid_atom(render_atom(SPEC, ITEMS, CTX), "all.atom")
    links = {(lk.get("rel"), lk.get("href")) for lk in root.findall(A + "link")}
    assert ("self", "http://news.example/feeds/all.atom") in links and ("hub", HUB) in links
    assert root.findtext(A + "generator") == "syndication"
    e = root.find(A + "entry")
    assert e is not None
    assert e.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    elinks = {lk.get("rel"): lk.get("href") for lk in e.findall(A + "link")}
    assert elinks == {"alternate": "http://news.example/items/2", "via": "https://turan.az/news/2", "license": CC_BY}
    assert [a.findtext(A + "name") for a in e.findall(A + "author")] == ["Writer 2"]
    assert [c.get("term") for c in e.findall(A + "category")] == ["politics", "baku"]
    assert e.findtext(A + "published") == "2026-11-20T11:00:00Z" and e.findtext(A + "updated") == "2026-11-20T11:05:00Z"
    assert e.findtext(A + "rights") == "© 2026 Turan News Agency"
    src = e.find(A + "source")
    assert src is not None
    assert src.findtext(A + "id") == "https://turan.az/feed.rss" and src.findtext(A + "title") == "Turan News Agency"
    assert src.findtext(A + "updated") == "2026-11-20T09:00:00Z" and src.findtext(A + "rights")
    assert {lk.get("rel") for lk in src.findall(A + "link")} == {"alternate", "self", "license"}
    content = e.findtext(A + "content") or ""
    assert "syndication-attribution" in content and "Turan news agency" in content
    media = e.find(f"{{{MEDIA}}}content")
    assert media is not None and media.get("url") == "https://turan.az/img/2.jpg" and media.get("medium") == "image"
    assert media.get("type") == "image/jpeg"
    credit = media.find(f"{{{MEDIA}}}credit")
    assert credit is not None and credit.text == "Photo Person"
    assert credit.get("role") == "photographer" and credit.get("scheme") == "urn:ebu"
    assert media.findtext(f"{{{MEDIA}}}description") == "Caption 2"
    assert root.find(f"{{{MEDIA}}}group") is None and e.find(f"{{{MEDIA}}}group") is None


def test_rss_item_carries_every_structured_element() -> None:
    data = render_rss(SPEC, ITEMS, CTX)
    ch = etree.fromstring(data).find("channel")
    assert ch is not None
    assert ch.findtext("ttl") == "15" and ch.findtext("generator") == "syndication"
    alinks = {(lk.get("rel"), lk.get("href")) for lk in ch.findall(f"{{{ATOM}}}link")}
    assert ("self", "http://news.example/feeds/all.rss") in alinks and ("hub", HUB) in alinks
    it = ch.find("item")
    assert it is not None
    assert it.findtext("link") == "http://news.example/items/2"
    assert it.findtext(f"{{{DC}}}creator") == "Writer 2"
    assert it.findtext(f"{{{DC}}}rights") == "© 2026 Turan News Agency"
    assert it.findtext(f"{{{DCTERMS}}}license") == CC_BY
    src = it.find("source")
    assert src is not None and src.get("url") == "https://turan.az/feed.rss" and src.text == "Turan News Agency"
    assert it.find(f"{{{MEDIA}}}content/{{{MEDIA}}}credit") is not None


def test_feedparser_round_trips_title_links_authors_source_rights_licence() -> None:
    a = parse_clean(render_atom(SPEC, ITEMS, CTX), "atom").entries[0]
    assert a.title == "Story 2 & <more>"
    rels = {(lk.rel, lk.href) for lk in a.links}
    assert {("alternate", "http://news.example/items/2"), ("via", "https://turan.az/news/2"),
            ("license", CC_BY)} <= rels
    assert a.link == "http://news.example/items/2"
    assert a.author == "Writer 2" and [x.name for x in a.authors] == ["Writer 2"]
    assert a.source.title == "Turan News Agency" and a.source.id == "https://turan.az/feed.rss"
    assert a.rights == "© 2026 Turan News Agency"
    assert a.media_credit[0]["content"] == "Photo Person" and a.media_credit[0]["role"] == "photographer"
    r = parse_clean(render_rss(SPEC, ITEMS, CTX), "rss").entries[0]
    assert r.title == "Story 2 & <more>" and r.link == "http://news.example/items/2"
    assert r.author == "Writer 2"
    assert r.source == {"href": "https://turan.az/feed.rss", "title": "Turan News Agency"}
    assert r.rights == "© 2026 Turan News Agency" and r.license == CC_BY
    assert ("via", "https://turan.az/news/2") in {(lk.get("rel"), lk.get("href")) for lk in r.links}


def test_json_feed_validates_and_carries_syndication_keys() -> None:
    doc = assert_valid_json_feed(render_json(SPEC, ITEMS, CTX), "all.json")
    assert doc["hubs"] == [{"type": "WebSub", "url": HUB}]
    it = doc["items"][0]
    assert it["url"] == "http://news.example/items/2" and it["external_url"] == "https://turan.az/news/2"
    s = it["_syndication"]
    assert s["via"] == "https://turan.az/news/2" and s["license_url"] == CC_BY and s["rights"].startswith("©")
    assert s["images"][0] == {"url": "https://turan.az/img/2.jpg", "credit": "Photo Person",
                              "credit_role": "photographer", "credit_scheme": "urn:ebu", "caption": "Caption 2",
                              "type": "image/jpeg"}
    assert s["source"]["id"] == "https://turan.az/feed.rss" and s["source"]["title"] == "Turan News Agency"
    bad = dict(doc, unknown_key=1)
    with pytest.raises(AssertionError):
        assert_valid_json_feed(__import__("json").dumps(bad).encode(), "bad")


def test_same_data_same_bytes_and_updated_from_data() -> None:
    for render in (render_atom, render_rss, render_json):
        assert render(SPEC, ITEMS, CTX) == render(SPEC, list(ITEMS), CTX)
    root = etree.fromstring(render_atom(SPEC, ITEMS, CTX))
    assert root.findtext(A + "updated") == "2026-11-20T11:05:00Z"
    empty = etree.fromstring(render_atom(SPEC, [], CTX))
    assert empty.findtext(A + "updated") == "1970-01-01T00:00:00Z"


def test_no_hub_link_without_hub() -> None:
    ctx = FeedContext(public_url="http://news.example")
    assert b'rel="hub"' not in render_atom(SPEC, ITEMS, ctx) and b'rel="hub"' not in render_rss(SPEC, ITEMS, ctx)
    assert "hubs" not in assert_valid_json_feed(render_json(SPEC, ITEMS, ctx))


def test_archive_paging_links_and_tombstones_are_valid() -> None:
    page = Extras(Paging(archive_page=2, prev_archive=1, next_archive=3))
    root = assert_valid_atom(render_atom(SPEC, ITEMS, CTX, page), "archive")
    links = {lk.get("rel"): lk.get("href") for lk in root.findall(A + "link")}
    assert links["self"] == "http://news.example/feeds/all/archive/2.atom"
    assert links["prev-archive"] == "http://news.example/feeds/all/archive/1.atom"
    assert links["next-archive"] == "http://news.example/feeds/all/archive/3.atom"
    assert links["current"] == "http://news.example/feeds/all.atom" and "hub" not in links
    assert root.find(f"{{{FH}}}archive") is not None
    rss = etree.fromstring(render_rss(SPEC, ITEMS, CTX, page)).find("channel")
    assert rss is not None and rss.find(f"{{{FH}}}archive") is not None
    parse_clean(render_rss(SPEC, ITEMS, CTX, page))
    stone = Tombstone(item_uid("turan", "gone"), T0 + timedelta(days=1), "withdrawn by partner",
                      "http://news.example/items/9")
    current = Extras(Paging(prev_archive=4), (stone,))
    root = assert_valid_atom(render_atom(SPEC, ITEMS, CTX, current), "current")
    deleted = root.find(f"{{{AT}}}deleted-entry")
    assert deleted is not None and deleted.get("ref") == stone.ref and deleted.get("when") == "2026-11-21T09:00:00Z"
    assert deleted.findtext(f"{{{AT}}}comment") == "withdrawn by partner"
    assert {lk.get("rel") for lk in root.findall(A + "link")} >= {"prev-archive"}
    assert root.findtext(A + "updated") == "2026-11-21T09:00:00Z"  # the deletion moves `updated`
    doc = assert_valid_json_feed(render_json(SPEC, ITEMS, CTX, current))
    assert doc["next_url"] == "http://news.example/feeds/all/archive/4.json"
    assert doc["_syndication"]["deleted"][0]["ref"] == stone.ref


def test_items_without_credit_url_or_images_stay_valid() -> None:
    bare = item(3, authors=(), categories=(), language=None, url=None, content_html="<p>x</p>",
                attribution={}, partner=PartnerInfo("p", "P", None, None, "P credit", None, None, None, None))
    root = assert_valid_atom(render_atom(SPEC, [bare], CTX))
    e = root.find(A + "entry")
    assert e is not None and e.findtext(f"{A}author/{A}name") == "P credit"
    assert e.findtext(A + "rights") == "© 2026 P credit"
    parse_clean(render_rss(SPEC, [bare], CTX))
    assert_valid_json_feed(render_json(SPEC, [bare], CTX))


def test_configured_channels_from_toml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[publish]\nwindow = 50\n'
        '[[channels]]\nid = "caucasus-politics"\ntitle = "Caucasus politics"\ndescription = "Politics."\n'
        'partners = ["turan"]\ncategories = ["Politics"]\nlanguage = "en"\nwindow = 20\n'
        '[[channels]]\nid = "everything"\ntitle = "Everything"\n'
    )
    settings = load_settings(cfg)

    class P:
        def __init__(self, pid: str) -> None:
            self.id, self.name = pid, pid.title()

    specs = {s.id: s for s in channel_specs(settings, [P("turan"), P("caspian")])}  # type: ignore[list-item]
    assert set(specs) == {"all", "partners/caspian", "partners/turan", "caucasus-politics", "everything"}
    c = specs["caucasus-politics"]
    assert (c.title, c.description, c.partners, c.categories, c.language, c.window) == (
        "Caucasus politics", "Politics.", ("turan",), ("Politics",), "en", 20)
    assert specs["everything"].window == 50 and specs["partners/turan"].partners == ("turan",)
    assert settings.publish.refresh_interval == 300


SYN = "{https://syndication.example/ns/1.0}"


def test_every_attribution_field_reaches_atom_rss_json_and_the_footer() -> None:
    """[newcomer] point 8: usage terms, distributing source and the other structured credits were in JSON Feed
    only; atom:source/rights said the usage terms for partners without a copyright line."""
    plain = PartnerInfo("cs", "commonspace.eu", "https://commonspace.eu/", None, "commonspace.eu", CC_BY,
                        "Republish with credit and a link to the original.", None, T0)
    credited = item(5, partner=plain, attribution={
        "credit": "commonspace.eu", "license_url": CC_BY, "original_url": "https://commonspace.eu/5",
        "usage_terms": "Republish with credit and a link to the original.", "distributing_source": "APA",
        "original_agency": "Trend news agency", "dateline_place": "Baku", "authors": ["Writer 5"],
        "image_credits": [{"credit": "Photo Person", "caption": "Caption 5", "url": None}]},
        carriers=({"partner_id": "cs", "credit": "commonspace.eu", "url": "https://commonspace.eu/5"},
                  {"partner_id": "turan", "credit": "Turan news agency", "url": "https://turan.az/5"}))
    terms = "Republish with credit and a link to the original."
    expected = {"credit": ["commonspace.eu"], "original-url": ["https://commonspace.eu/5"],
                "original-agency": ["Trend news agency"], "distributing-source": ["APA"], "dateline": ["Baku"],
                "byline": ["Writer 5"], "photo-credit": ["Photo Person"], "usage-terms": [terms],
                "rights": ["© 2026 commonspace.eu"], "license-url": [CC_BY],
                "carrier": ["commonspace.eu", "Turan news agency"]}
    atom = assert_valid_atom(render_atom(SPEC, [credited], CTX))
    rss = etree.fromstring(render_rss(SPEC, [credited], CTX)).find("channel/item")
    assert rss is not None
    for entry in (atom.find(A + "entry"), rss):
        assert entry is not None
        attribution = entry.find(SYN + "attribution")
        assert attribution is not None
        found: dict[str, list[str | None]] = {}
        for el in attribution:
            found.setdefault(etree.QName(el).localname, []).append(el.text)
        assert found == expected
        assert attribution.find(SYN + "photo-credit").get("caption") == "Caption 5"  # type: ignore[union-attr]
        assert attribution.find(SYN + "carrier").get("href") == "https://commonspace.eu/5"  # type: ignore[union-attr]
    e = atom.find(A + "entry")
    assert e is not None
    # rights: the copyright line, or one built from the credit, never the usage terms.
    assert e.findtext(A + "rights") == e.findtext(f"{A}source/{A}rights") == "© 2026 commonspace.eu"
    footers = [e.findtext(A + "content"), rss.findtext("description")]
    doc = assert_valid_json_feed(render_json(SPEC, [credited], CTX))
    s = doc["items"][0]["_syndication"]
    assert (s["usage_terms"], s["distributing_source"], s["original_agency"], s["dateline"]) == (
        terms, "APA", "Trend news agency", "Baku")
    assert s["source"]["rights"] == "© 2026 commonspace.eu"
    footers.append(doc["items"][0]["content_html"])
    for footer in footers:
        assert f"Distributed by APA. Usage terms: {terms} Photo: Caption 5: Photo Person." in (footer or "")
    # A partner with a copyright line: that line, in the entry and in its source.
    turan = assert_valid_atom(render_atom(SPEC, ITEMS, CTX)).find(A + "entry")
    assert turan is not None and turan.findtext(f"{A}source/{A}rights") == "© 2026 Turan News Agency"
    assert turan.findtext(f"{SYN}attribution/{SYN}usage-terms") == "Republish with credit."
