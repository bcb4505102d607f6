"""[real-feeds] 1: no item lost to a date. Every shape of date a feed can carry, through the parsers and
normalisation, comes out as a UTC datetime every later layer can hold (window arithmetic, RFC 3339 / RFC 822
writers, JSON), or is set aside with the partner's text kept and the item dated by its first sighting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndication.intake.parse import parse_document, parse_xml_feed
from syndication.kernel.domain import NormalisedItem, ParsedEntry, PartnerPolicy
from syndication.pipeline import dates
from syndication.pipeline.dedupe import WINDOW
from syndication.pipeline.ingest import partner_dates_json
from syndication.pipeline.normalise import normalise_entry, normalise_feed
from syndication.publish.feedgen_ext import rfc822, rfc3339

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = PartnerPolicy(id="hugo", name="Hugo Site", credit="Hugo Site")
KEPT, BEFORE, FUTURE, UNREADABLE, UNREPRESENTABLE = (
    "kept", dates.BEFORE_EARLIEST, dates.IN_FUTURE, dates.UNREADABLE, dates.UNREPRESENTABLE)

# (the date as a feed writes it in RFC 822 for RSS, the same instant in RFC 3339 for Atom/JSON, expected outcome,
#  expected UTC value when kept)
SHAPES: list[tuple[str, str, str, datetime | None]] = [
    ("Sat, 28 Nov 2026 14:00:00 +0400", "2026-11-28T14:00:00+04:00", KEPT, datetime(2026, 11, 28, 10, tzinfo=UTC)),
    ("Mon, 01 Jan 0001 00:00:00 +0000", "0001-01-01T00:00:00Z", BEFORE, None),  # Hugo's undated page
    ("Sun, 20 Jul 1969 20:17:40 GMT", "1969-07-20T20:17:40Z", BEFORE, None),
    ("Thu, 01 Jan 1970 00:00:00 GMT", "1970-01-01T00:00:00Z", BEFORE, None),  # a zero Unix time
    ("Fri, 02 Jan 1970 00:00:00 GMT", "1970-01-02T00:00:00Z", KEPT, datetime(1970, 1, 2, tzinfo=UTC)),
    ("Fri, 31 Dec 9999 23:59:59 GMT", "9999-12-31T23:59:59Z", FUTURE, None),
    ("Mon, 30 Nov 2026 12:00:00 GMT", "2026-11-30T12:00:00Z", FUTURE, None),  # two days ahead
    ("Sat, 28 Nov 2026 20:00:00 GMT", "2026-11-28T20:00:00Z", KEPT, datetime(2026, 11, 28, 20, tzinfo=UTC)),
    ("nonsense", "nonsense", UNREADABLE, None),
]
# Shapes whose outcome depends on which parser reads them (a parser may drop what another converts): the
# value is set aside either way and the text is kept; the reason may be "not a date" or the range.
EDGE_SHAPES = [
    ("Mon, 01 Jan 0001 00:00:00 +0100", "0001-01-01T00:00:00+01:00"),  # year 0 once in UTC
    ("Fri, 31 Dec 9999 23:00:00 -0500", "9999-12-31T23:00:00-05:00"),  # year 10000 once in UTC
    ("Sat, 28 Nov 2026 10:00:00 +2500", "2026-11-28T10:00:00+25:00"),  # an offset no zone has
    ("Sat, 45 Nov 2026 99:00:00 GMT", "2026-13-45T99:00:00Z"),  # feedparser rolls month 13 over into 2027
]


def rss(date: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://hugo.example/</link>'
            f'<item><title>Undated page</title><link>https://hugo.example/about/</link>'
            f'<description>About us.</description><pubDate>{date}</pubDate></item></channel></rss>').encode()


def atom(date: str) -> bytes:
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            f'<id>https://hugo.example/</id><updated>2026-11-28T00:00:00Z</updated>'
            f'<entry><id>https://hugo.example/about/</id><title>Undated page</title>'
            f'<link href="https://hugo.example/about/"/><published>{date}</published><updated>{date}</updated>'
            f'<content type="html">About us.</content></entry></feed>').encode()


def json_feed(date: str) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
        {"id": "https://hugo.example/about/", "url": "https://hugo.example/about/", "title": "Undated page",
         "content_html": "About us.", "date_published": date, "date_modified": date}]}).encode()


def documents(rfc822_text: str, rfc3339_text: str) -> list[tuple[str, bytes]]:
    return [("rss", rss(rfc822_text)), ("atom", atom(rfc3339_text)), ("json", json_feed(rfc3339_text))]


def ingest_one(kind: str, body: bytes, fast: bool) -> NormalisedItem:
    ctype = "application/feed+json" if kind == "json" else "application/xml"
    if kind == "json":
        feed = parse_document(body, {"content-type": ctype})
    else:
        feed = parse_xml_feed(body, {"content-type": ctype}, "https://hugo.example/feed", fast=fast)
    items, rejections = normalise_feed(feed, POLICY, now=NOW, document_url="https://hugo.example/feed")
    assert not rejections and len(items) == 1, (items, rejections)
    return items[0]


def assert_every_layer_holds(item: NormalisedItem) -> None:
    for moment in (item.published, item.updated):
        assert moment.tzinfo == UTC
        assert dates.EARLIEST <= moment <= NOW + dates.FUTURE_TOLERANCE
        moment - WINDOW, moment + WINDOW  # noqa: B018 - the story window's arithmetic must not raise
        assert datetime.fromisoformat(rfc3339(moment).replace("Z", "+00:00")) == moment.replace(microsecond=0)
        assert rfc822(moment)[-3:] == "GMT"
        json.dumps(moment.isoformat())
    assert item.updated >= item.published
    json.dumps(partner_dates_json(item))


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "feedparser"])
@pytest.mark.parametrize(("rfc822_text", "rfc3339_text", "outcome", "expected"), SHAPES,
                         ids=[s[1] for s in SHAPES])
def test_each_date_shape_in_each_format(rfc822_text: str, rfc3339_text: str, outcome: str,
                                        expected: datetime | None, fast: bool) -> None:
    for kind, body in documents(rfc822_text, rfc3339_text):
        item = ingest_one(kind, body, fast)
        assert_every_layer_holds(item)
        written = rfc822_text if kind == "rss" else rfc3339_text
        if outcome == KEPT:
            assert item.published == expected, kind
            assert not item.dates_set_aside and "date_set_aside" not in item.flags, kind
            continue
        assert item.published == NOW, kind  # dated by its first sighting, as an undated item is
        notes = item.dates_set_aside
        assert [n.field for n in notes] == ["published"] or {n.field for n in notes} == {"published", "updated"}, kind
        published_note = next(n for n in notes if n.field == "published")
        assert published_note.reason == outcome, (kind, notes)
        # The partner's text when the parser kept it (feedparser does), else the instant the parser read.
        if published_note.raw != written:
            assert fast and kind != "json", (kind, published_note)
            read = datetime.fromisoformat(published_note.raw)
            assert not dates.EARLIEST <= read <= NOW + dates.FUTURE_TOLERANCE, (kind, published_note)
        assert ("future_date_clamped" if outcome == FUTURE else "date_set_aside") in item.flags, kind


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "feedparser"])
@pytest.mark.parametrize(("rfc822_text", "rfc3339_text"), EDGE_SHAPES, ids=[s[1] for s in EDGE_SHAPES])
def test_edges_of_the_calendar_never_raise(rfc822_text: str, rfc3339_text: str, fast: bool) -> None:
    for kind, body in documents(rfc822_text, rfc3339_text):
        item = ingest_one(kind, body, fast)
        assert_every_layer_holds(item)
        if item.published != NOW:  # +25:00 read as an offset by feedparser: an ordinary date then
            assert not item.dates_set_aside
            continue
        assert item.dates_set_aside and item.dates_set_aside[0].raw, (kind, item.dates_set_aside)


def test_no_date_at_all_is_dated_by_first_sighting_without_a_note() -> None:
    body = rss("x").replace(b"<pubDate>x</pubDate>", b"")
    item = ingest_one("rss", body, fast=False)
    assert item.published == NOW and "date_missing" in item.flags and not item.dates_set_aside


@pytest.mark.parametrize(("value", "raw", "expected", "reason"), [
    (datetime(1, 1, 1, tzinfo=UTC), None, NOW, BEFORE),
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), None, NOW, UNREPRESENTABLE),
    (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), None, NOW, UNREPRESENTABLE),
    (datetime(9999, 12, 31, 23, 59, 59, 999999), None, NOW, FUTURE),  # naive: taken as UTC
    (None, "\x00garbage" + "x" * 500, NOW, UNREADABLE),
    (datetime(2026, 11, 28, 9, tzinfo=timezone(timedelta(hours=23, minutes=59))), "...", None, None),
])
def test_entry_dates_straight_into_normalisation(value: datetime | None, raw: str | None, expected: datetime | None,
                                                 reason: str | None) -> None:
    """Whatever a parser (or a push) hands over: datetimes at the calendar's edges, any tzinfo, naive."""
    e = ParsedEntry(guid="g", link="https://hugo.example/a", title="A", content_html="<p>b</p>", summary_html=None,
                    published=value, updated=value, published_raw=raw, updated_raw=raw)
    out = normalise_entry(e, "k", POLICY, now=NOW)
    assert isinstance(out, NormalisedItem)
    assert_every_layer_holds(out)
    if reason is None:
        assert out.published == value and not out.dates_set_aside
        return
    assert out.published == expected
    assert [(n.field, n.reason) for n in out.dates_set_aside] == [("published", reason)]
    note = out.dates_set_aside[0]
    assert len(note.raw) <= dates.RAW_LIMIT and "\x00" not in note.raw


@pytest.mark.parametrize(("value", "expected", "noted"), [
    (None, None, False),
    (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), False),
    (datetime(1, 1, 1, tzinfo=UTC), None, True),  # long passed: no embargo
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2))), None, True),
    (datetime(9999, 12, 31, tzinfo=UTC), dates.LATEST_EMBARGO, True),  # still held, with room to compute
    (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), dates.LATEST_EMBARGO, True),
])
def test_embargo_at_the_calendar_edges(value: datetime | None, expected: datetime | None, noted: bool) -> None:
    e = ParsedEntry(guid="g", link="https://hugo.example/a", title="A", content_html="<p>b</p>", summary_html=None,
                    published=NOW - timedelta(hours=1), embargo_until=value)
    out = normalise_entry(e, "k", POLICY, now=NOW)
    assert isinstance(out, NormalisedItem)
    assert out.embargo_until == expected
    assert bool(out.dates_set_aside) == noted
    if out.embargo_until is not None:
        out.embargo_until + timedelta(days=365)  # noqa: B018 - room left for arithmetic


def test_policy_embargo_delay_never_overflows() -> None:
    policy = PartnerPolicy(id="p", name="P", credit="P", embargo_delay=10**12)
    e = ParsedEntry(guid="g", link="https://hugo.example/a", title="A", content_html="<p>b</p>", summary_html=None,
                    published=NOW)
    out = normalise_entry(e, "k", policy, now=NOW)
    assert isinstance(out, NormalisedItem) and out.embargo_until == dates.LATEST_EMBARGO


def test_rfc3339_pads_the_year() -> None:
    assert rfc3339(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"  # was "1-01-01T00:00:00Z"
    assert rfc3339(datetime(2026, 11, 28, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=4)))) == (
        "2026-11-28T10:00:00Z")


def test_shifted_saturates() -> None:
    assert dates.shifted(datetime(1, 1, 2, tzinfo=UTC), -WINDOW) == datetime.min.replace(tzinfo=UTC)
    assert dates.shifted(datetime(9999, 12, 30, tzinfo=UTC), WINDOW) == datetime.max.replace(tzinfo=UTC)
    assert dates.shifted(NOW, WINDOW) == NOW + WINDOW


_OFFSETS = st.builds(timezone, st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                                             max_value=timedelta(hours=23, minutes=59)))
_ANY_DATETIME = st.one_of(st.none(), st.datetimes(), st.datetimes(timezones=_OFFSETS))


@settings(max_examples=300, deadline=None)
@given(published=_ANY_DATETIME, updated=_ANY_DATETIME, embargo=_ANY_DATETIME, raw=st.one_of(st.none(), st.text()))
def test_any_datetime_a_parser_can_hand_over(published: datetime | None, updated: datetime | None,
                                             embargo: datetime | None, raw: str | None) -> None:
    e = ParsedEntry(guid="g", link="https://hugo.example/a", title="A", content_html="<p>b</p>", summary_html=None,
                    published=published, updated=updated, embargo_until=embargo, published_raw=raw)
    out = normalise_entry(e, "k", POLICY, now=NOW)
    assert isinstance(out, NormalisedItem)
    assert_every_layer_holds(out)
    if out.embargo_until is not None:
        assert dates.EARLIEST <= out.embargo_until <= dates.LATEST_EMBARGO


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40))
def test_any_date_text_in_a_feed(text: str) -> None:
    from xml.sax.saxutils import escape

    for kind, body in documents(escape(text), escape(text)):  # the JSON document carries the escaped text too
        assert_every_layer_holds(ingest_one(kind, body, fast=True))
