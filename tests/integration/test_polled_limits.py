"""[hardening] 2 for polled items: ids, URLs, languages and headers over our column limits from a polled feed
or a dropped file never fail the poll (PostgreSQL refuses such a row, SQLite keeps it): each value is fitted,
the item flagged, the poll's notes say why; the same result on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from syndication.db.models import Item, Source
from syndication.kernel.settings import Settings
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from tests.builders import rss, rss_item
from tests.conftest import FeedServer

LONG_GUID = "urn:agency:" + "g" * 2500
LONG_URL = "https://agency.example/news/" + "u" * 2500
LONG_LANGUAGE = "en-GB-" + "-".join(["abcdefgh"] * 10)  # a well-formed tag, 95 characters


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    return functools.partial(make_settings, database_url=database_url)


def hostile_feed() -> str:
    items = [
        rss_item(0, guid=LONG_GUID),
        rss_item(1, link=LONG_URL, guid="agency-1"),
        rss_item(2),
    ]
    return rss(items).replace("<description>d</description>", f"<description>d</description><language>"
                              f"{LONG_LANGUAGE}</language>", 1)


def stored(rt: Runtime) -> list[Item]:
    with rt.sessions() as s:
        rows = list(s.scalars(select(Item).order_by(Item.id)))
        s.expunge_all()
    return rows


def source(rt: Runtime) -> Source:
    with rt.sessions() as s:
        row = s.scalars(select(Source)).one()
        s.expunge(row)
    return row


def test_over_long_values_in_a_polled_feed_are_fitted_flagged_and_noted(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer
) -> None:
    url = feed_server.add_feed("/f.rss", hostile_feed(), etag='"' + "e" * 1500 + '"')
    feed_server.routes["/f.rss"].headers["Last-Modified"] = "Fri, 27 Nov 2026 10:00:00 GMT; " + "x" * 300
    rt = make_runtime(partners=[{"id": "p", "name": "P", "sources": [{"kind": "feed", "url": url}]}])
    sid = source(rt).id

    report = jobs.poll_source(rt, sid)
    assert report is not None and report.status == "ok" and report.new == 3, report
    rows = stored(rt)
    by_link = {r.title: r for r in rows}
    long_id, long_link, plain = by_link["Story 0"], by_link["Story 1"], by_link["Story 2"]
    assert long_id.guid is None and "id_too_long" in long_id.flags and long_id.url == "https://agency.example/news/0"
    assert long_link.url is None and "url_too_long" in long_link.flags and long_link.guid == "agency-1"
    assert long_link.attribution["original_url"] == LONG_URL  # still named as the original, outside url columns
    assert plain.guid == "agency-2" and plain.url and not {"id_too_long", "url_too_long"} & set(plain.flags)
    for row in rows:
        assert row.language == "en-GB-abcdefgh-abcdefgh-abcdefgh" and "language_cut" in row.flags
    src = source(rt)
    assert src.etag is None and src.last_modified is None  # neither fits: the next poll is unconditional
    note = src.parse_problem or ""
    for said in ("1 item: id longer than 2000", "1 item: link longer than 2000", "3 items: language tag cut",
                 "ETag longer than 1000", "Last-Modified longer than 200"):
        assert said in note, note

    # The next poll finds the same items (identity from the id's hash, stable): nothing new, nothing lost.
    again = jobs.poll_source(rt, sid)
    assert again is not None and again.status == "ok" and (again.new, again.unchanged) == (0, 3), again
    assert [r.key for r in stored(rt)] == [r.key for r in rows]
    assert not {"if-none-match", "if-modified-since"} & set(feed_server.requests[-1][2])


def test_a_dropped_file_with_over_long_values_is_stored_not_failed(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "batch.rss").write_text(hostile_feed(), encoding="utf-8")
    rt = make_runtime(partners=[{"id": "box", "name": "Box", "sources": [{"kind": "folder", "path": str(drop)}]}])
    report: Any = jobs.poll_source(rt, source(rt).id)
    assert report.status == "ok" and report.new == 3 and not report.error, report
    assert (drop / "done" / "batch.rss").exists() or not (drop / "failed").exists()
    rows = stored(rt)
    assert sorted(f for r in rows for f in r.flags if f.endswith(("_too_long", "_cut"))) == [
        "id_too_long", "language_cut", "language_cut", "language_cut", "url_too_long"]
    assert "batch.rss: 1 item: id longer than 2000" in (source(rt).parse_problem or "")
