"""[architecture] feedgen 1.0 as the project uses it: each behaviour publish/feedgen_ext.py works around is shown
against feedgen itself (so an upgrade that changes it fails here and the work-around can go), next to the
proof that our rendering does not have it. Also: the process locale is never touched while rendering."""

from __future__ import annotations

import locale
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree

from syndication.db.models import Notice
from syndication.kernel.settings import load_settings
from syndication.publish.feedgen_ext import ATOM, DC, MEDIA, NO_DATE
from syndication.publish.feeds import Extras, FeedContext, FragmentCache, Paging, render_atom, render_rss
from syndication.publish.notices import render_notices_atom
from syndication.publish.published import ChannelSpec, PartnerInfo, PublishedItem, item_uid
from tests.feedcheck import assert_valid_atom, parse_clean

A = f"{{{ATOM}}}"
T0 = datetime(2026, 11, 20, 9, 0, 30, 123456, tzinfo=UTC)  # microseconds: feedgen would print them
PARTNER = PartnerInfo("turan", "Turan News Agency", "https://turan.az/", "https://turan.az/feed.rss",
                      "Turan news agency", "https://creativecommons.org/licenses/by/4.0/", "Credit us.", None, T0)
SPEC = ChannelSpec("all", "Syndication", "Every partner's news, credited.", 10)
CTX = FeedContext("http://news.example", 15, "https://hub.example/")


def item(i: int, **over: Any) -> PublishedItem:
    data: dict[str, Any] = dict(
        id=i, uid=item_uid("turan", f"k{i}"), partner=PARTNER, url=f"https://turan.az/news/{i}", title=f"Story {i}",
        content_html=f"<p>Body {i}</p>", summary=None, authors=(f"Writer {i}",), categories=("politics",),
        language="en", published=T0 + timedelta(hours=i), updated=T0 + timedelta(hours=i, minutes=5),
        attribution={"credit": "Turan news agency"}, version=1,
    )
    data.update(over)
    return PublishedItem(**data)


def feedgen_entry() -> FeedEntry:
    fe = FeedEntry()
    fe.id("urn:x:1")
    fe.title("t")
    fe.content("<p>x</p>", type="html")
    return fe


def test_feedgen_entry_links_lose_their_attributes_ours_keep_them() -> None:
    fe = feedgen_entry()
    fe.link(href="http://news.example/items/1", rel="alternate", type="text/html")
    fe.link(href="https://turan.az/1", rel="via")
    links = fe.atom_entry().findall("link")
    assert [(lk.get("href"), lk.get("rel"), lk.get("type")) for lk in links] == [
        ("http://news.example/items/1", None, None), ("https://turan.az/1", None, None)]  # two alternates
    with pytest.raises(ValueError):
        fe.link(href="https://creativecommons.org/licenses/by/4.0/", rel="license")
    e = assert_valid_atom(render_atom(SPEC, [item(1)], CTX)).find(A + "entry")
    assert e is not None
    assert [(lk.get("rel"), lk.get("type")) for lk in e.findall(A + "link")] == [
        ("alternate", "text/html"), ("via", "text/html"), ("license", None)]


def test_feedgen_source_has_no_id_nor_updated_ours_does() -> None:
    fe = feedgen_entry()
    fe.source(url="https://turan.az/", title="Turan")
    src = fe.atom_entry().find("source")
    assert src is not None and [c.tag for c in src] == ["title", "link"] and src[1].get("rel") is None
    ours = assert_valid_atom(render_atom(SPEC, [item(1)], CTX)).find(f"{A}entry/{A}source")
    assert ours is not None
    assert ours.findtext(A + "id") == "https://turan.az/feed.rss"
    assert ours.findtext(A + "updated") == "2026-11-20T09:00:30Z"


def test_feedgen_rss_drops_authors_without_email_and_entry_rights_ours_keep_both() -> None:
    fe = feedgen_entry()
    fe.author(name="Writer 1")
    fe.rights("© 2026 Turan")
    rss_item = fe.rss_entry()
    assert rss_item.find("author") is None and not [c for c in rss_item if "rights" in c.tag or c.tag == "copyright"]
    it = etree.fromstring(render_rss(SPEC, [item(1)], CTX)).find("channel/item")
    assert it is not None
    assert it.findtext(f"{{{DC}}}creator") == "Writer 1"
    assert it.findtext(f"{{{DC}}}rights") == "© 2026 Turan news agency"


def test_feedgen_rss_channel_has_no_hub_link_ours_does() -> None:
    fg = FeedGenerator()
    fg.title("t")
    fg.description("d")
    fg.link(href="http://news.example/feeds/all.rss", rel="self")
    fg.link(href="https://hub.example/", rel="hub")
    fg.link(href="http://news.example/", rel="alternate")
    ch = etree.fromstring(fg.rss_str()).find("channel")
    assert ch is not None and [lk.get("rel") for lk in ch.findall(A + "link")] == ["self"]
    ours = etree.fromstring(render_rss(SPEC, [item(1)], CTX)).find("channel")
    assert ours is not None and [lk.get("rel") for lk in ours.findall(A + "link")] == ["self", "hub"]
    assert ours.findtext("link") == "http://news.example/"  # feedgen: the channel link is the last link added


def test_feedgen_dates_default_to_the_clock_and_isoformat_ours_come_from_the_data() -> None:
    before = datetime.now(UTC)
    assert FeedGenerator().updated() >= before and FeedEntry().updated() >= before
    fe = feedgen_entry()
    fe.updated(T0)
    assert fe.atom_entry().findtext("updated") == "2026-11-20T09:00:30.123456+00:00"
    root = assert_valid_atom(render_atom(SPEC, [item(1)], CTX))
    assert root.findtext(A + "updated") == "2026-11-20T10:05:30Z"
    assert root.findtext(f"{A}entry/{A}updated") == "2026-11-20T10:05:30Z"
    assert root.findtext(f"{A}entry/{A}published") == "2026-11-20T10:00:30Z"
    ch = etree.fromstring(render_rss(SPEC, [item(1)], CTX)).find("channel")
    assert ch is not None and ch.findtext("lastBuildDate") == "Fri, 20 Nov 2026 10:05:30 GMT"
    assert ch.findtext("item/pubDate") == "Fri, 20 Nov 2026 10:00:30 GMT"
    empty = etree.fromstring(render_rss(SPEC, [], CTX)).find("channel")
    assert empty is not None and empty.findtext("lastBuildDate") == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_feedgen_refuses_an_empty_title_ours_publish_the_item() -> None:
    fe = feedgen_entry()
    fe.title("")
    with pytest.raises(ValueError, match="Required fields"):
        fe.atom_entry()
    untitled = item(1, title="", content_html='<img src="https://turan.az/1.jpg" alt="">')
    e = assert_valid_atom(render_atom(SPEC, [untitled], CTX)).find(A + "entry")
    assert e is not None and e.findtext(A + "title") == ""
    assert etree.fromstring(render_rss(SPEC, [untitled], CTX)).find("channel/item/title") is None
    parse_clean(render_rss(SPEC, [untitled], CTX))
    cache = FragmentCache()
    assert render_atom(SPEC, [untitled], CTX, cache=cache) == render_atom(SPEC, [untitled], CTX)


def test_feedgen_prepends_entries_ours_keep_the_order_given() -> None:
    fg = FeedGenerator()
    for n in ("first", "second"):
        fg.add_entry().title(n)
    assert [e.title() for e in fg.entry()] == ["second", "first"]
    root = etree.fromstring(render_atom(SPEC, [item(2), item(1)], CTX))
    assert [e.findtext(A + "title") for e in root.findall(A + "entry")] == ["Story 2", "Story 1"]


def test_feedgen_media_extension_wraps_one_image_in_a_group_ours_does_not() -> None:
    fg = FeedGenerator()
    fg.load_extension("media")
    fe = fg.add_entry(feedgen_entry())
    fe.media.content(url="https://turan.az/1.jpg", medium="image")
    assert fe.atom_entry().find(f"{{{MEDIA}}}group/{{{MEDIA}}}content") is not None
    with_image = item(1, content_html='<p>x</p><img src="https://turan.az/1.jpg" alt="A">')
    e = etree.fromstring(render_atom(SPEC, [with_image], CTX)).find(A + "entry")
    assert e is not None and e.find(f"{{{MEDIA}}}group") is None and e.find(f"{{{MEDIA}}}content") is not None


def test_feedgen_has_no_entry_language_ours_is_xml_lang() -> None:
    assert not hasattr(FeedEntry(), "language")
    e = etree.fromstring(render_atom(SPEC, [item(1, language="az-Latn")], CTX)).find(A + "entry")
    assert e is not None and e.get("{http://www.w3.org/XML/1998/namespace}lang") == "az-Latn"


# ---------------------------------------------------------------- the process locale


@pytest.fixture
def setlocale_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """Every locale.setlocale call that changes the locale (feedgen calls `locale.setlocale` by attribute)."""
    calls: list[tuple[Any, ...]] = []
    real = locale.setlocale

    def spy(category: int, value: Any = None) -> str:
        if value is not None:
            calls.append((threading.current_thread().name, category, value))
        return real(category, value)

    monkeypatch.setattr(locale, "setlocale", spy)
    yield calls


def test_feedgen_changes_the_process_locale_to_format_rss_dates(setlocale_calls: list[tuple[Any, ...]]) -> None:
    fg = FeedGenerator()
    fg.title("t")
    fg.description("d")
    fg.link(href="http://news.example/")
    fg.rss_str()  # lastBuildDate: the clock, formatted under LC_ALL=C
    assert [c[2] for c in setlocale_calls][:1] == ["C"]
    setlocale_calls.clear()
    fg.updated(NO_DATE)  # ours: a date feedgen skips; the extension writes lastBuildDate itself
    assert b"lastBuildDate" not in fg.rss_str() and setlocale_calls == []


def test_rendering_never_changes_the_process_locale(setlocale_calls: list[tuple[Any, ...]]) -> None:
    """Rendered from several threads at once, every format and document kind: no setlocale at all, so no
    other thread can observe a locale change (the race feedgen's formatRFC2822 has)."""
    items = [item(i, summary="S", categories=("a", "b")) for i in range(12)]
    settings = load_settings(None, public_url="http://news.example")
    notices = [Notice(id=i, uid=f"urn:uuid:00000000-0000-4000-8000-{i:012d}", kind="corrected", created_at=T0,
                      partner_id="turan", item_uid=items[i].uid, item_url=f"http://news.example/items/{i}",
                      title="t", channels=["all"], attribution={"credit": "Turan"}, reason="r", action="update")
               for i in range(3)]
    cache = FragmentCache()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for extras in (Extras(), Extras(Paging(archive_page=2, prev_archive=1, next_archive=3))):
                render_rss(SPEC, items, CTX, extras)
                render_rss(SPEC, items, CTX, extras, cache)
                render_atom(SPEC, items, CTX, extras, cache)
            render_notices_atom("all", "Notices", notices, settings, cache)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, name=f"render-{n}") for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and setlocale_calls == []
