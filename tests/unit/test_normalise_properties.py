"""Property tests: the normaliser is total on arbitrary input and idempotent."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import lxml.html
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndication.kernel.domain import NormalisedItem, ParsedEntry, ParsedFeed, PartnerPolicy, Rejection
from syndication.pipeline.ingest import attribution_json
from syndication.pipeline.normalise import normalise_entry, normalise_feed
from syndication.pipeline.policy import render_footer

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = PartnerPolicy(
    id="p", name="P", credit="P news agency", license_url="https://creativecommons.org/licenses/by/4.0/",
    copyright="© {year} {credit}", language="en", allowed_iframe_hosts=("youtube.com",),
    furniture_selectors=("div.related",), furniture_patterns=(r"subscribe",), default_image_credit="P",
)
POLICIES = st.sampled_from([POLICY, replace(POLICY, no_derivatives=True), PartnerPolicy("q", "Q", "Q")])

# Text with the characters that break things: controls, surrogates, U+FFFE, combining marks, entities, references
# to characters XML forbids (decoded by the parsers after the raw ones are gone).
NASTY = st.lists(
    st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.sampled_from(["\x00", "\x0b", "\ud800", "\ufffe", "\u0301", "&amp;", "&amp;amp;", "&#0;", "&lt;", "<",
                         ">", "\"", "'", " ", "\n", "\t", "—", "–", "&#1;", "&#x1B", "&#xFFFE;", "&#xD800;",
                         "&#65535;", "&#"]),
    ),
    max_size=20,
).map("".join)
WORDS = st.sampled_from([
    "Baku", "BAKU, 4 February –", "Baku (Turan) –", "By Jane Doe",
    "source: commonspace.eu with Turan news agency, Baku.",
    "Photo: Ferry (picture courtesy of contact.az)", "Photo credit: Seabed (Trend)", "Related articles", "Popular",
    "Subscribe now", "Источник: ТАСС, Москва", "Фото: Заседание (пресс-служба)", "Mənbə: APA", "text", "More on X",
])
ATTRS = st.sampled_from([
    ' onclick="alert(1)"', ' href="javascript:alert(1)"', ' href="/rel?utm_source=x&amp;id=1"',
    ' href="data:text/html,x"',
    ' src="data:image/png;base64,iVBORw0KGgo="', ' src="data:image/svg+xml;base64,PHN2Zz4="', ' src="x.jpg"',
    ' style="color:red"', ' class="related"', ' href="https://a.example/?fbclid=1"', ' srcset="a.jpg 1x, b.jpg 2x"',
    ' src="https://www.youtube.com/embed/1"', ' src="https://evil.example/"', "",
])
TAGS = st.sampled_from(["p", "div", "a", "img", "script", "style", "iframe", "h3", "ul", "li", "b", "table", "td",
                        "form", "svg", "math", "object", "figure", "figcaption", "br", "span", "blockquote"])


@st.composite
def html_fragments(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 3))
        if kind == 0 or depth > 2:
            parts.append(draw(st.one_of(NASTY, WORDS)))
        else:
            tag = draw(TAGS)
            inner = draw(html_fragments(depth + 1))
            close = "" if draw(st.booleans()) and draw(st.booleans()) else f"</{tag}>"  # sometimes unclosed
            parts.append(f"<{tag}{draw(ATTRS)}>{inner}{close}")
    return "".join(parts)


DATES = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])),
)
OPT_TEXT = st.one_of(st.none(), NASTY, WORDS)
ENTRIES = st.builds(
    ParsedEntry,
    guid=OPT_TEXT,
    link=st.one_of(st.none(), NASTY, st.sampled_from(["/rel", "https://a.example/x?utm_source=1", "javascript:x",
                                                      "http://[::1", "https://a.example/\x00"])),
    title=st.one_of(OPT_TEXT, html_fragments()),
    content_html=st.one_of(st.none(), html_fragments()),
    summary_html=st.one_of(st.none(), html_fragments()),
    authors=st.lists(st.one_of(NASTY, st.just("a@b.example (Jane Doe)")), max_size=3).map(tuple),
    categories=st.lists(st.one_of(NASTY, st.sampled_from(["correction", "withdrawn"])), max_size=3).map(tuple),
    published=DATES,
    updated=DATES,
    language=st.one_of(st.none(), NASTY, st.sampled_from(["en", "az-Latn", "ru_RU"])),
    base_url=st.one_of(st.none(), st.sampled_from(["https://base.example/d/", "not a url", "ftp://x/"])),
    status=st.one_of(st.none(), st.sampled_from(["withdrawn", "canceled", "corrected", "usable"]), NASTY),
    change_note=OPT_TEXT,
    embargo_until=DATES,
    original_agency=OPT_TEXT,
    image_credit=OPT_TEXT,
)
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FORBIDDEN_TAGS = {"script", "style", "form", "svg", "math", "object", "input", "embed"}


def _check_publishable(item: NormalisedItem) -> None:
    texts = [item.title, item.content_html, item.summary or "", item.language or "", item.change_note or "",
             *item.authors, *item.categories, *item.attribution.extracted]
    for text in texts:
        assert not XML_ILLEGAL.search(text), text
    footer = render_footer(attribution_json(item))
    for text in (item.title, item.content_html + footer):
        el = etree.Element("x")
        el.text = text  # lxml refuses XML-illegal characters: this is what publishing does
    for el in lxml.html.fragment_fromstring(item.content_html or "<p></p>", create_parent="div").iter():
        assert el.tag not in FORBIDDEN_TAGS, item.content_html
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on") and name != "style", item.content_html
            if name in ("href", "src", "cite"):
                assert value.startswith(("http://", "https://", "data:image/png")), value
            if el.tag == "iframe" and name == "src":
                assert value.startswith("https://www.youtube.com/"), value
        if el.tag == "a" and "href" in el.attrib:
            assert el.get("rel") == "noopener noreferrer"
    assert item.published.tzinfo is not None and item.published.utcoffset() == timedelta(0)
    assert item.updated >= item.published and item.published <= NOW + timedelta(days=1)
    assert item.status in ("usable", "corrected", "withdrawn")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=ENTRIES, policy=POLICIES)
def test_normaliser_is_total_and_output_publishable(entry: ParsedEntry, policy: PartnerPolicy) -> None:
    out = normalise_entry(entry, "k", policy, now=NOW, feed_link="https://feed.example/", feed_language="en")
    if isinstance(out, Rejection):
        assert out.reason
        return
    _check_publishable(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(ENTRIES, max_size=6), policy=POLICIES)
def test_feed_normaliser_is_total(entries: list[ParsedEntry], policy: PartnerPolicy) -> None:
    items, rejections = normalise_feed(ParsedFeed(None, "https://f.example/", None, tuple(entries), "rss"), policy,
                                       now=NOW)
    assert len(items) + len(rejections) == len(entries)
    assert len({i.key for i in items}) == len(items)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=ENTRIES, policy=POLICIES)
def test_normalising_twice_changes_nothing(entry: ParsedEntry, policy: PartnerPolicy) -> None:
    first = normalise_entry(entry, "k", policy, now=NOW)
    if isinstance(first, Rejection):
        return
    # Feed the output back as a partner would send it: the title as HTML-escaped text, the body as HTML.
    again = ParsedEntry(
        guid=first.guid, link=first.url, title=html.escape(first.title, quote=False), content_html=first.content_html,
        summary_html=None, authors=first.authors, categories=first.categories, published=first.published,
        updated=first.updated, language=first.language, status=first.status, change_note=first.change_note,
        embargo_until=first.embargo_until,
    )
    second = normalise_entry(again, "k", policy, now=NOW)
    assert isinstance(second, NormalisedItem)
    assert second.title == first.title
    assert second.content_html == first.content_html
    assert second.url == first.url
    assert second.authors == first.authors and second.categories == first.categories
    assert (second.published, second.updated, second.language) == (first.published, first.updated, first.language)
    assert second.status == first.status
    if policy.no_derivatives:  # the credit lines stayed in the body: read again, the same way
        assert second.attribution.extracted == first.attribution.extracted
    else:  # nothing left to extract: the lines already left the body
        assert second.attribution.extracted == ()


def _clean_url_reference(url: str | None, base: str | None = None) -> str | None:
    """clean_url as first written: both regex passes and urljoin for every relative URL."""
    import re
    from urllib.parse import urljoin, urlsplit

    from syndication.pipeline.sanitize import strip_tracking
    from syndication.pipeline.text import xml_legal

    if not url:
        return None
    url = re.sub("[\t\n\r\x7f]", "", xml_legal(url)).strip().replace(" ", "%20")
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return strip_tracking(url)


_URL_PIECES = st.sampled_from(["/", "//", "./", "../", ".", "..", "/.", "news", "a b", "\t", "\n", "?", "#", "&",
                               "utm_source=x", "id=1", "http:", "https:", "HTTP://", "mailto:", "x.example",
                               "\\", "%2e", "é", "\x7f", "[::1]", ":8080", ";p", "=", "\x00"])


@given(st.lists(_URL_PIECES, max_size=8).map("".join),
       st.sampled_from([None, "", "https://agency.example/news/", "http://A.example:8080/x/y?q#f", "HTTPS://b.example",
                        "mailto:x@y", "file:///tmp/x", "https://c.example/a/./b/../", "//nohost/path"]))
@example("/?", "https://agency.example/news/").via("urljoin drops an empty query")
@example("https://", "https://c.example/a/./b/../").via("a scheme without a host takes the base's host")
@example("https://?q", "https://agency.example/news/").via("a scheme without a host takes the base's host")
@example("/a?#b", "https://agency.example/news/").via("and an empty query before a fragment")
@settings(max_examples=600)
def test_clean_url_fast_paths_equal_the_reference(url: str, base: str | None) -> None:
    from syndication.pipeline.sanitize import clean_url

    assert clean_url(url, base) == _clean_url_reference(url, base)
