"""A fast path for the common case: well-formed, plain RSS 2.0 and Atom 1.0 parsed with lxml directly.

feedparser costs ~0.25 ms per item even with its sanitiser off (a pure-Python SAX handler); lxml builds
the tree in C. This module gives *the same ParsedFeed* as `parse.parse_xml_feed`'s feedparser path for
the documents it accepts, and returns None (= use feedparser) for anything ill-formed or unusual:
other RSS versions, RDF, unknown elements or namespaces in an item, xml:base / xml:lang, markup inside
text elements, relative links, XHTML content, several titles, and so on. Being strict is the point:
every shape accepted here is covered by tests/integration/test_fastparse_equivalence.py, which compares
both paths over feedparser's own corpus and the project's fixtures.

Two differences are by design and invisible after normalisation: feedparser re-serialises HTML content
while resolving relative URIs in it (`resolve_relative_uris`); we pass the HTML through as the partner
sent it with `base_url` set, and our sanitiser resolves those URIs against the same base.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

# Private: feedparser has no public date parser, and this is the one its parse() uses (so both parsers date
# entries alike); pinned by feedparser<7 in pyproject.toml and tested in tests/unit/test_private_apis.py.
from feedparser.datetimes import _parse_date
from lxml import etree

from syndication.domain import Enclosure, ParsedEntry, ParsedFeed

ATOM = "{http://www.w3.org/2005/Atom}"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"

RSS_ITEM_TAGS = frozenset({"title", "link", "guid", "pubDate", "description", "category", DC_CREATOR,
                           CONTENT_ENCODED, "enclosure", "comments"})
RSS_CHANNEL_SKIP = frozenset({"description", "lastBuildDate", "pubDate", "generator", "docs", "ttl", "copyright",
                              "managingEditor", "webMaster", "category"})
ATOM_ENTRY_TAGS = frozenset({ATOM + t for t in ("id", "title", "link", "updated", "published", "author", "category",
                                                "content", "summary")})
ATOM_FEED_SKIP = frozenset({ATOM + t for t in ("id", "updated", "author", "subtitle", "rights", "generator",
                                               "icon", "logo", "category")})

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                          remove_comments=True, remove_pis=True, strip_cdata=True)


class Unusual(Exception):
    """Something the fast path does not handle exactly like feedparser: fall back."""


def try_parse(utf8: bytes, base: str | None = None, content_language: str | None = None) -> ParsedFeed | None:
    """The ParsedFeed for a plain, well-formed RSS 2.0 / Atom 1.0 document; None to fall back to feedparser."""
    if content_language or b"xml:base" in utf8 or b"xml:lang" in utf8 or b"<!ENTITY" in utf8:
        return None
    try:
        root = etree.fromstring(utf8, _PARSER)
        if root.tag == "rss" and root.get("version") == "2.0" and not set(root.attrib) - {"version"}:
            return _rss(root, base)
        if root.tag == ATOM + "feed":
            return _atom(root, base)
    except Exception:  # ill-formed (XMLSyntaxError), Unusual, or anything unforeseen: feedparser decides
        return None
    return None


def _text(el: etree._Element) -> str:
    if len(el) or set(el.attrib) - {"isPermaLink", "type", "domain", "scheme", "rel", "href"}:
        raise Unusual(el.tag)
    return (el.text or "").strip()


def _plain(value: str) -> str:
    # feedparser decides whether a text construct "looks like HTML"; keep to values where it cannot.
    if "<" in value or "&" in value:
        raise Unusual("markup in a text value")
    return value


def _absolute(url: str) -> str:
    if not url.startswith(("http://", "https://")) or any(c in url for c in " \t\r\n<>\"'"):
        raise Unusual("relative or odd URL")
    return url


def _date(value: str) -> datetime | None:
    parsed = _parse_date(value)  # the same date parser feedparser uses
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _once(seen: set[str], tag: str) -> None:
    if tag in seen:
        raise Unusual(f"repeated {tag}")
    seen.add(tag)


# ---------------------------------------------------------------- RSS 2.0


def _rss(root: etree._Element, base: str | None) -> ParsedFeed:
    channels = [c for c in root if isinstance(c.tag, str)]
    if len(channels) != 1 or channels[0].tag != "channel":
        raise Unusual("rss without exactly one channel")
    title = link = language = None
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for el in channels[0]:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag == "item":
            entries.append(_rss_item(el, base))
            continue
        if entries:
            raise Unusual("channel element after the items")
        if tag == "title":
            _once(seen, tag)
            title = _plain(_text(el)) or None
        elif tag == "link":
            _once(seen, tag)
            link = _absolute(_text(el))
        elif tag == "language":
            _once(seen, tag)
            language = _text(el) or None
        elif tag not in RSS_CHANNEL_SKIP:
            raise Unusual(f"channel element {tag}")
    if not entries:
        raise Unusual("no items")
    if language:
        entries = [_with_language(e, language) for e in entries]
    return ParsedFeed(title=title, link=link, language=language, entries=tuple(entries), format="rss")


def _with_language(e: ParsedEntry, language: str) -> ParsedEntry:
    if e.language:
        return e
    from dataclasses import replace

    return replace(e, language=language)


def _rss_item(item: etree._Element, base: str | None) -> ParsedEntry:
    if item.attrib:
        raise Unusual("item attributes")
    guid = link = title = summary = content = None
    published = None
    authors: list[str] = []
    categories: list[str] = []
    enclosures: list[Enclosure] = []
    seen: set[str] = set()
    for el in item:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag not in RSS_ITEM_TAGS:
            raise Unusual(f"item element {tag}")
        if tag == "category":
            if set(el.attrib) - {"domain"}:
                raise Unusual("category attributes")
            term = _plain(_text(el))
            if term and term not in categories:
                categories.append(term)
            continue
        if tag == "enclosure":
            if len(el) or el.text and el.text.strip() or set(el.attrib) - {"url", "type", "length"}:
                raise Unusual("enclosure shape")
            url = _absolute(el.get("url") or "")
            length = el.get("length")
            enclosures.append(Enclosure(url=url, type=el.get("type") or None,
                                        length=int(length) if (length or "").isdigit() else None))
            continue
        _once(seen, tag)
        if tag == "title":
            title = _plain(_text(el)) or None
        elif tag == "link":
            link = _absolute(_text(el))
        elif tag == "guid":
            if set(el.attrib) - {"isPermaLink"} or el.get("isPermaLink") != "false":
                raise Unusual("permalink guid")  # feedparser may copy it into link
            guid = _plain(_text(el)) or None
        elif tag == "pubDate":
            published = _date(_text(el))
            if published is None:
                raise Unusual("unreadable date")
        elif tag == "description":
            if CONTENT_ENCODED in seen:
                raise Unusual("description after content:encoded")
            summary = _text(el) or None
        elif tag == CONTENT_ENCODED:
            content = _text(el) or None
        elif tag == DC_CREATOR:
            name = _plain(_text(el))
            if name:
                authors.append(name)
        elif tag == "comments":
            _absolute(_text(el))
    if link is None:
        raise Unusual("item without link")
    if content is not None and summary is None:
        summary = content  # feedparser copies content into an absent summary
    # feedparser's base comes from the title's or summary's detail: none when neither element is there.
    has_detail = bool(seen & {"title", "description", CONTENT_ENCODED})
    return ParsedEntry(
        guid=guid, link=link, title=title, content_html=content, summary_html=summary, authors=tuple(authors),
        categories=tuple(categories), published=published, updated=published, language=None,
        base_url=(base or None) if has_detail else None, enclosures=tuple(enclosures),
    )


# ---------------------------------------------------------------- Atom 1.0


def _atom(root: etree._Element, base: str | None) -> ParsedFeed:
    if root.attrib:
        raise Unusual("feed attributes")
    title = link = None
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for el in root:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag == ATOM + "entry":
            entries.append(_atom_entry(el, base))
            continue
        if entries:
            raise Unusual("feed element after the entries")
        if tag == ATOM + "title":
            _once(seen, tag)
            if el.get("type", "text") != "text":
                raise Unusual("title type")
            title = _plain(_text(el)) or None
        elif tag == ATOM + "link":
            rel = el.get("rel", "alternate")
            if rel == "alternate":
                _once(seen, tag)
                link = _atom_link(el)
            elif rel != "self":
                raise Unusual(f"feed link rel {rel}")
        elif tag in ATOM_FEED_SKIP:
            if tag == ATOM + "author":
                _atom_person(el)
        else:
            raise Unusual(f"feed element {tag}")
    if not entries:
        raise Unusual("no entries")
    return ParsedFeed(title=title, link=link, language=None, entries=tuple(entries), format="atom")


def _atom_link(el: etree._Element) -> str:
    if len(el) or (el.text or "").strip() or set(el.attrib) - {"rel", "href", "type"}:
        raise Unusual("link shape")
    if el.get("type") not in (None, "text/html"):
        raise Unusual("link type")
    return _absolute(el.get("href") or "")


def _atom_person(el: etree._Element) -> str:
    if el.attrib:
        raise Unusual("person attributes")
    names = [c for c in el if isinstance(c.tag, str)]
    if len(names) != 1 or names[0].tag != ATOM + "name":
        raise Unusual("person shape")
    name = _plain(_text(names[0]))
    if not name:
        raise Unusual("empty name")
    return name


def _atom_entry(entry: etree._Element, base: str | None) -> ParsedEntry:
    if entry.attrib:
        raise Unusual("entry attributes")
    guid = link = title = summary = content = None
    published = updated = None
    authors: list[str] = []
    categories: list[str] = []
    seen: set[str] = set()
    for el in entry:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag not in ATOM_ENTRY_TAGS:
            raise Unusual(f"entry element {tag}")
        if tag == ATOM + "author":
            name = _atom_person(el)
            if name not in authors:
                authors.append(name)
            continue
        if tag == ATOM + "category":
            if len(el) or set(el.attrib) != {"term"}:
                raise Unusual("category shape")
            term = _plain(el.get("term", "").strip())
            if term and term not in categories:
                categories.append(term)
            continue
        _once(seen, tag)
        if tag == ATOM + "id":
            guid = _plain(_text(el)) or None
            _absolute(guid or "") if not (guid or "").startswith(("tag:", "urn:")) else None
        elif tag == ATOM + "title":
            if el.get("type", "text") != "text":
                raise Unusual("title type")
            title = _plain(_text(el)) or None
        elif tag == ATOM + "link":
            if el.get("rel", "alternate") != "alternate":
                raise Unusual("entry link rel")
            link = _atom_link(el)
        elif tag in (ATOM + "updated", ATOM + "published"):
            when = _date(_text(el))
            if when is None:
                raise Unusual("unreadable date")
            if tag == ATOM + "updated":
                updated = when
            else:
                published = when
        elif tag in (ATOM + "content", ATOM + "summary"):
            if el.get("type") != "html" or set(el.attrib) != {"type"}:
                raise Unusual("content type")
            value = _text(el) or None
            if tag == ATOM + "content":
                content = value
            else:
                summary = value
    if link is None or guid is None or updated is None:
        raise Unusual("entry without link, id or updated")
    if content is not None and summary is None:
        summary = content
    has_detail = bool(seen & {ATOM + "title", ATOM + "summary", ATOM + "content"})
    return ParsedEntry(
        guid=guid, link=link, title=title, content_html=content, summary_html=summary, authors=tuple(authors),
        categories=tuple(categories), published=published, updated=updated, language=None,
        base_url=(base or None) if has_detail else None, enclosures=(),
    )
