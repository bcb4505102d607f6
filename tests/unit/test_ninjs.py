"""ninjs intake (intake/ninjs.py) and the wire mapping into our items (pipeline/normalise.py), on small inline
documents; IPTC's own suites and examples run through the push API in tests/integration/test_ninjs_intake.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from syndication.intake.ninjs import ninjs_major, parse_ninjs
from syndication.intake.parse import ParseError, UnsupportedWireItem, parse_document
from syndication.kernel.domain import NormalisedItem, ParsedEntry, ParsedFeed, PartnerPolicy, WireFields
from syndication.pipeline.dates import LATEST_EMBARGO
from syndication.pipeline.ingest import decide, older_version
from syndication.pipeline.normalise import normalise_feed

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
POLICY = PartnerPolicy(
    id="agency", name="The Agency", credit="The Agency", license_url="https://creativecommons.org/licenses/by/4.0/",
    usage_terms="Republish with credit.", copyright="© {year} {credit}",
)

TEXT_1X: dict[str, Any] = {
    "uri": "urn:example:1x:1",
    "type": "text",
    "version": "1",
    "versioncreated": "2026-11-30T10:00:00Z",
    "firstcreated": "2026-11-30T09:00:00+01:00",
    "headline": "Harbour reopens after storm",
    "byline": "By Jane Doe",
    "located": "Baku",
    "copyrightholder": "Example Agency",
    "usageterms": "Editorial use only.",
    "body_html": "<p>The harbour reopened on Monday.</p><p>Ships queued outside.</p>",
    "subject": [{"name": "Transport"}, {"name": "Weather"}],
    "infosource": [{"name": "Wire Distributor", "rel": "distributor"}, {"name": "Turan"}],
    "language": "en",
    "associations": {
        "mainpic": {
            "uri": "urn:example:1x:pic", "type": "picture", "byline": "Ali Photographer",
            "copyrightholder": "Example Agency", "description_text": "The harbour at dawn.",
            "renditions": {"main": {"href": "https://img.example.org/harbour.jpg", "mimetype": "image/jpeg"}},
        }
    },
}

TEXT_2X: dict[str, Any] = {
    "uri": "urn:example:2x:1",
    "type": "text",
    "version": "3",
    "versioncreated": "2026-11-30T10:00:00Z",
    "pubstatus": "usable",
    "headlines": [{"role": "sub", "value": "A sub"}, {"role": "main", "value": "Bridge opens"}],
    "bodies": [
        {"role": "text", "contenttype": "text/plain", "value": "Line one.\nLine two."},
        {"role": "html", "contenttype": "text/html", "value": "<html><body><p>Opened today.</p></body></html>"},
    ],
    "by": "Von Christian Hollmann, dpa",
    "copyrightnotice": "Copyright 2026, dpa. All rights reserved",
    "rightsinfo": {"linkedrights": "https://example.org/rights/editorial"},
    "located": "Berlin",
    "descriptions": [{"role": "creditline", "value": "dpa"}, {"role": "summary", "value": "The bridge opened."}],
    "embargoed": "2026-12-02T06:00:00Z",
}

PICTURE_3X: dict[str, Any] = {
    "uri": "urn:example:3x:pic",
    "type": "picture",
    "versionCreated": "2026-11-30T10:00:00Z",
    "pubStatus": "usable",
    "headlines": [{"value": "Rossi at Jerez"}],
    "by": "John Smith",
    "copyrightHolder": "PA",
    "rightsInfo": {"encodedRights": "no commercial use"},
    "descriptions": [{"role": "caption", "value": "Valentino Rossi during the test day."}],
    "renditions": [
        {"name": "small", "href": "https://img.example.org/rossi-small.jpg"},
        {"name": "main", "href": "https://img.example.org/rossi.jpg", "contentType": "image/jpeg"},
    ],
}


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode("utf-8")


def one(doc: dict[str, Any]) -> ParsedEntry:
    feed = parse_ninjs(body(doc))
    assert feed.format == "ninjs" and len(feed.entries) == 1
    return feed.entries[0]


def normalised(doc: Any, policy: PartnerPolicy = POLICY) -> NormalisedItem:
    items, rejections = normalise_feed(parse_ninjs(body(doc)), policy, now=NOW)
    assert not rejections and len(items) == 1
    return items[0]


# ---------------------------------------------------------------- versions and errors


def test_major_version_by_marker_then_shape() -> None:
    assert ninjs_major(TEXT_1X) == 1
    assert ninjs_major(TEXT_2X) == 2
    assert ninjs_major(PICTURE_3X) == 3
    assert ninjs_major({"uri": "x", "standard": {"name": "ninjs", "version": "3.0"}}) == 3
    assert ninjs_major({"uri": "x", "$standard": {"name": "ninjs", "version": "1.5"}}) == 1
    # A standard naming 1.3 does not make 2.x's `standard` property a 1.x one (IPTC's 2.0 suite has such a file).
    assert ninjs_major({"uri": "x", "standard": {"schema": "http://www.iptc.org/std/ninjs/ninjs-schema_1.3.json"}}) == 2
    # A property only 2.x has marks it (`by`, 1.x's is `byline`), as do arrays of associations or renditions.
    assert ninjs_major({"uri": "x", "by": "someone"}) == 2
    assert ninjs_major({"uri": "x", "renditions": [{"name": "main", "href": "https://x.example/a.jpg"}]}) == 2
    # Otherwise a document is 1.x (IPTC: 1.x has no version marker).
    assert ninjs_major({"uri": "x", "headline": "h", "byline": "someone"}) == 1


def test_not_json_is_said() -> None:
    with pytest.raises(ParseError, match=r"^not JSON: "):
        parse_ninjs(b"<rss/>")


def test_invalid_item_names_the_schema_path() -> None:
    doc = {**TEXT_2X, "headlines": [{"role": "main"}]}
    with pytest.raises(ParseError) as err:
        parse_ninjs(body(doc))
    assert str(err.value) == "ninjs 2.x: /headlines/0: 'value' is a required property"
    wrapped = {"items": [TEXT_1X, {**TEXT_1X, "uri": "urn:x:2", "pubstatus": "maybe"}]}
    with pytest.raises(ParseError, match=r"^items\[1\]: ninjs 1\.x: /pubstatus: 'maybe' is not one of"):
        parse_ninjs(body(wrapped))


@pytest.mark.parametrize("kind", ["audio", "video", "event", "planning"])
def test_out_of_scope_types_are_refused_saying_what_is_accepted(kind: str) -> None:
    with pytest.raises(UnsupportedWireItem) as err:
        parse_ninjs(body({"uri": "urn:x", "type": kind, "headlines": [{"value": "h"}]}))
    assert repr(kind) in str(err.value) and "text, picture and composite" in str(err.value)


def test_served_as_ninjs_a_polled_document_is_read_as_ninjs() -> None:
    feed = parse_document(body({"items": [TEXT_1X, TEXT_2X]}), {"Content-Type": "application/ninjs+json"})
    assert feed.format == "ninjs" and [e.guid for e in feed.entries] == ["urn:example:1x:1", "urn:example:2x:1"]


# ---------------------------------------------------------------- parser mapping


def test_1x_fields() -> None:
    e = one(TEXT_1X)
    assert (e.guid, e.title, e.language) == ("urn:example:1x:1", "Harbour reopens after storm", "en")
    assert e.content_html is not None and e.content_html.startswith("<p>The harbour reopened on Monday.</p>")
    assert '<img src="https://img.example.org/harbour.jpg"' in e.content_html
    assert e.authors == ("By Jane Doe",) and e.categories == ("Transport", "Weather")
    assert e.published == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert e.updated == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert e.original_agency == "Turan" and e.image_credit == "Ali Photographer/Example Agency"
    assert e.status is None and e.embargo_until is None
    w = e.wire
    assert w is not None and (w.format, w.item_type, w.version, w.pubstatus) == ("ninjs-1", "text", "1", "usable")
    assert (w.byline, w.located, w.copyright_holder, w.usage_terms) == (
        "By Jane Doe", "Baku", "Example Agency", "Editorial use only.")
    assert w.info_sources == ("Wire Distributor", "Turan") and w.distributor == "Wire Distributor"
    assert [(i.credit, i.caption, i.url) for i in w.images] == [
        ("Ali Photographer/Example Agency", "The harbour at dawn.", "https://img.example.org/harbour.jpg")]


def test_2x_fields() -> None:
    e = one(TEXT_2X)
    assert e.title == "Bridge opens"
    assert e.content_html == "<p>Opened today.</p>"  # the HTML body wins over the text one
    assert e.summary_html == "<p>The bridge opened.</p>"
    assert e.embargo_until == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    w = e.wire
    assert w is not None and w.format == "ninjs-2" and w.credit_line == "dpa"
    assert (w.license_url, w.copyright_notice) == (
        "https://example.org/rights/editorial", "Copyright 2026, dpa. All rights reserved")
    text_only = one({**TEXT_2X, "bodies": TEXT_2X["bodies"][:1]})
    assert text_only.content_html == "<p>Line one.</p><p>Line two.</p>"


def test_3x_camel_case_fields_and_a_picture_item() -> None:
    e = one(PICTURE_3X)
    w = e.wire
    assert w is not None and (w.format, w.item_type) == ("ninjs-3", "picture")
    assert (w.copyright_holder, w.usage_terms, w.credit_line) == ("PA", "no commercial use", "John Smith/PA")
    assert [(i.credit, i.url) for i in w.images] == [("John Smith/PA", "https://img.example.org/rossi.jpg")]
    assert e.content_html is not None and "<figcaption>Valentino Rossi during the test day.</figcaption>" in (
        e.content_html)
    assert [x.url for x in e.enclosures] == ["https://img.example.org/rossi.jpg"]


def test_pubstatus_and_corrections() -> None:
    assert one({**TEXT_2X, "pubstatus": "canceled"}).status == "withdrawn"
    assert one({**TEXT_2X, "pubstatus": "withheld"}).status == "withheld"
    corrected = one({**TEXT_2X, "version": "4", "ednote": "Corrects spelling of the minister's name"})
    assert corrected.status == "corrected" and corrected.change_note == "Corrects spelling of the minister's name"
    expanded = one({**TEXT_2X, "version": "4", "ednote": "Noe utvidet."})
    assert expanded.status is None and expanded.change_note == "Noe utvidet."


def test_a_valid_item_with_nothing_but_its_uri_is_titled_by_it() -> None:
    assert one({"uri": "urn:only:uri"}).title == "urn:only:uri"


# ---------------------------------------------------------------- pipeline: wire fields win


def test_wire_fields_win_over_the_partner_default_and_prose() -> None:
    item = normalised(TEXT_2X)
    a = item.attribution
    assert a.rights == "Copyright 2026, dpa. All rights reserved"
    # The licence the document links replaces the partner's default; its usage terms, unstated, stay.
    assert (a.license_url, a.usage_terms, a.license_name) == (
        "https://example.org/rights/editorial", POLICY.usage_terms, None)
    assert a.authors == ("Christian Hollmann",) and a.dateline_place == "Berlin"
    assert a.credit_line == "dpa" and a.wire_version == "3"
    assert {"rights:wire", "usage_terms:wire", "authors:wire", "dateline:wire"} <= set(a.extracted_from)
    assert item.embargo_until == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def test_holder_makes_the_rights_line_and_images_carry_their_credits() -> None:
    item = normalised(TEXT_1X)
    a = item.attribution
    assert a.rights == "© 2026 Example Agency"
    assert (a.license_url, a.usage_terms) == (POLICY.license_url, "Editorial use only.")
    assert a.authors == ("Jane Doe",) and a.original_agency == "Turan" and a.distributing_source == "Wire Distributor"
    assert [(c.credit, c.url) for c in a.image_credits][0] == (
        "Ali Photographer/Example Agency", "https://img.example.org/harbour.jpg")


def test_what_the_document_does_not_state_still_comes_from_prose_and_the_partner() -> None:
    doc = {"uri": "urn:x:prose", "headlines": [{"value": "Talks resume"}],
           "bodies": [{"contenttype": "text/html", "value": "<p>BAKU, 4 February (Turan) – Talks resumed.</p>"}]}
    a = normalised(doc).attribution
    assert a.rights == "© 2026 The Agency"  # the partner's rights line: the document names no holder
    assert (a.license_url, a.usage_terms) == (POLICY.license_url, POLICY.usage_terms)
    assert a.dateline_place == "Baku" and a.original_agency == "Turan"


def test_withheld_is_held_without_end_and_a_later_usable_version_releases_it() -> None:
    unembargoed = {k: v for k, v in TEXT_2X.items() if k != "embargoed"}
    held = normalised({**unembargoed, "pubstatus": "withheld"})
    assert held.embargo_until == LATEST_EMBARGO and "withheld" in held.flags and held.status == "usable"
    usable = normalised({**unembargoed, "version": "4"})
    assert usable.embargo_until is None
    stored = SimpleNamespace(status="usable", content_hash=held.content_hash, embargo_until=held.embargo_until,
                             attribution={"wire_version": "3"})
    assert decide(usable, stored) == "updated"  # type: ignore[arg-type]
    assert decide(held, stored) == "unchanged"  # type: ignore[arg-type]


def test_canceled_withdraws() -> None:
    item = normalised({**TEXT_2X, "pubstatus": "canceled"})
    assert item.status == "withdrawn"
    stored = SimpleNamespace(status="usable", content_hash="x", embargo_until=None, attribution={})
    assert decide(item, stored) == "withdrawn"  # type: ignore[arg-type]


def test_an_earlier_version_arriving_late_changes_nothing() -> None:
    v2 = normalised({**TEXT_2X, "version": "2", "headlines": [{"value": "Bridge opens (earlier)"}]})
    stored = SimpleNamespace(status="usable", content_hash="stored", embargo_until=None,
                             attribution={"wire_version": "10"})
    assert decide(v2, stored) == "unchanged"  # type: ignore[arg-type]
    v11 = normalised({**TEXT_2X, "version": "11"})
    assert decide(v11, stored) == "updated"  # type: ignore[arg-type]
    # Without versions to compare (a feed's item, or a version that is not a number) the content decides.
    assert older_version("2", None) is False and older_version("2a", "3") is False
    assert older_version(None, "3") is False and older_version("2", "3") is True


def test_an_embargo_we_cannot_read_is_refused_other_dates_are_set_aside() -> None:
    with pytest.raises(ParseError, match=r"^ninjs 2\.x: /embargoed: 'Next Monday' is not a 'date-time'$"):
        parse_ninjs(body({**TEXT_2X, "embargoed": "Next Monday"}))
    item = normalised({**TEXT_2X, "versioncreated": "Last Tuesday"})
    assert [(d.field, d.raw) for d in item.dates_set_aside] == [("updated", "Last Tuesday")]


def test_a_stated_dateline_gives_place_date_and_agency_when_nothing_says_otherwise() -> None:
    # As NewsML-G2 states it (contentMeta/dateline); ninjs has `located` only.
    def attribution_of(**wire: Any) -> Any:
        entry = ParsedEntry(guid="g2:1", link=None, title="Talks", content_html="<p>Talks resumed.</p>",
                            summary_html=None, wire=WireFields(format="newsml-g2", **wire))
        items, _ = normalise_feed(ParsedFeed(None, None, None, (entry,), "newsml-g2"), POLICY, now=NOW)
        return items[0].attribution

    a = attribution_of(dateline="MOSCOW, Monday (Reuters)")
    assert (a.dateline_place, a.dateline_agency, a.original_agency) == ("Moscow", "Reuters", "Reuters")
    a = attribution_of(dateline="LONDON, 12 Jan", located="Westminster", info_sources=("AFP",))
    assert (a.dateline_place, a.dateline_date) == ("Westminster", "12 Jan")
    assert "dateline:wire" in a.extracted_from


def test_ninjs_sent_as_plain_json_is_refused_saying_how_to_send_it() -> None:
    with pytest.raises(ParseError, match=r"application/ninjs\+json, or dropped as \*\.ninjs\.json"):
        parse_document(body(TEXT_2X), {"Content-Type": "application/json"})
