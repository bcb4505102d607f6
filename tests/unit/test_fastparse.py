"""The lxml fast path gives the same result as feedparser for every document it accepts, and declines
(returns None) everything ill-formed or unusual.

"Same" = equal ParsedFeed, field by field, with HTML fields compared after our sanitiser (feedparser
re-serialises HTML while resolving relative URIs; the sanitiser resolves them against the same base) —
and equal NormalisedItems, which is what gets stored and published.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.common import rss_feed
from syndication.domain import ParsedFeed, PartnerPolicy
from syndication.intake import fastparse, parse
from syndication.pipeline.normalise import normalise_feed
from syndication.pipeline.sanitize import sanitize_html
from tests import builders
from tests.conftest import SHARED

CORPUS = SHARED / "corpora" / "feedparser" / "wellformed"
DEMO = Path(__file__).resolve().parents[2] / "config" / "demo"
URL = "http://example.org/feeds/doc.xml"
POLICY = PartnerPolicy(id="p", name="P", credit="P Agency")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def both(body: bytes, url: str | None = URL) -> tuple[ParsedFeed | None, ParsedFeed | None]:
    utf8, _ = parse.to_utf8(parse.strip_doctype(body), "application/xml")
    fast = fastparse.try_parse(utf8, url)
    try:
        slow = parse.parse_xml_feed(body, {"content-type": "application/xml"}, url, fast=False)
    except parse.ParseError:
        slow = None
    return fast, slow


def comparable(feed: ParsedFeed) -> dict[str, Any]:
    d = dataclasses.asdict(feed)
    for e in d["entries"]:
        # The date text is kept by feedparser's path only; operators see the parsed instant otherwise.
        e.pop("published_raw", None), e.pop("updated_raw", None)
        for k in ("content_html", "summary_html"):
            if e[k] is not None:
                e[k] = sanitize_html(e[k], e["base_url"])
    return d


def assert_same(body: bytes, url: str | None = URL, *, must_accept: bool = False) -> bool:
    fast, slow = both(body, url)
    if fast is None:
        assert not must_accept, "the fast path declined a plain document"
        return False
    assert slow is not None
    assert comparable(fast) == comparable(slow)
    assert normalise_feed(fast, POLICY, now=NOW, document_url=url) == normalise_feed(
        slow, POLICY, now=NOW, document_url=url
    )
    return True


# ---------------------------------------------------------------- documents we generate


@pytest.mark.parametrize("n", [1, 7])
def test_builders_rss_and_atom_take_the_fast_path_with_equal_output(n: int) -> None:
    assert_same(builders.rss(n).encode(), must_accept=True)
    assert_same(builders.atom(n).encode(), must_accept=True)


def test_bench_partner_content_takes_the_fast_path_with_equal_output() -> None:
    for feed in range(3):
        assert_same(rss_feed(feed, 12), must_accept=True)
    assert_same(rss_feed(5, 3), url=None, must_accept=True)


def test_rss_with_content_encoded_enclosures_and_several_categories() -> None:
    doc = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><link>https://a.example/</link>'
        "<language>az</language><item><title>One</title><link>https://a.example/1</link>"
        '<guid isPermaLink="false">g1</guid><pubDate>Tue, 24 Nov 2026 10:00:00 +0400</pubDate>'
        "<description>Short &lt;b&gt;teaser&lt;/b&gt;</description>"
        "<content:encoded><![CDATA[<p>Full <a href='/x'>story</a></p>]]></content:encoded>"
        '<category>Politics</category><category domain="d">Economy</category><category>Politics</category>'
        '<enclosure url="https://a.example/p.jpg" type="image/jpeg" length="123"/>'
        "<dc:creator>Ayla</dc:creator></item>"
        "<item><title>Two</title><link>https://a.example/2</link><content:encoded>Body only</content:encoded>"
        "</item></channel></rss>"
    )
    assert_same(doc.encode(), must_accept=True)


# ---------------------------------------------------------------- declines


@pytest.mark.parametrize(
    "doc",
    [
        b'<rss version="2.0"><channel><title>T</title><item><title>x</title>',  # ill-formed
        b'<rss version="0.91"><channel><item><title>x</title><link>https://a/1</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>x</title><link>/relative</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>A &amp; B</title><link>https://a/1</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item xml:base="https://b/"><link>https://a/1</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><link>https://a/1</link><foo>?</foo></item></channel></rss>',
        b'<rss version="2.0"><channel><item><link>https://a/1</link><guid>https://a/1</guid></item></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>tag:x,2026:1</id><link href="https://a/1"/>'
        b'<updated>2026-11-20T09:00:00Z</updated><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        b"x</div></content></entry></feed>",
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>',
        b"not xml at all",
    ],
)
def test_unusual_or_ill_formed_documents_fall_back(doc: bytes) -> None:
    assert fastparse.try_parse(doc, URL) is None


def test_content_language_header_falls_back() -> None:
    assert fastparse.try_parse(builders.rss(1).encode(), URL, content_language="de") is None


def test_parse_xml_feed_uses_the_fast_path_and_feedparser_alike() -> None:
    body = builders.rss(3).encode()
    headers = {"content-type": "application/rss+xml"}
    assert comparable(parse.parse_xml_feed(body, headers, URL)) == comparable(
        parse.parse_xml_feed(body, headers, URL, fast=False)
    )


# ---------------------------------------------------------------- corpora (skip when absent)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".rss", ".atom", ".rdf"))


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser corpus not found at {CORPUS}")
def test_feedparser_wellformed_corpus_equal_wherever_the_fast_path_accepts() -> None:
    accepted = 0
    for path in _files(CORPUS):
        try:
            accepted += assert_same(path.read_bytes())
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(CORPUS)}: {exc}") from None
    assert accepted >= 5  # the corpus is mostly odd cases by design; plain ones must still be accepted


@pytest.mark.skipif(not _files(DEMO) if DEMO.is_dir() else True, reason="no demo content")
def test_demo_partner_content_equal() -> None:
    for path in _files(DEMO):
        assert_same(path.read_bytes())
