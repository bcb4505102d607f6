"""The fast path: well-formed RSS 2.0/0.9x, RSS 1.0 (RDF) and Atom 1.0 parsed with lxml, as feedparser would.

feedparser costs ~0.25 ms per item even with its sanitiser off: a pure-Python SAX handler with a method
call and a stack push per element and per text chunk. lxml builds the tree in C; this module then walks it
once and keeps only what a `ParsedEntry` needs. It reproduces feedparser's own rules for those fields
(element names matched case-insensitively after mapping known namespaces to feedparser's prefixes,
xml:base and xml:lang scoping, which title wins at which depth, a permalink guid or Atom id standing in
for an absent link, a second description becoming content, "name (email)" authors, tags deduplicated on
term/scheme/label, the UTF-8-read-as-Latin-1 repair and the windows-1252 code points, ...), calling
feedparser's own helpers where they are pure (URI joining, date parsing, the "looks like HTML" guess),
so that the difference is speed, not output. `bench/fidelity.py` measures that, field by field, over the
real corpus and feedparser's own test corpus; docs/feed-parsing.md lists what remains and why.

It returns None (= use feedparser) for anything ill-formed (lxml's strict parser refuses it: feedparser
would recover with its loose parser and flag the document) and for what it does not represent: Atom
0.3, XHTML or base64 content, markup left unescaped inside a text element, `<source>`, images inside
items, and the few element kinds feedparser gives meaning to that are rare in real feeds.

One difference is by design and invisible after normalisation: feedparser re-serialises HTML while
resolving relative URIs in it (`resolve_relative_uris`); we pass the HTML through as the partner sent it,
with `base_url` set as feedparser sets it, and our sanitiser resolves those URIs against the same base.

Hostile XML: the caller has removed every DOCTYPE (parse.strip_doctype); the parser loads no DTD,
resolves no entity and never touches the network, so an undefined entity is a syntax error (fallback).
"""

from __future__ import annotations

import calendar
import contextlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Private: feedparser has no public date parser, and this is the one its parse() uses (so both parsers date
# entries alike); pinned by feedparser<7 in pyproject.toml and tested in tests/unit/test_private_apis.py.
from feedparser.datetimes import _parse_date
from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

from syndication.kernel.domain import Enclosure, ParsedEntry, ParsedFeed

XML_NS = "{http://www.w3.org/XML/1998/namespace}"
XML_BASE = XML_NS + "base"
XML_LANG = XML_NS + "lang"
ATOM10 = "http://www.w3.org/2005/atom"
RSS10 = "http://purl.org/rss/1.0/"
RSS090 = "http://my.netscape.com/rdf/simple/0.9/"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                          remove_comments=True, remove_pis=True, strip_cdata=True)

# feedparser's map of known namespace URIs (lowercased) to its own prefixes; '' = the core vocabulary.
_KNOWN_NS: dict[str, str] = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
# Every element name feedparser has a handler for. A name outside this set is stored under its own key by
# feedparser and never reaches a ParsedEntry field: we may walk through it.
_FP_HANDLED = frozenset(n.split("_", 2)[2].lower() for n in dir(_FeedParserMixin) if n.startswith(("_start_",
                                                                                                  "_end_")))
_looks_like_html = _FeedParserMixin.looks_like_html
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[\x80-\x9f]")

# Handlers that only fill fields we never read. Text constructs (feedparser's push_content) serialise any
# elements inside them into their own value, so nothing inside reaches us: their subtree is skipped.
_OPAQUE = frozenset({"rights", "copyright", "dc_rights", "info", "feedburner_browserfriendly", "subtitle",
                     "tagline", "itunes_subtitle"})
# The others (feed images' sizes, ratings, geo, podcast owners, contributors, ...) leave the elements inside
# them to their own handlers, as any container does.
_TRANSPARENT = frozenset({
    "channel", "media_group", "created", "dcterms_created", "expirationdate", "dcterms_valid", "generator",
    "cloud", "webmaster", "dc_publisher", "itunes_owner", "itunes_image", "itunes_link", "itunes_block",
    "itunes_explicit", "media_content", "media_thumbnail", "media_credit", "media_rating", "media_restriction",
    "media_license", "media_player", "cc_license", "creativecommons_license", "where", "georss_point",
    "georss_line", "georss_polygon", "georss_box", "georss_where", "georssgeom", "geom", "gml_point",
    "gml_linestring", "gml_polygon", "gml_exterior", "gml_linearring", "gml_pos", "gml_poslist",
    "psc_chapters", "psc_chapter", "newlocation", "contributor", "dc_contributor", "width", "height",
    "url", "href", "homepage", "uri", "name", "email", "itunes_name", "itunes_email",
})
_TITLES = frozenset({"title", "dc_title"})
_PUBLISHED = frozenset({"pubdate", "published", "issued", "dcterms_issued"})
_UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"})
_AUTHORS = frozenset({"author", "dc_author", "dc_creator", "itunes_author", "managingeditor"})
_CATEGORIES = frozenset({"category", "keywords", "dc_subject", "media_category", "itunes_category"})
_DESCRIPTIONS = frozenset({"description", "dc_description", "media_description"})
_SUMMARIES = frozenset({"summary", "itunes_summary"})
_CONTENTS = frozenset({"content_encoded", "fullitem", "content"})
_EMAIL = re.compile(r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
                    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?""")


class Unusual(Exception):
    """Something the fast path does not represent exactly like feedparser: fall back."""


def _struct_to_dt(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def try_parse(utf8: bytes, base: str | None = None, content_language: str | None = None) -> ParsedFeed | None:
    """The ParsedFeed feedparser would give for a well-formed RSS / RDF / Atom 1.0 document; None to fall back.

    `utf8` is the document as parse.to_utf8 leaves it (UTF-8, DOCTYPE removed); `base` the document's URL
    (feedparser's Content-Location); `content_language` the response's Content-Language, if any."""
    if b"<!ENTITY" in utf8:
        return None
    try:
        root = etree.fromstring(utf8, _PARSER)
        return _Walk(base or "", content_language).feed(root)
    except Exception:  # ill-formed (XMLSyntaxError), Unusual, or anything unforeseen: feedparser decides
        return None


# ---------------------------------------------------------------- text as feedparser leaves it


def _fix(value: str) -> str:
    """feedparser's last steps on every text value: undo UTF-8 read as Latin-1, map C1 controls to cp1252."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    # str.translate with a dict is slow on long text: look for a C1 control first (in C).
    return value.translate(_cp1252) if _C1.search(value) else value


def _content_type(value: str) -> str:
    value = value.lower()
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html",
            "xhtml": "application/xhtml+xml"}.get(value, value)


def _attr(el: etree._Element, name: str) -> str | None:
    """An attribute as feedparser's strict parser reports it: name matched case-insensitively, `&amp;`
    (an escaped entity in the value) read as `&`."""
    for key, value in el.attrib.items():
        if isinstance(key, str) and key.rsplit("}", 1)[-1].lower() == name:
            return str(value).replace("&amp;", "&")
    return None


# A start tag with two attributes or more, in any of HTML's attribute syntaxes: stray slashes, and no space
# after a quoted value, included. The grammar is unambiguous (names stop at whitespace, quotes, "/" or "="),
# so a tag that does not close fails in linear time.
_SEP = r"""(?:[\s/]+|(?<=["']))"""
_NAME = r"""[^\s"'<>/=]+"""
_VALUE = r"""(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_START_TAG = re.compile(rf"<([A-Za-z][A-Za-z0-9:-]*)((?:{_SEP}{_NAME}{_VALUE}){{2,}})(\s*/?)>")
_ATTRIBUTE = re.compile(rf"{_SEP}({_NAME})({_VALUE})")


def _attribute_order(html: str, ctype: str) -> str:
    """HTML with each element's attributes in feedparser's order (sorted by name), the only trace its
    re-serialisation leaves once our sanitiser has run. Without it the stored body, and its content hash,
    would change when a partner's document moves between feedparser and the fast path (one ill-formed
    day), announcing every item as updated."""
    if ctype not in _HTML_TYPES or "<" not in html:
        return html
    return _START_TAG.sub(_sorted_tag, html)


def _sorted_tag(m: re.Match[str]) -> str:
    attributes = _ATTRIBUTE.findall(m.group(2))
    names = [name.lower() for name, _ in attributes]
    if names == sorted(set(names)):
        return m.group(0)
    last = {name.lower(): (name, value) for name, value in attributes}  # feedparser: a repeated name's last value
    return "<" + m.group(1) + "".join(f" {n}{v}" for _, (n, v) in sorted(last.items())) + m.group(3) + ">"


def _href(el: etree._Element) -> str | None:
    """A link's target as feedparser's _enforce_href picks it: url, else uri, else href."""
    for name in ("url", "uri"):
        value = _attr(el, name)
        if value:
            return value
    return _attr(el, "href")


def _author_detail(text: str) -> dict[str, str]:
    """feedparser's split of an RSS author string, e.g. "jane@x.org (Jane Doe)" -> name and email."""
    author, email = text, None
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    detail: dict[str, str] = {}
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email
    return detail


# ---------------------------------------------------------------- the walk


@dataclass
class _Content:
    value: str
    type: str
    language: str | None
    base: str | None


@dataclass
class _Entry:
    guid: str | None = None
    link: str | None = None
    has_link: bool = False
    title: str | None = None
    title_detail: tuple[str | None, str | None] | None = None  # (base, language)
    summary: str | None = None
    summary_set: bool = False
    summary_detail: tuple[str | None, str | None] | None = None
    summary_base: str | None = None  # the base in scope at the summary (or the content copied into it)
    summary_type: str = "text/html"
    depths: dict[str, int] = field(default_factory=dict)
    contents: list[_Content] = field(default_factory=list)
    has_content: bool = False
    published: datetime | None = None
    updated: datetime | None = None
    updated_seen: bool = False
    published_raw: str | None = None  # the text as written, for operators (feedparser's e.published)
    updated_raw: str | None = None
    authors: list[dict[str, str]] = field(default_factory=list)
    tags: list[list[str | None]] = field(default_factory=list)
    enclosures: list[Enclosure] = field(default_factory=list)


class _Walk:
    """One document's walk. Mirrors the state feedparser's handler keeps (base, language, title depth,
    the entry being filled) for the handlers that reach a ParsedEntry or the feed's title/link/language."""

    def __init__(self, base: str, language: str | None) -> None:
        self.base = base
        self.lang = language
        self.version = ""
        self.title_depth = -1
        self.feed_title: str | None = None
        self.feed_link: str | None = None
        self.feed_has_link = False
        self.feed_language: str | None = None
        self.entries: list[ParsedEntry] = []
        self.entry: _Entry | None = None
        self._names: dict[tuple[str, str | None], str] = {}

    # -- names

    def name(self, el: etree._Element) -> str:
        key = (el.tag, el.prefix)
        cached = self._names.get(key)
        if cached is not None:
            return cached
        tag = str(el.tag)
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                lower = "http://backend.userland.com/rss"
            prefix = _KNOWN_NS.get(lower)
            if prefix is None:
                prefix = el.prefix or ""  # an unknown namespace keeps the document's prefix (none: core)
        else:
            prefix, local = "", tag
        result = f"{prefix}_{local}".lower() if prefix else local.lower()
        self._names[key] = result
        return result

    # -- document

    def feed(self, root: etree._Element) -> ParsedFeed:
        tag = str(root.tag)
        declared = {str(u).lower() for u in (root.nsmap or {}).values()}
        if tag == "rss":
            fmt, self.version = "rss", "rss"
        elif tag == "{http://www.w3.org/2005/Atom}feed":
            if RSS10 in declared or RSS090 in declared:
                raise Unusual("Atom declaring RSS 1.0: feedparser's version depends on declaration order")
            fmt, self.version = "atom", "atom10"
        elif tag == "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF" and (RSS10 in declared or RSS090 in declared):
            if ATOM10 in declared:
                raise Unusual("RDF declaring Atom: feedparser's version depends on declaration order")
            fmt, self.version = "rss", "rss10"
        else:
            raise Unusual(f"root {tag}")
        # feedparser joins the document URL with itself at the root (it fixes some malformed ones).
        self.base = (make_safe_absolute_uri(self.base, self.base) or self.base) if self.base else self.base
        self.walk(root, 1, is_root=True)
        return ParsedFeed(title=self.feed_title or None, link=self.feed_link or None,
                          language=self.feed_language or None, entries=tuple(self.entries), format=fmt)

    def scope(self, el: etree._Element, is_root: bool = False) -> None:
        """xml:base and xml:lang coming into scope, as feedparser's unknown_starttag computes them."""
        if el.attrib:
            self._scope_attributes(el)
        if is_root and self.lang and el.tag in ("rss", "{http://www.w3.org/2005/Atom}feed"):
            self.feed_language = self.lang.replace("_", "-")  # from xml:lang, else from Content-Language

    def _scope_attributes(self, el: etree._Element) -> None:
        given = el.get(XML_BASE) or el.get("base")
        if given:
            if self.base:
                self.base = make_safe_absolute_uri(self.base, given) or self.base
            else:
                self.base = _urljoin(self.base, given)
        lang = el.get(XML_LANG, el.get("lang"))
        if lang == "":
            self.lang = None
        elif lang is not None:
            self.lang = lang

    def walk(self, el: etree._Element, depth: int, is_root: bool = False) -> None:
        saved = (self.base, self.lang)
        self.scope(el, is_root)
        try:
            for child in el:
                if not isinstance(child.tag, str):
                    continue
                self.element(child, depth + 1)
        finally:
            self.base, self.lang = saved[0] or self.base, saved[1]

    def element(self, el: etree._Element, depth: int) -> None:
        name = self.name(el)
        entry = self.entry
        if name in ("item", "entry"):
            if entry is not None:
                raise Unusual("entry inside an entry")
            self.item(el, depth)
        elif name not in _FP_HANDLED:  # feedparser keeps it under its own key: walk through it
            self.walk(el, depth)
        elif name in _OPAQUE:
            pass
        elif name in _TRANSPARENT:
            if name == "channel" and entry is not None:
                raise Unusual("channel inside an entry")
            self.walk(el, depth)
        elif name in ("language", "dc_language"):
            self.language(el)
        elif name in ("image", "textinput"):
            if entry is not None:
                if name == "textinput" or len(el):
                    raise Unusual(f"{name} with elements inside an entry")
                self.title_depth = -1  # feedparser's _start_image; its text is not kept
                return
            self.skip(el)
            self.image_title(el, depth)
        elif name == "source":
            self.source(el, depth)
        elif name in _TITLES or name == "media_title":
            self.title(el, depth, lock=name != "media_title")
        elif name == "link":
            self.link(el)
        elif name in ("guid", "id"):
            self.guid(el)
        elif name in ("feed", "rss"):
            raise Unusual(f"element {name}")
        elif entry is None:
            self.skip(el)  # feed-level dates, authors, categories, descriptions: not ours
        elif name in _PUBLISHED or name in _UPDATED:
            self.date(el, entry, name in _UPDATED)
        elif name in _AUTHORS:
            self.author(el, entry)
        elif name in _CATEGORIES or name in ("itunes_keywords", "media_keywords"):
            self.category(el, entry, name)
        elif name in _DESCRIPTIONS or name in _SUMMARIES:
            default = "text/html" if name in _DESCRIPTIONS else "text/plain"
            if entry.summary_set and not entry.has_content:
                self.content(el, entry, "text/plain")  # feedparser: a second summary is the content
            else:
                self.summary(el, entry, depth, default)
        elif name in _CONTENTS:
            self.content(el, entry, "text/html" if name != "content" else "text/plain")
        elif name == "enclosure":
            self.enclosure(el, entry)
        else:
            raise Unusual(f"element {name}")

    def skip(self, el: etree._Element) -> None:
        """A subtree whose values are not ours; it must not hold entries (feedparser would count them)."""
        for sub in el.iterdescendants():
            if isinstance(sub.tag, str) and self.name(sub) in ("item", "entry"):
                raise Unusual("entry inside a skipped element")

    # -- values

    def text(self, el: etree._Element) -> str:
        """The element's text, stripped. Elements inside a text value are markup feedparser re-serialises."""
        if len(el):
            raise Unusual(f"markup inside {el.tag}")
        return (el.text or "").strip()

    def image_title(self, el: etree._Element, depth: int) -> None:
        # feedparser locks the title depth on an image's (or text input's) non-empty title too.
        for sub in el:
            if isinstance(sub.tag, str) and self.name(sub) in _TITLES and (sub.text or "").strip():
                self.title_depth = depth + 1

    def source(self, el: etree._Element, depth: int) -> None:
        """An entry's <source>: feedparser keeps what is inside apart from the entry (its own title, links,
        dates, authors), but the title depth is reset on entering it and set again by its titles."""
        if self.entry is None:
            raise Unusual("source outside an entry")
        self.skip(el)
        self.title_depth = -1
        for sub in el.iterdescendants():
            if not isinstance(sub.tag, str) or self.name(sub) not in _TITLES and self.name(sub) != "media_title":
                continue
            if sub.getparent() is not el or self.name(sub) == "media_title" or len(sub):
                raise Unusual("title deep inside a source")
            if (sub.text or "").strip():
                self.title_depth = depth + 1

    def language(self, el: etree._Element) -> None:
        value = _fix(self.text(el))
        if self.entry is None:
            self.feed_language = value

    def title(self, el: etree._Element, depth: int, lock: bool) -> None:
        saved = (self.base, self.lang)
        self.scope(el)
        try:
            value = self._typed_text(el, "text/plain")[0] if el.attrib else _fix(self.text(el))
            if -1 < self.title_depth <= depth:
                pass  # a title already came at this depth or above
            elif self.entry is None:
                self.feed_title = value
            else:
                entry = self.entry
                old = entry.depths.get("title")
                if old is None or depth <= old:
                    entry.depths["title"] = depth
                    entry.title = value
                    entry.title_detail = (self.base or None, self._detail_lang())
            if value and lock:
                self.title_depth = depth
        finally:
            self.base, self.lang = saved[0] or self.base, saved[1]

    def _detail_lang(self) -> str | None:
        return self.lang.replace("_", "-") if self.lang else None

    def link(self, el: etree._Element) -> None:
        saved = (self.base, self.lang)
        self.scope(el)
        try:
            rel = (_attr(el, "rel") or "alternate").lower()
            ctype = _content_type(_attr(el, "type") or ("application/atom+xml" if rel == "self" else "text/html"))
            href = _href(el)
            entry = self.entry
            if href is not None:
                if len(el) or (el.text or "").strip():
                    raise Unusual("link with both href and text")
                href = _urljoin(self.base, href)
                if rel == "enclosure" and entry is not None:
                    self._enclosure(entry, href, (_attr(el, "type") or "text/html").lower(), _attr(el, "length"))
                if rel == "alternate" and ctype in _HTML_TYPES:
                    if entry is None:
                        self.feed_link, self.feed_has_link = href, True
                    else:
                        entry.link, entry.has_link = href, True
                return
            if el.attrib:  # a link without href but with attributes: feedparser's rules get murky
                raise Unusual("link without href")
            value = self.text(el)
            if value:
                value = _urljoin(self.base, value)
            value = _fix(value)
            if entry is None:
                self.feed_link, self.feed_has_link = _LINK_ENTITY.sub(r"&\g<1>", value), True
            else:
                value = _LINK_ENTITY.sub(r"&\g<1>", value.replace("&amp;", "&"))
                entry.link, entry.has_link = value, True
        finally:
            self.base, self.lang = saved[0] or self.base, saved[1]

    def guid(self, el: etree._Element) -> None:
        saved = (self.base, self.lang)
        self.scope(el)
        try:
            is_link = (_attr(el, "ispermalink") or "true") == "true"
            value = self.text(el)
            if value and is_link:
                value = _urljoin(self.base, value)
            value = _fix(value)
            if self.entry is None:
                if is_link and not self.feed_has_link:
                    self.feed_link, self.feed_has_link = value, True
                return
            entry = self.entry
            entry.guid = value
            if is_link and not entry.has_link:
                entry.link, entry.has_link = value, True
        finally:
            self.base, self.lang = saved[0] or self.base, saved[1]

    def date(self, el: etree._Element, entry: _Entry, updated: bool) -> None:
        value = _fix(self.text(el))
        when = _struct_to_dt(_parse_date(value)) if value else None
        if updated:
            entry.updated, entry.updated_seen, entry.updated_raw = when, True, value
        else:
            entry.published, entry.published_raw = when, value

    def author(self, el: etree._Element, entry: _Entry) -> None:
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            text = _fix(self.text(el))
            entry.authors.append(_author_detail(text) if text else {})
            return
        if (el.text or "").strip():
            raise Unusual("author with text and elements")
        detail: dict[str, str] = {}
        for child in children:
            sub = self.name(child)
            if len(child):
                raise Unusual("nested author element")
            value = (child.text or "").strip()
            if sub in ("name", "itunes_name"):
                detail["name"] = value
            elif sub in ("email", "itunes_email"):
                detail["email"] = value
            elif sub in ("uri", "url", "homepage"):
                detail["href"] = value
            elif sub in _FP_HANDLED:
                raise Unusual(f"author element {sub}")
        entry.authors.append(detail)

    def category(self, el: etree._Element, entry: _Entry, name: str) -> None:
        if name in ("itunes_keywords", "media_keywords"):
            if el.attrib:
                return  # feedparser stores the attributes and drops the text
            for term in _fix(self.text(el)).split(","):
                if term.strip():
                    self._tag(entry, term.strip(), "http://www.itunes.com/" if name == "itunes_keywords" else None,
                              None)
            return
        if name == "itunes_category":
            self._tag(entry, _attr(el, "text"), "http://www.itunes.com/", None)
        else:
            scheme = _attr(el, "scheme")
            if scheme is None and name == "media_category":
                scheme = "http://search.yahoo.com/mrss/category_schema"
            if scheme is None:
                scheme = _attr(el, "domain")
            self._tag(entry, _attr(el, "term"), scheme, _attr(el, "label"))
        if len(el) and name == "itunes_category":
            for sub in el:  # nested itunes:category elements are categories of their own
                if isinstance(sub.tag, str):
                    if self.name(sub) != "itunes_category":
                        raise Unusual("itunes:category content")
                    self.category(sub, entry, "itunes_category")
            value = (el.text or "").strip()
        else:
            value = _fix(self.text(el))
        if not value:
            return
        if entry.tags and not entry.tags[-1][0]:
            entry.tags[-1][0] = value
        else:
            self._tag(entry, value, None, None)

    @staticmethod
    def _tag(entry: _Entry, term: str | None, scheme: str | None, label: str | None) -> None:
        if not term and not scheme and not label:
            return
        tag: list[str | None] = [term, scheme, label]
        if tag not in entry.tags:
            entry.tags.append(tag)

    def _typed_text(self, el: etree._Element, default: str) -> tuple[str, str]:
        if _attr(el, "mode") is not None:
            raise Unusual("content mode")
        ctype = _content_type(_attr(el, "type") or default)
        if ctype == "application/xhtml+xml" or len(el):
            raise Unusual("XHTML content")
        if not (ctype.startswith("text/") or ctype.endswith(("+xml", "/xml"))):
            raise Unusual("base64 content")
        value = _fix(self.text(el))
        if ctype == "text/plain" and not self.version.startswith("atom") and _looks_like_html(value):
            ctype = "text/html"
        return value, ctype

    def summary(self, el: etree._Element, entry: _Entry, depth: int, default: str) -> None:
        saved = (self.base, self.lang)
        self.scope(el)
        try:
            value, ctype = self._typed_text(el, default)
            old = entry.depths.get("summary")
            if old is None or depth <= old:
                entry.depths["summary"] = depth
                entry.summary, entry.summary_set = value, True
                entry.summary_detail = (self.base or None, self._detail_lang())
                entry.summary_base, entry.summary_type = self.base or None, ctype
        finally:
            self.base, self.lang = saved[0] or self.base, saved[1]

    def content(self, el: etree._Element, entry: _Entry, default: str) -> None:
        saved = (self.base, self.lang)
        self.scope(el)
        try:
            entry.has_content = True
            value, ctype = self._typed_text(el, default)
            entry.contents.append(_Content(value, ctype, self._detail_lang(), self.base or None))
            if (ctype == "text/plain" or ctype in _HTML_TYPES) and not entry.summary_set:
                entry.summary, entry.summary_set = value, True  # feedparser copies content into an absent summary
                entry.summary_base, entry.summary_type = self.base or None, ctype
        finally:
            self.base, self.lang = saved[0] or self.base, saved[1]

    def enclosure(self, el: etree._Element, entry: _Entry) -> None:
        href = _href(el)
        if href:  # feedparser does not resolve an RSS enclosure's URL
            self._enclosure(entry, href, (_attr(el, "type") or "").lower(), _attr(el, "length"))

    @staticmethod
    def _enclosure(entry: _Entry, href: str, ctype: str | None, length: str | None) -> None:
        if href:
            entry.enclosures.append(Enclosure(url=href, type=ctype or None,
                                              length=int(length) if length and length.isdigit() else None))

    # -- entries

    def item(self, el: etree._Element, depth: int) -> None:
        if _attr(el, "href") is not None or _attr(el, "lastmod") is not None:
            raise Unusual("CDF item")
        entry = _Entry()
        about = el.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about")
        if about:
            entry.guid = about
        self.entry = entry
        self.title_depth = -1
        try:
            self.walk(el, depth)
        finally:
            self.entry = None
        self.entries.append(self.finish(entry))

    def finish(self, e: _Entry) -> ParsedEntry:
        detail = e.title_detail or e.summary_detail
        base = detail[0] if detail else None
        content = raw_content = body_base = None
        content_type = ""
        for c in e.contents:
            if c.value:
                raw_content, content_type, body_base = c.value, c.type, c.base
                if "html" in c.type:
                    break
        if raw_content is not None:
            content = _attribute_order(raw_content, content_type)
        if content is None and e.summary:
            body_base = e.summary_base
        summary = e.summary or None
        if summary is not None:  # usually the content copied into the summary: order its attributes once
            same = summary is raw_content and content_type == e.summary_type
            summary = content if same else _attribute_order(summary, e.summary_type)
        if body_base and body_base != base:
            # feedparser resolves relative URIs in the body against the base in scope there (e.g. an
            # xml:base on <content>), but reports the title's base. Our sanitiser resolves the body against
            # base_url: report the body's, so that the stored body is the same.
            base = body_base
        authors: list[str] = []
        for a in e.authors:
            name = a.get("name") or a.get("email")
            if name and name not in authors:
                authors.append(name)
        categories: list[str] = []
        for term, _scheme, label in e.tags:
            value = term or label
            if value and value not in categories:
                categories.append(value)
        lang = e.contents[0].language if e.contents else None
        if not lang and detail is not None:
            lang = detail[1]
        return ParsedEntry(
            guid=e.guid or None, link=e.link or None, title=e.title or None, content_html=content,
            summary_html=summary,
            authors=tuple(authors), categories=tuple(categories),
            published=e.published, updated=e.updated if e.updated_seen else e.published,
            published_raw=e.published_raw or None,
            updated_raw=(e.updated_raw if e.updated_seen else e.published_raw) or None,
            language=lang or self.feed_language or None, base_url=base or None, enclosures=tuple(e.enclosures),
        )
