"""NewsML-G2 intake (intake/newsml.py): IPTC's guideline listings read field by field, hostile XML refused,
out-of-scope items refused by name, and parse_document recognising a G2 root."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndication.intake.documents import read_document
from syndication.intake.newsml import is_newsml, parse_newsml
from syndication.intake.parse import ParseError, UnsupportedWireItem
from syndication.kernel.domain import ParsedEntry, WireFields
from tests.conftest import SHARED

LISTINGS = SHARED / "standards" / "iptc" / "newsml-g2" / "examples"
pytestmark = pytest.mark.skipif(not LISTINGS.is_dir(), reason=f"IPTC's NewsML-G2 listings are not at {LISTINGS}")
G2 = "http://iptc.org/std/nar/2006-10-01/"


def listing(number: int) -> bytes:
    (path,) = LISTINGS.glob(f"LISTING_{number}_*.xml")
    return path.read_bytes()


def news_item(inner: str, *, item_class: str = "ninat:text", pubstatus: str = "stat:usable",
              guid: str = "urn:test:1", extra_meta: str = "") -> bytes:
    """A minimal newsItem around `inner` (contentMeta / contentSet markup, or one of the listings' fragments)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<newsItem xmlns="{G2}" guid="{guid}" version="2" '
            f'standard="NewsML-G2" standardversion="2.35" xml:lang="en">'
            f'<itemMeta><itemClass qcode="{item_class}"/><provider qcode="nprov:TEST"/>'
            f'<versionCreated>2026-11-30T10:00:00Z</versionCreated><pubStatus qcode="{pubstatus}"/>{extra_meta}'
            f"</itemMeta>{inner}</newsItem>").encode()


def only(body: bytes) -> tuple[ParsedEntry, WireFields]:
    feed = parse_newsml(body)
    assert feed.format == "newsml-g2"
    (entry,) = feed.entries
    assert entry.wire is not None
    return entry, entry.wire


def test_listing_1_a_text_item_with_rights_embargo_and_located_place() -> None:
    entry, wire = only(listing(1))
    assert entry.guid == "urn:newsml:acmenews.com:20161018:US-FINANCE-FED"
    assert entry.title == 'Fed to halt QE to avert "bubble"'
    assert entry.content_html is None  # the listing's inlineXML holds only comments
    assert entry.authors == ("Meredith Jameson",)
    assert entry.categories == ("economy, business and finance", "labour market")
    assert entry.language == "en-GB"
    assert entry.published == datetime(2016, 10, 18, 18, 12, 21, tzinfo=UTC)
    assert entry.updated == datetime(2018, 10, 21, 21, 25, 32, tzinfo=UTC)
    assert entry.updated_raw == "2018-10-21T16:25:32-05:00"
    assert entry.embargo_until == datetime(2018, 10, 23, 12, 0, tzinfo=UTC)
    assert entry.status is None
    assert wire == WireFields(
        format="newsml-g2", item_type="text", version="11", pubstatus="usable", located="Berlin",
        copyright_holder="Example Enews LLP",
        copyright_notice="Copyright 2017-18 Example Enews LLP, all rights reserved",
        usage_terms="Not for use outside the United States",
    )


def test_listing_2_an_nitf_body_becomes_html_and_the_info_source_the_original_agency() -> None:
    entry, wire = only(listing(2))
    assert entry.guid == "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
    assert entry.title == 'Fed to halt QE to avert "bubble"'
    assert entry.content_html is not None
    assert entry.content_html.strip().startswith("<p>(New York, NY - October 21) Et, sent luptat")
    assert entry.content_html.count("<p>") == 2
    assert "nitf" not in entry.content_html and "xmlns" not in entry.content_html
    assert entry.published is None and entry.updated == datetime(2018, 11, 21, 21, 25, 32, tzinfo=UTC)
    assert entry.language == "en-US"
    assert entry.categories == ("economy, business and finance", "central bank", "money and monetary policy")
    assert entry.authors == ("Meredith Jameson",)
    assert entry.original_agency == "Associated Press"
    assert wire.byline == "By Meredith Jameson, Staff Reporter"  # from NITF's byline: contentMeta has no `by`
    assert wire.located == "New York, NY"
    assert wire.info_sources == ("Associated Press",)
    assert wire.copyright_holder == "Acme News and Media LLC"
    assert wire.copyright_notice == "Copyright 2017-18 Acme News and Media LLC"
    assert wire.usage_terms is None and wire.license_url is None


def test_listing_3_a_photo_is_its_own_image_with_credit_caption_and_rendition() -> None:
    entry, wire = only(listing(3))
    assert entry.guid == "tag:gettyimages.com,2010:GYI0062134533"
    assert entry.title == "Variety Of Recessionary Forces Leave Las Vegas Economy Scarred"
    assert wire.item_type == "picture"
    assert wire.pubstatus == "usable" and entry.status is None  # no pubStatus: usable, as G2 defaults
    assert wire.credit_line == "Getty Images" and entry.image_credit == "Getty Images"
    assert wire.copyright_holder == "Getty Images North America"
    assert wire.copyright_notice == ("Copyright 2010 Getty Images. -- "
                                     "http://www.gettyimages.com/Corporate/LicenseInfo.aspx")
    assert wire.usage_terms is not None and wire.usage_terms.startswith("Contact your local office for all commercial")
    assert wire.license_url == "http://www.gettyimages.com/Corporate/LicenseInfo.aspx"
    (image,) = wire.images
    assert image.credit == "Getty Images"
    assert image.caption is not None and image.caption.endswith("(Photo by Spencer Platt/Getty Images)")
    assert image.url == "./GYI0062134533.jpg"  # the renditions at file: URLs are the sender's disk
    assert [(e.url, e.type) for e in entry.enclosures] == [("./GYI0062134533.jpg", "image/jpeg")]
    assert entry.content_html is not None and entry.content_html.startswith("<p>A general view of part of downtown")
    assert entry.authors == ("Spencer Platt",)
    assert entry.categories == ("labour market", "unemployment", "Las Vegas Boulevard", "Las Vegas")
    assert entry.published == datetime(2010, 10, 20, 20, 58, tzinfo=UTC)
    assert entry.updated == datetime(2018, 10, 12, 6, 42, 4, tzinfo=UTC)


def test_listing_24_a_news_message_gives_the_package_and_each_item() -> None:
    feed = parse_newsml(listing(24))
    package, *items = feed.entries
    assert package.wire is not None and package.wire.item_type == "composite"
    assert package.wire.item_refs == ("N1", "N2", "N3", "N4")
    assert package.guid is None and package.title is None  # the listing abbreviates the package's metadata
    assert [i.guid for i in items] == ["N1", "N2", "N3", "N4"]
    assert all(i.wire is not None and i.wire.item_type == "text" and i.title is None for i in items)


def test_a_package_lists_its_members_by_headline() -> None:
    message = (f'<newsMessage xmlns="{G2}"><header><sent>2026-11-30T10:00:00Z</sent></header><itemSet>'
               f'<packageItem guid="urn:pkg" version="1"><itemMeta><itemClass qcode="ninat:composite"/>'
               f'<versionCreated>2026-11-30T10:00:00Z</versionCreated></itemMeta>'
               f'<contentMeta><headline>Storm day</headline></contentMeta><groupSet root="G1">'
               f'<group id="G1" role="group:main"><itemRef residref="urn:a"/>'
               f'<itemRef residref="urn:b"><title>Pictures &amp; more</title></itemRef></group></groupSet>'
               f'</packageItem>'
               f'<newsItem guid="urn:a" version="1"><itemMeta><itemClass qcode="ninat:text"/></itemMeta>'
               f'<contentMeta><headline>Storm hits coast</headline></contentMeta></newsItem>'
               f'</itemSet></newsMessage>').encode()
    package, story = parse_newsml(message).entries
    assert package.title == "Storm day" and package.wire is not None
    assert package.wire.item_refs == ("urn:a", "urn:b")
    assert package.content_html == "<ul><li>Storm hits coast</li><li>Pictures &amp; more</li></ul>"
    assert story.title == "Storm hits coast"


def test_listing_25_an_nitf_article_in_inline_xml() -> None:
    fragment = listing(25).decode()
    entry, wire = only(news_item(fragment))
    assert entry.title == "Arizona Diamondbacks (29-23) at Philadelphia Phillies (26-24), 7:05p.m."  # NITF hl1
    assert wire.byline == "Sports Network"
    assert entry.summary_html is not None and entry.summary_html.startswith("<p>A pair of teams coming off big")
    assert entry.content_html is not None
    assert entry.content_html.strip().startswith("<p>(Sports Network) - With the Philadelphia Phillies picking")
    assert "Citizens Bank Park" not in entry.content_html  # the abstract is the summary, not the body


def test_listing_28_located_subject_and_dateline() -> None:
    entry, wire = only(news_item(listing(28).decode()))
    assert wire.dateline == "MOSCOW, Monday (Reuters)"
    assert wire.located is None  # a qcode without a name: codes are not place names
    assert entry.language == "en-US"
    assert entry.authors == ("Thomson Reuters",)
    assert entry.categories == ()  # the listing's subjects name only their broader places


def test_listing_29_hop_history_names_the_agency_that_created_the_content() -> None:
    entry, wire = only(listing(29))
    assert entry.guid == "urn:newsml:acmenews.com:20161019T1205:HOP-HISTORY-EXAMPLE"
    assert entry.original_agency == "Thomson Reuters"
    assert entry.updated == datetime(2018, 10, 19, 20, 15, tzinfo=UTC)
    assert entry.title is None and entry.content_html is None  # abbreviated: "<!-- metadata and content -->"
    assert wire.copyright_holder is None  # the holder is given by URI only


@pytest.mark.parametrize("number", [25, 28])
def test_the_fragment_listings_are_not_documents(number: int) -> None:
    with pytest.raises(ParseError, match="is not a newsItem, packageItem or newsMessage"):
        parse_newsml(listing(number))


@pytest.mark.parametrize(("qcode", "status"), [("stat:canceled", "withdrawn"), ("stat:withheld", "withheld"),
                                               ("stat:usable", None)])
def test_pubstatus_becomes_our_status(qcode: str, status: str | None) -> None:
    entry, wire = only(news_item("<contentMeta><headline>H</headline></contentMeta>", pubstatus=qcode))
    assert entry.status == status
    assert wire.pubstatus == qcode.split(":")[1]


def test_a_kill_or_a_correction_carries_its_editors_note_as_the_change_note() -> None:
    note = "<edNote>Legal request: do not use</edNote>"
    entry, _ = only(news_item("<contentMeta><headline>H</headline></contentMeta>", pubstatus="stat:canceled",
                              extra_meta=note))
    assert (entry.status, entry.change_note) == ("withdrawn", "Legal request: do not use")
    entry, _ = only(news_item("<contentMeta><headline>H</headline></contentMeta>",
                              extra_meta='<signal qcode="sig:correction"/><edNote>Name fixed</edNote>'))
    assert (entry.status, entry.change_note) == ("corrected", "Name fixed")
    entry, _ = only(listing(1))  # a usable item's edNote is a note to editors (here: the embargo), not a change
    assert entry.change_note is None and entry.status is None


def test_the_main_headline_and_an_unmarked_description() -> None:
    inner = ('<contentMeta><headline role="hld:subHeadline">Second deck</headline><headline>Main head</headline>'
             "<description>What happened, briefly.</description></contentMeta>")
    entry, _ = only(news_item(inner))
    assert entry.title == "Main head"
    assert entry.summary_html == "<p>What happened, briefly.</p>"
    entry, wire = only(news_item(inner.replace("<description>", '<description role="drol:caption">'),
                                 item_class="ninat:picture"))
    assert entry.summary_html is None and entry.content_html == "<p>What happened, briefly.</p>"
    assert wire.images == ()  # no rendition and no credit line: nothing to credit


def test_bodies_xhtml_and_inline_text() -> None:
    xhtml = ('<contentSet><inlineXML contenttype="application/xhtml+xml"><html xmlns="http://www.w3.org/1999/xhtml">'
             '<head><title>x</title></head><body><h1>Head</h1><p>One <b>bold</b> line.</p></body></html>'
             '</inlineXML></contentSet>')
    entry, _ = only(news_item(xhtml))
    assert entry.content_html == "<h1>Head</h1><p>One <b>bold</b> line.</p>"
    text = '<contentSet><inlineData contenttype="text/plain">First &lt;para&gt;.\n\nSecond.</inlineData></contentSet>'
    entry, _ = only(news_item(text))
    assert entry.content_html == "<p>First &lt;para&gt;.</p><p>Second.</p>"


def test_rights_literal_link_by_and_creditline() -> None:
    inner = ('<contentMeta><headline>H</headline><by>By Ana Ruiz</by><creditline>AP Photo/Ana Ruiz</creditline>'
             '<dateline>MADRID, Nov 30</dateline><infoSource role="isrol:distributor"><name>Wire Hub</name>'
             '</infoSource><infoSource role="isrol:originfo"><name>EFE</name></infoSource></contentMeta>')
    body = news_item(inner).replace(
        b"<itemMeta>", b'<rightsInfo><copyrightHolder literal="EFE News"/><copyrightNotice>(c) EFE</copyrightNotice>'
        b'<usageTerms>Editorial use only</usageTerms><link href="https://efe.example/licence"/></rightsInfo><itemMeta>')
    entry, wire = only(body)
    assert (wire.copyright_holder, wire.copyright_notice, wire.usage_terms, wire.license_url) == (
        "EFE News", "(c) EFE", "Editorial use only", "https://efe.example/licence")
    assert wire.byline == "By Ana Ruiz" and entry.authors == ("By Ana Ruiz",)
    assert wire.credit_line == "AP Photo/Ana Ruiz" and wire.dateline == "MADRID, Nov 30"
    assert wire.info_sources == ("Wire Hub", "EFE")
    assert entry.original_agency == "EFE"  # the distributor is not the origin


@pytest.mark.parametrize("item_class", ["ninat:video", "ninat:audio", "ninat:event", "ninat:interactive"])
def test_audio_video_and_event_items_are_refused_by_name(item_class: str) -> None:
    with pytest.raises(UnsupportedWireItem, match=f"itemClass {item_class} is not taken; we accept text, photo"):
        parse_newsml(news_item("<contentMeta><headline>H</headline></contentMeta>", item_class=item_class))


@pytest.mark.parametrize("root", ["planningItem", "conceptItem", "knowledgeItem"])
def test_other_g2_items_are_refused_by_name(root: str) -> None:
    body = f'<{root} xmlns="{G2}" guid="urn:x" version="1"><itemMeta/></{root}>'.encode()
    assert is_newsml(body)
    with pytest.raises(UnsupportedWireItem, match=f"NewsML-G2 {root} is not a news item"):
        parse_newsml(body)
    message = f'<newsMessage xmlns="{G2}"><itemSet><{root} guid="urn:x"/></itemSet></newsMessage>'.encode()
    with pytest.raises(UnsupportedWireItem, match=f"item 1 .'urn:x'.: {root} is not a news item"):
        parse_newsml(message)


def test_a_prefixed_root_is_recognised() -> None:
    body = (f'<g2:newsItem xmlns:g2="{G2}" guid="urn:p" version="1"><g2:itemMeta><g2:itemClass qcode="ninat:text"/>'
            "</g2:itemMeta><g2:contentMeta><g2:headline>Prefixed</g2:headline></g2:contentMeta></g2:newsItem>").encode()
    assert is_newsml(body)
    assert only(body)[0].title == "Prefixed"


def test_a_news_item_outside_the_g2_namespace_is_not_g2() -> None:
    with pytest.raises(ParseError, match="not in the NewsML-G2 namespace"):
        parse_newsml(b'<newsItem guid="x"><itemMeta/></newsItem>')


# ---------------------------------------------------------------- hostile XML


def test_billion_laughs_is_refused_without_expansion() -> None:
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE newsItem [<!ENTITY lol0 "lol">{lol}]>'
            f'<newsItem xmlns="{G2}" guid="urn:lol"><contentMeta><headline>&lol9;</headline></contentMeta>'
            f"</newsItem>").encode()
    with pytest.raises(ParseError, match="not well-formed XML: Entity 'lol9' not defined"):
        parse_newsml(body)


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = (f'<?xml version="1.0"?><!DOCTYPE newsItem [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
            f'<newsItem xmlns="{G2}" guid="urn:xxe"><contentMeta><headline>&xxe;</headline></contentMeta>'
            f"</newsItem>").encode()
    with pytest.raises(ParseError) as caught:
        parse_newsml(body)
    assert "TOP-SECRET-VALUE" not in str(caught.value)
    assert "Entity 'xxe' not defined" in str(caught.value)


def test_an_external_dtd_is_stripped_and_never_fetched() -> None:
    body = (b'<?xml version="1.0"?>\n<!-- a partner system -->\n<!DOCTYPE newsItem SYSTEM "http://192.0.2.1/g2.dtd">\n'
            + news_item("<contentMeta><headline>Plain</headline></contentMeta>").split(b"?>", 1)[1])
    entry, _ = only(body)  # nothing to expand: the item reads as it would without the DOCTYPE
    assert entry.title == "Plain"


def test_a_utf16_document_is_recognised_and_read() -> None:
    body = news_item("<contentMeta><headline>Zürich überrascht</headline></contentMeta>").decode()
    encoded = body.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert is_newsml(encoded)
    entry, _ = only(encoded)
    assert entry.title == "Zürich überrascht"


def test_not_well_formed_names_the_problem() -> None:
    with pytest.raises(ParseError, match="NewsML-G2: the document is not well-formed XML"):
        parse_newsml(f'<newsItem xmlns="{G2}"><contentMeta></newsItem>'.encode())


# ---------------------------------------------------------------- dispatch


def test_read_document_recognises_a_g2_root_and_leaves_rss_alone() -> None:
    feed = read_document(listing(2), {"Content-Type": "application/xml"})
    assert feed.format == "newsml-g2" and feed.entries[0].guid == "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><guid>g1</guid>' \
          b"<title>An item</title></item></channel></rss>"
    assert not is_newsml(rss)
    assert read_document(rss, {"Content-Type": "application/xml"}).format == "rss"
    with pytest.raises(UnsupportedWireItem):
        read_document(news_item("<contentMeta/>", item_class="ninat:video"), {"Content-Type": "text/xml"})
