"""feedgen, completed: the one extension (feedgen's `register_extension`) for what feedgen 1.0 cannot write.

Atom and RSS documents are FeedGenerator/FeedEntry objects made by `new_feed`/`new_entry` below; every
element feedgen does not write itself goes through `fg.synd` (SyndFeed) and `fe.synd` (SyndEntry). What
feedgen 1.0.0 does that we work around here (each shown by a test against feedgen itself in
tests/unit/test_feedgen_ext.py, so a feedgen upgrade that changes it is noticed):

- Atom entry links keep only `href` (feedgen rebinds its loop variable), so two links become duplicate
  alternates, and rel is limited to alternate/enclosure/related/self/via (no `license`): entry links are ours.
- atom:source gets only a title and one link without rel or type (FeedEntry.source, shared with RSS's
  <source url>): ours has id, title, updated, the alternate, self and licence links and rights.
- RSS drops an author without e-mail (dc:creator here), entry rights never reach RSS (dc:rights), there is
  no per-entry xml:lang, and an RSS channel gets one atom:link (self): hub and RFC 5005 links are ours.
- `updated` defaults to the clock, and Atom dates are `isoformat()` ("+00:00", microseconds): we always set
  them from the data and write RFC 3339 with "Z" and whole seconds, as the JSON Feed and tombstones do.
- An empty title is refused ("Required fields not set") although Atom allows one (an item whose body is an
  image only): feedgen is given a placeholder and the real, empty text is written here.
- RSS dates go through feedgen.util.formatRFC2822, which sets the process-wide locale to C and back around
  strftime: another thread could see it mid-change (e.g. open() picking an ASCII default encoding). feedgen
  is never given an RSS date to format: items get no pubDate from it, and the channel's lastBuildDate (which
  feedgen otherwise stamps with the clock) is NO_DATE, a datetime feedgen's `if lastBuildDate:` skips. Both
  are written here with email.utils, which does not touch the locale.

- `add_entry` prepends: entries are appended here (`add_entries`), in the order the channel gives them.

feedgen's own media extension wraps a single item in media:group (invalid), so media:content is ours too.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
MEDIA = "http://search.yahoo.com/mrss/"
FH = "http://purl.org/syndication/history/1.0"  # RFC 5005
AT = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721
XML_NS = "http://www.w3.org/XML/1998/namespace"
SYND = "https://syndication.example/ns/1.0"
EBU_SCHEME = "urn:ebu"
PHOTO_ROLE = "photographer"  # EBU role code

GENERATOR = "syndication"  # no version: an upgrade must not change every feed's bytes
EXTENSION = "synd"  # feedgen sets the extension instance as this attribute: fg.synd, fe.synd
# What entries use: every document declares these at its root (feedgen collects the root's namespaces from
# the feed extension only), so a cached entry has the same bytes as one rendered inside its document.
ATOM_NAMESPACES = {"media": MEDIA, "syn": SYND}
RSS_NAMESPACES = {"dc": DC, "dcterms": DCTERMS, "media": MEDIA, "syn": SYND}
RSS_ROOT_NAMESPACES = {**RSS_NAMESPACES, "atom": ATOM, "content": CONTENT}  # feedgen adds atom and content
PLACEHOLDER = "-"  # what feedgen is given for an empty title; the real text is written back


class _NoDate(datetime):
    """A datetime feedgen accepts (it checks the type and tzinfo) and then skips: false in `if date:`."""

    def __bool__(self) -> bool:
        return False


NO_DATE = _NoDate(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def rfc3339(dt: datetime) -> str:
    # Memoised (a few hundred kB at most): an entry writes its item's dates and its partner's in every format, and
    # a first import's publish formatted each ~20 times. Equal datetimes are the same instant: the same text.
    # isoformat, not strftime: glibc's %Y does not pad, so year 1 came out as "1-01-01" (not RFC 3339).
    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def rfc822(dt: datetime) -> str:
    # email.utils formats without touching the process locale (unlike strftime("%a") and feedgen).
    return format_datetime(dt.astimezone(UTC), usegmt=True)


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    rel: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Image:
    """media:content (medium image) with media:credit (EBU role) and media:description."""

    url: str
    credit: str | None = None
    caption: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Tombstone:
    """RFC 6721 at:deleted-entry for a withdrawn item."""

    ref: str  # the entry's atom:id
    when: datetime
    comment: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """atom:source: the partner's feed an entry came from."""

    id: str
    title: str
    updated: datetime
    homepage: str | None
    feed_url: str | None
    license_url: str | None
    rights: str | None


@dataclass(frozen=True, slots=True)
class Node:
    """An element of ours (SYND namespace, prefix syn), with attributes and children."""

    tag: str
    text: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()
    children: tuple[Node, ...] = ()


def node(tag: str, text: object = None, children: Iterable[Node] = (), **attrs: object) -> Node:
    """A Node; None attributes are left out."""
    return Node(tag, None if text is None else str(text),
                tuple((k.replace("_", "-"), str(v)) for k, v in attrs.items() if v is not None), tuple(children))


def _sub(parent: Any, tag: str, text: str | None = None, **attrib: str) -> Any:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


_SYND_PREFIX = f"{{{SYND}}}"


def _write_node(parent: Any, n: Node) -> None:
    # SubElement directly, not _sub: our elements are most of an entry's, and _sub's keyword round trip
    # (a tuple to a dict to keywords to a dict) was a tenth of their cost.
    el = etree.SubElement(parent, _SYND_PREFIX + n.tag, dict(n.attrs)) if n.attrs else etree.SubElement(
        parent, _SYND_PREFIX + n.tag)
    if n.text is not None:
        el.text = n.text
    for child in n.children:
        _write_node(el, child)


def _write_media(parent: Any, images: Sequence[Image], credits: Sequence[str]) -> None:
    m = f"{{{MEDIA}}}"
    for img in images:
        attrs = {"url": img.url, "medium": "image"}
        if img.type:
            attrs["type"] = img.type
        mc = _sub(parent, m + "content", **attrs)
        if img.credit:
            _sub(mc, m + "credit", img.credit, role=PHOTO_ROLE, scheme=EBU_SCHEME)
        if img.caption:
            _sub(mc, m + "description", img.caption, type="plain")
    for credit in credits:  # photo credits no image URL was found for
        _sub(parent, m + "credit", credit, role=PHOTO_ROLE, scheme=EBU_SCHEME)


def _link(parent: Any, tag: str, link: Link) -> None:
    attrs = {"rel": link.rel, "href": link.href}
    if link.type:
        attrs["type"] = link.type
    _sub(parent, tag, **attrs)


# In feedgen's Atom tree, Atom elements carry no namespace (the root has a literal xmlns attribute), so ours
# are unqualified too; RSS documents name Atom elements with the atom prefix.


class SyndFeed(BaseExtension):  # type: ignore[misc]
    """Feed-level elements feedgen does not write (see the module docstring)."""

    def __init__(self) -> None:
        self._namespaces: dict[str, str] = {}
        self._updated: datetime | None = None
        self._title: str | None = None
        self._links: list[Link] = []
        self._archive = False
        self._tombstones: tuple[Tombstone, ...] = ()

    def namespaces(self, namespaces: dict[str, str]) -> None:
        self._namespaces = dict(namespaces)

    def updated(self, when: datetime) -> None:
        self._updated = when

    def real_title(self, title: str) -> None:
        self._title = title

    def links(self, links: Sequence[Link]) -> None:
        """RSS: atom:link elements beyond the self link feedgen writes (hub, RFC 5005)."""
        self._links = list(links)

    def archive(self, is_archive: bool) -> None:
        """RFC 5005 fh:archive: this document is an archive page."""
        self._archive = is_archive

    def tombstones(self, stones: Sequence[Tombstone]) -> None:
        """Atom: RFC 6721 at:deleted-entry elements."""
        self._tombstones = tuple(stones)

    def extend_ns(self) -> dict[str, str]:
        return dict(self._namespaces)

    def extend_atom(self, feed: Any) -> Any:
        if self._title is not None:
            feed.find("title").text = self._title
        if self._updated is not None:
            feed.find("updated").text = rfc3339(self._updated)
        if self._archive:
            _sub(feed, f"{{{FH}}}archive")
        for t in self._tombstones:
            el = _sub(feed, f"{{{AT}}}deleted-entry", ref=t.ref, when=rfc3339(t.when))
            if t.link:
                _link(el, "link", Link(t.link, "alternate", "text/html"))
            if t.comment:
                _sub(el, f"{{{AT}}}comment", t.comment)
        return feed

    def extend_rss(self, rss: Any) -> Any:
        channel = rss.find("channel")
        if self._title is not None:
            channel.find("title").text = self._title
        if self._updated is not None:
            _sub(channel, "lastBuildDate", rfc822(self._updated))
        for link in self._links:
            _link(channel, f"{{{ATOM}}}link", link)
        if self._archive:
            _sub(channel, f"{{{FH}}}archive")
        return rss


class SyndEntry(BaseEntryExtension):  # type: ignore[misc]
    """Entry-level elements feedgen does not write (see the module docstring)."""

    def __init__(self) -> None:
        self._title: str | None = None
        self._published: datetime | None = None
        self._updated: datetime | None = None
        self._lang: str | None = None
        self._links: list[Link] = []
        self._creators: tuple[str, ...] = ()
        self._rights: str | None = None
        self._license: str | None = None
        self._source: Source | None = None
        self._images: tuple[Image, ...] = ()
        self._credits: tuple[str, ...] = ()
        self._nodes: list[Node] = []

    def real_title(self, title: str) -> None:
        self._title = title

    def dates(self, published: datetime, updated: datetime) -> None:
        """Atom: published/updated as RFC 3339 "Z"; RSS: pubDate (RFC 822) and dcterms:modified."""
        self._published, self._updated = published, updated

    def lang(self, lang: str | None) -> None:
        """Atom: the entry's xml:lang; RSS: dc:language."""
        self._lang = lang

    def links(self, links: Sequence[Link]) -> None:
        """Atom: the entry's links, with their attributes; RSS: atom:link elements."""
        self._links = list(links)

    def creators(self, names: Sequence[str]) -> None:
        """RSS: dc:creator (feedgen writes RSS authors only with an e-mail address)."""
        self._creators = tuple(names)

    def rights(self, rights: str | None) -> None:
        """RSS: dc:rights (feedgen writes an entry's rights to Atom only)."""
        self._rights = rights

    def license(self, url: str | None) -> None:
        """RSS: dcterms:license."""
        self._license = url

    def source(self, source: Source) -> None:
        """Atom: complete atom:source (id, updated, self and licence links, rights)."""
        self._source = source

    def media(self, images: Sequence[Image], credits: Sequence[str] = ()) -> None:
        self._images, self._credits = tuple(images), tuple(credits)

    def element(self, n: Node) -> None:
        """One of our elements (syn:attribution, syn:notice)."""
        self._nodes.append(n)

    def extend_atom(self, entry: Any) -> Any:
        if self._title is not None:
            entry.find("title").text = self._title
        if self._lang:
            entry.set(f"{{{XML_NS}}}lang", self._lang)
        if self._updated is not None:
            entry.find("updated").text = rfc3339(self._updated)
        if self._published is not None:
            entry.find("published").text = rfc3339(self._published)
        for link in self._links:
            _link(entry, "link", link)
        if self._source is not None:
            self._write_source(entry, self._source)
        _write_media(entry, self._images, self._credits)
        for n in self._nodes:
            _write_node(entry, n)
        return entry

    @staticmethod
    def _write_source(entry: Any, s: Source) -> None:
        src = _sub(entry, "source")
        _sub(src, "id", s.id)
        _sub(src, "title", s.title, type="text")
        _sub(src, "updated", rfc3339(s.updated))
        if s.homepage:
            _link(src, "link", Link(s.homepage, "alternate", "text/html"))
        if s.feed_url:
            _link(src, "link", Link(s.feed_url, "self"))
        if s.license_url:
            _link(src, "link", Link(s.license_url, "license"))
        if s.rights:
            _sub(src, "rights", s.rights, type="text")

    def extend_rss(self, item: Any) -> Any:
        if self._published is not None:
            _sub(item, "pubDate", rfc822(self._published))
        for link in self._links:
            _link(item, f"{{{ATOM}}}link", link)
        for name in self._creators:
            _sub(item, f"{{{DC}}}creator", name)
        if self._lang:
            _sub(item, f"{{{DC}}}language", self._lang)
        if self._rights:
            _sub(item, f"{{{DC}}}rights", self._rights)
        if self._license:
            _sub(item, f"{{{DCTERMS}}}license", self._license)
        if self._updated is not None:
            _sub(item, f"{{{DCTERMS}}}modified", rfc3339(self._updated))
        _write_media(item, self._images, self._credits)
        for n in self._nodes:
            _write_node(item, n)
        return item


def new_feed(fmt: str, *, title: str, updated: datetime, namespaces: dict[str, str]) -> Any:
    """A FeedGenerator for one Atom ("atom") or RSS ("rss") document, with our extension as `fg.synd`.

    The title and date are set here because feedgen needs workarounds for both (module docstring)."""
    fg = FeedGenerator()
    fg.register_extension(EXTENSION, SyndFeed, SyndEntry)
    fg.title(title or PLACEHOLDER)
    if not title:
        fg.synd.real_title(title)
    if fmt == "rss":
        fg.updated(NO_DATE)  # feedgen would format it (locale) or stamp the clock; ours writes lastBuildDate
        fg.docs("")  # feedgen's default <docs> link is not data of ours
    else:
        fg.updated(updated.astimezone(UTC))
    fg.synd.updated(updated)
    fg.synd.namespaces(namespaces)
    fg.generator(GENERATOR)
    return fg


def new_entry(fmt: str, *, title: str, published: datetime, updated: datetime) -> Any:
    """A FeedEntry for one format, with our extension as `fe.synd` (an Atom entry and an RSS item are
    separate objects: dates handed to feedgen for Atom would be formatted by it for RSS)."""
    fe = FeedEntry()
    fe.register_extension(EXTENSION, SyndEntry)
    if fmt == "rss":
        fe.title(title)  # RSS: an item without title is valid (it has a description); feedgen omits it
    else:
        fe.title(title or PLACEHOLDER)
        if not title:
            fe.synd.real_title(title)
        fe.updated(updated.astimezone(UTC))
        fe.published(published.astimezone(UTC))
    fe.synd.dates(published, updated)
    return fe


def add_entries(fg: Any, entries: Iterable[Any]) -> None:
    for fe in entries:
        fg.add_entry(fe, order="append")  # feedgen prepends by default


def atom_bytes(fg: Any) -> bytes:
    return bytes(fg.atom_str(pretty=True))


def rss_bytes(fg: Any) -> bytes:
    return bytes(fg.rss_str(pretty=True))


def atom_template(namespaces: dict[str, str] = ATOM_NAMESPACES) -> Any:
    """An empty root like feedgen's Atom root, to serialise one entry exactly as inside a document."""
    return copy.copy(_atom_root(tuple(namespaces.items())))


def rss_template() -> Any:
    """An empty rss/channel like feedgen's, to serialise one item exactly as inside a document."""
    return copy.copy(_rss_root())


# The templates are copied, not built, for each entry: a copy is a fifth of the cost of a root with namespaces
# (an RSS item's template was as costly as a tenth of the item). Never handed out themselves, so never changed.
@functools.lru_cache(maxsize=8)
def _atom_root(namespaces: tuple[tuple[str, str], ...]) -> Any:
    return etree.Element("feed", {"xmlns": ATOM}, nsmap=dict(namespaces))  # type: ignore[arg-type]


@functools.cache
def _rss_root() -> Any:
    root = etree.Element("rss", {"version": "2.0"}, nsmap=RSS_ROOT_NAMESPACES)  # type: ignore[arg-type]
    etree.SubElement(root, "channel")
    return root
