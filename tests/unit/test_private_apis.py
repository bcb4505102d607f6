"""The one private API of another library we still use, pinned and tested here so an upgrade that changes it
fails loudly: feedparser has no public date parser, and `feedparser.datetimes._parse_date` is the one its own
parse() uses (syndication/intake/parse.py and fastparse.py date entries with it, so both parsers agree).

(The other two private uses are gone: fetch's transport is an httpx BaseTransport over httpcore's public
ConnectionPool(network_backend=...), and the embedded executor counts its waiting work from its futures.)
"""

from __future__ import annotations

import calendar
import io
import time

import feedparser
from feedparser.datetimes import _parse_date


def test_feedparser_parse_uses_the_date_parser_we_call() -> None:
    doc = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</title>'
           b"<pubDate>Tue, 01 Dec 2026 05:00:00 +0100</pubDate></item></channel></rss>")
    entry = feedparser.parse(io.BytesIO(doc)).entries[0]
    assert entry.published_parsed == _parse_date("Tue, 01 Dec 2026 05:00:00 +0100")


def test_the_date_forms_partners_send() -> None:
    def utc(value: str) -> int | None:
        parsed = _parse_date(value)
        return None if parsed is None else calendar.timegm(parsed)

    expected = calendar.timegm(time.strptime("2026-12-01 04:00:00", "%Y-%m-%d %H:%M:%S"))
    assert utc("Tue, 01 Dec 2026 05:00:00 +0100") == expected  # RFC 822
    assert utc("Tue, 1 Dec 2026 04:00:00 GMT") == expected
    assert utc("2026-12-01T04:00:00Z") == expected  # W3DTF / RFC 3339
    assert utc("2026-12-01T06:00:00+02:00") == expected
    assert utc("01 Dec 2026 04:00:00 UT") == expected  # no weekday, obsolete zone name
    assert utc("not a date") is None


def test_a_json_feed_dated_in_rfc_822_parses() -> None:
    """parse.py called `feedparser._parse_date`, which feedparser 6 does not export: a JSON Feed item dated the
    RFC 822 way failed the whole document with AttributeError."""
    import json
    from datetime import UTC, datetime

    from syndication.intake.parse import parse_json_feed

    doc = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
        {"id": "1", "url": "https://x.example/1", "title": "a", "content_text": "b",
         "date_published": "Tue, 01 Dec 2026 05:00:00 +0100"}]}).encode()
    assert parse_json_feed(doc, "application/feed+json").entries[0].published == datetime(2026, 12, 1, 4, tzinfo=UTC)
