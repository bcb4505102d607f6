"""Pure parts of the push API: JSON validation, date reading (the rate limit: tests/unit/test_limiters.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from syndication.web.api import ApiError, parse_date, parse_push_json, parse_push_xml
from tests.builders import rss


def doc(*items: object) -> bytes:
    return json.dumps({"items": list(items)}).encode()


def test_parse_push_json_reads_syndication_fields() -> None:
    feed = parse_push_json(doc({
        "id": 7, "title": "T", "content_text": "Body", "date_published": "2026-11-20T09:00:00+02:00",
        "_syndication": {"status": "canceled", "change_note": "n", "embargo_until": "2026-12-01T00:00:00Z",
                         "original_agency": "APA", "image_credit": "contact.az"},
    }))
    (e,) = feed.entries
    assert e.guid == "7" and e.status == "canceled" and e.change_note == "n"
    assert e.published == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert e.embargo_until == datetime(2026, 12, 1, tzinfo=UTC)
    assert e.original_agency == "APA" and e.image_credit == "contact.az"
    assert feed.format == "json-items"


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ({"id": "a", "title": 5}, "items[0] (id 'a'): title"),
        ({"id": "a", "_syndication": {"status": "killed"}}, "_syndication.status"),
        ({"id": "a", "_syndication": {"embargo": "x"}}, "_syndication.embargo"),
        ({"id": "a", "_syndication": "withdrawn"}, "_syndication"),
        ({"id": "a", "date_modified": "yesterday"}, "date_modified: 'yesterday' is not a date"),
        ({"id": "a", "_syndication": {"embargo_until": 12}}, "_syndication.embargo_until"),
        ({"id": "a", "tags": "politics"}, "tags"),
        (["not", "an", "object"], "items[0]: an item must be a JSON object"),
    ],
)
def test_parse_push_json_names_the_failing_item(item: object, needle: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_push_json(doc({"id": "ok", "title": "fine"}, item))
    assert info.value.status == 422 and info.value.code == "invalid_items"
    assert needle.replace("items[0]", "items[1]") in info.value.detail


@pytest.mark.parametrize("body", [b"", b"[]", b'{"items": {}}', b'{"items": [1], "title": 3}'])
def test_parse_push_json_unparseable(body: bytes) -> None:
    with pytest.raises(ApiError) as info:
        parse_push_json(body)
    assert info.value.status == 422 and info.value.code == "unparseable_document"


def test_parse_push_json_not_utf8_names_the_offset() -> None:
    with pytest.raises(ApiError) as info:
        parse_push_json(b"\xff\xfe")
    assert (info.value.status, info.value.code) == (422, "invalid_encoding")
    assert "byte 0xFF at offset 0" in info.value.detail


def test_parse_push_xml_refuses_ill_formed() -> None:
    assert len(parse_push_xml(rss(2).encode(), "application/rss+xml").entries) == 2
    with pytest.raises(ApiError, match="not well-formed"):
        parse_push_xml(rss(2).replace("</item>", "", 1).encode(), "application/rss+xml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T09:00:00Z", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("2026-11-20T09:00:00", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("Fri, 20 Nov 2026 09:00:00 +0100", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("next tuesday", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected
