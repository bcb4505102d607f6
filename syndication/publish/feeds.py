"""Render a channel as Atom 1.0, RSS 2.0 and JSON Feed 1.1. Pure: same input, same bytes.

Written with lxml rather than feedgen (decision kept by [publish]): feedgen 1.0 drops link attributes
(duplicate alternates), limits entry rel values, emits an atom:source without id/updated, loses entry
rights in RSS, drops RSS authors without email, has no rel=hub in RSS nor per-entry xml:lang, stamps
`updated` with the clock, wraps single media items in media:group and changes the process locale while
formatting dates (DESIGN.md, pitfalls). Building the tree directly costs less code than patching all of
that in an extension, and keeps the output deterministic.

Every item carries: title; `alternate` link to our copy ({public_url}/items/<id>) and `via` the
original; authors (RSS dc:creator); categories; published/updated; xml:lang; content with the
attribution footer; rights (atom:rights / dc:rights); licence (link rel=license / dcterms:license);
the partner's feed as atom:source (id, title, updated, links, rights) / RSS <source url>; images as
media:content with media:credit (EBU role, scheme urn:ebu) and media:description. JSON Feed carries the
same under `_syndication`. Archive pages (RFC 5005) and tombstones (RFC 6721) are rendered here too.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from typing import Any

import lxml.html
from lxml import etree

from syndication.publish.channels import ChannelSpec, PublishedItem

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
MEDIA = "http://search.yahoo.com/mrss/"
FH = "http://purl.org/syndication/history/1.0"  # RFC 5005
AT = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721
XML_NS = "http://www.w3.org/XML/1998/namespace"
SYND = "https://syndication.example/ns/1.0"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR = "syndication"  # no version: an upgrade must not change every feed's bytes
EBU_SCHEME = "urn:ebu"
PHOTO_ROLE = "photographer"  # EBU role code


EXT_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml", "json": "application/feed+json"}


@dataclass(frozen=True, slots=True)
class FeedContext:
    public_url: str  # e.g. http://127.0.0.1:8000
    ttl_minutes: int = 15
    hub_url: str | None = None

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    def channel_url(self, channel_id: str, ext: str) -> str:
        return f"{self.base}/feeds/{channel_id}.{ext}"

    def archive_url(self, channel_id: str, page: int, ext: str) -> str:
        return f"{self.base}/feeds/{channel_id}/archive/{page}.{ext}"

    def item_url(self, item_id: int) -> str:
        return f"{self.base}/items/{item_id}"


@dataclass(frozen=True, slots=True)
class Paging:
    """RFC 5005 position of a document: the current feed (archive_page None) or archive page n."""

    archive_page: int | None = None
    prev_archive: int | None = None  # the next older archive page
    next_archive: int | None = None  # the next newer archive page (archive documents only)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """RFC 6721 at:deleted-entry for a withdrawn item."""

    ref: str  # the entry's atom:id
    when: datetime
    comment: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    credit: str | None = None
    caption: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Extras:
    paging: Paging = field(default_factory=Paging)
    tombstones: tuple[Tombstone, ...] = ()


NO_EXTRAS = Extras()


class FragmentCache:
    """Rendered entries (bytes, exactly as they appear inside their document), least recently used
    evicted beyond `max_bytes`.

    A channel document after one change differs from the previous one by one entry; re-rendering every
    entry of the window (lxml tree + footer + serialisation, or the pure-Python indented JSON encoder)
    was most of a publish. The key is everything the entry's bytes depend on: the format, the feed
    context, and a digest of the whole published item (so a change of any field, including the carriers
    a story-deduplicating channel adds, is a different entry; nothing relies on `version` being bumped).
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        # The digest of an item object, for its other formats (a document set renders each item 3 times).
        # Published items are frozen and never mutated once loaded; holding the object keeps its id() from
        # being reused while the memo entry lives.
        self._digests: OrderedDict[int, tuple[object, bytes]] = OrderedDict()

    def digest(self, item: object, key: Callable[[], bytes] | None = None) -> bytes:
        """fingerprint(item), or key() for values that do not pickle as their content (ORM rows)."""
        with self._lock:
            seen = self._digests.get(id(item))
            if seen is not None and seen[0] is item:
                return seen[1]
        value = key() if key is not None else fingerprint(item)
        with self._lock:
            self._digests[id(item)] = (item, value)
            while len(self._digests) > 1024:
                self._digests.popitem(last=False)
        return value

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return data
        data = make()  # outside the lock: rendering is the slow part
        with self._lock:
            self.misses += 1
            if key not in self._entries:
                self._entries[key] = data
                self._size += len(data)
                while self._size > self.max_bytes and self._entries:
                    _, old = self._entries.popitem(last=False)
                    self._size -= len(old)
        return data

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._digests.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._entries)


# The publisher's cache (one per process; the web process never renders).
ENTRY_CACHE = FragmentCache()


def fingerprint(value: object) -> bytes:
    """A digest of a value's whole content. Equal pickles are equal values, so equal digests never
    stand for different renderings (unequal pickles of equal values only cost a cache miss)."""
    return hashlib.blake2b(pickle.dumps(value, protocol=5), digest_size=16).digest()


def xml_children(root: etree._Element, parent_tag: bytes) -> bytes:
    """The pretty-printed bytes of the children of the innermost element (`parent_tag`, the start tag's
    name) of a one-branch template document, exactly as they appear inside a full document: libxml2
    indents by depth only, so an entry's bytes do not depend on its siblings."""
    data = etree.tostring(root, encoding="utf-8", pretty_print=True)
    start = data.index(b">\n", data.index(b"<" + parent_tag)) + 2
    end = data.rindex(b"</" + parent_tag + b">")
    return data[start:data.rindex(b"\n", 0, end) + 1]


def splice_xml(skeleton: bytes, closing: bytes, fragments: Sequence[bytes]) -> bytes:
    """Insert rendered children before the `closing` tail of a pretty-printed document."""
    if not fragments:
        return skeleton
    if not skeleton.endswith(closing):
        raise ValueError("document skeleton does not end as expected")
    return b"".join((skeleton[: len(skeleton) - len(closing)], *fragments, closing))


def json_fragment(obj: object, level: int) -> bytes:
    """`obj` as json.dumps(indent=2) writes it at nesting `level` of a document (JSON strings hold no raw
    newline, so re-indenting lines is exact)."""
    pad = "  " * level
    return (pad + json.dumps(obj, ensure_ascii=False, indent=2).replace("\n", "\n" + pad)).encode("utf-8")


def json_with_items(doc: dict[str, object], fragments: Sequence[bytes]) -> bytes:
    """json.dumps(doc | {"items": [...]}, indent=2) + newline, with pre-rendered items (json_fragment
    level 2); "items" must be the document's last key."""
    doc = {**doc, "items": []}
    head = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    tail = b'"items": []\n}\n'
    if not head.endswith(tail):
        raise ValueError('"items" is not the last key of the JSON document')
    if not fragments:
        return head
    return b"".join((head[: len(head) - len(b"[]\n}\n")], b"[\n", b",\n".join(fragments), b"\n  ]\n}\n"))


def attribution_footer(item: PublishedItem) -> str:
    """Composed by the normalise core from the stored attribution and the partner's policy."""
    from syndication.pipeline.policy import render_footer

    return render_footer(
        item.attribution, fallback_credit=item.partner.credit, fallback_url=item.url, carriers=item.carriers
    )


def content_with_footer(item: PublishedItem) -> str:
    return f"{item.content_html}\n{attribution_footer(item)}" if item.content_html else attribution_footer(item)


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(dt: datetime) -> str:
    # email.utils formats without touching the process locale (unlike strftime("%a")).
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def channel_updated(items: Sequence[PublishedItem], tombstones: Sequence[Tombstone] = ()) -> datetime:
    return max([i.updated for i in items] + [t.when for t in tombstones], default=EPOCH)


def item_rights(item: PublishedItem) -> str:
    """The rights statement of an item: the partner's own, else its copyright template, else credit."""
    rights = item.attribution.get("rights")
    if rights:
        return str(rights)
    year = str(item.published.astimezone(UTC).year)
    if item.partner.copyright:
        return item.partner.copyright.replace("{year}", year)
    return f"© {year} {item.attribution.get('credit') or item.partner.credit}"


def item_license(item: PublishedItem) -> str | None:
    return item.attribution.get("license_url") or item.partner.license_url


def source_rights(item: PublishedItem) -> str | None:
    p = item.partner
    if p.copyright:
        return p.copyright.replace("{year}", str(item.published.astimezone(UTC).year))
    return p.usage_terms


def source_id(item: PublishedItem) -> str:
    p = item.partner
    return p.feed_url or p.homepage or f"urn:syndication:partner:{p.id}"


def _img_sources(html: str) -> list[tuple[str, str | None]]:
    if "<img" not in html:
        return []
    try:
        frag = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    out = []
    for img in frag.iter("img"):
        src = img.get("src")
        if src and src.startswith(("http://", "https://")):
            out.append((src, img.get("alt") or None))
    return out


def _guess_type(url: str) -> str | None:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0], strict=True)
    return guessed if guessed and guessed.startswith("image/") else None


def item_images(item: PublishedItem) -> tuple[list[Image], list[dict[str, Any]]]:
    """Images (url + credit + caption) and the credits no image URL could be found for."""
    credits = [c for c in (item.attribution.get("image_credits") or ()) if isinstance(c, dict)]
    images: list[Image] = []
    seen: set[str] = set()
    for c in credits:
        url = c.get("url")
        if url and url not in seen:
            seen.add(url)
            images.append(Image(url, c.get("credit"), c.get("caption"), _guess_type(url)))
    unplaced = [c for c in credits if not c.get("url")]
    for src, alt in _img_sources(item.content_html):
        if src in seen:
            continue
        seen.add(src)
        c = unplaced.pop(0) if unplaced else {}
        images.append(Image(src, c.get("credit"), c.get("caption") or alt, _guess_type(src)))
    return images, unplaced


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _media(parent: etree._Element, item: PublishedItem) -> None:
    m = f"{{{MEDIA}}}"
    images, unplaced = item_images(item)
    for img in images:
        attrs = {"url": img.url, "medium": "image"}
        if img.type:
            attrs["type"] = img.type
        mc = _sub(parent, m + "content", **attrs)
        if img.credit:
            _sub(mc, m + "credit", img.credit, role=PHOTO_ROLE, scheme=EBU_SCHEME)
        if img.caption:
            _sub(mc, m + "description", img.caption, type="plain")
    for c in unplaced:
        if c.get("credit"):
            _sub(parent, m + "credit", c["credit"], role=PHOTO_ROLE, scheme=EBU_SCHEME)


def _archive_links(
    parent: etree._Element, tag: str, spec: ChannelSpec, ctx: FeedContext, paging: Paging, ext: str
) -> None:
    mime = EXT_TYPES[ext]
    if paging.archive_page is not None:
        _sub(parent, tag, rel="current", href=ctx.channel_url(spec.id, ext), type=mime)
    if paging.prev_archive is not None:
        _sub(parent, tag, rel="prev-archive", href=ctx.archive_url(spec.id, paging.prev_archive, ext), type=mime)
    if paging.next_archive is not None:
        _sub(parent, tag, rel="next-archive", href=ctx.archive_url(spec.id, paging.next_archive, ext), type=mime)


def _self_url(spec: ChannelSpec, ctx: FeedContext, paging: Paging, ext: str) -> str:
    if paging.archive_page is not None:
        return ctx.archive_url(spec.id, paging.archive_page, ext)
    return ctx.channel_url(spec.id, ext)


ATOM_ENTRY_NSMAP = {None: ATOM, "media": MEDIA}  # what entries use: every Atom document declares these


def _cached(
    cache: FragmentCache, fmt: str, render: Callable[[PublishedItem, FeedContext], bytes],
    items: Sequence[PublishedItem], ctx: FeedContext,
) -> list[bytes]:
    return [cache.get((fmt, ctx, cache.digest(item)), partial(render, item, ctx)) for item in items]


def render_atom(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The Atom document; with a cache, entries are spliced in from it (same bytes, see FragmentCache)."""
    root = _atom_root(spec, items, ctx, extras)
    if cache is None:
        for item in items:
            _atom_entry(root, item, ctx)
        return _to_bytes(root)
    return splice_xml(_to_bytes(root), b"</feed>\n", _cached(cache, "atom", atom_entry_bytes, items, ctx))


def atom_entry_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    root = etree.Element(f"{{{ATOM}}}feed", nsmap=ATOM_ENTRY_NSMAP)  # type: ignore[arg-type]
    _atom_entry(root, item, ctx)
    return xml_children(root, b"feed")


def _atom_root(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras
) -> etree._Element:
    paging = extras.paging
    nsmap = dict(ATOM_ENTRY_NSMAP)
    if paging.archive_page is not None or paging.prev_archive is not None:
        nsmap["fh"] = FH
    if extras.tombstones:
        nsmap["at"] = AT
    root = etree.Element(f"{{{ATOM}}}feed", nsmap=nsmap)  # type: ignore[arg-type]
    if spec.language:
        root.set(f"{{{XML_NS}}}lang", spec.language)
    a = f"{{{ATOM}}}"
    _sub(root, a + "id", ctx.channel_url(spec.id, "atom"))
    _sub(root, a + "title", spec.title, type="text")
    if spec.description:
        _sub(root, a + "subtitle", spec.description, type="text")
    _sub(root, a + "updated", _rfc3339(channel_updated(items, extras.tombstones)))
    _sub(root, a + "link", rel="self", href=_self_url(spec, ctx, paging, "atom"), type=EXT_TYPES["atom"])
    _sub(root, a + "link", rel="alternate", href=ctx.base + "/", type="text/html")
    if ctx.hub_url and paging.archive_page is None:
        _sub(root, a + "link", rel="hub", href=ctx.hub_url)
    _archive_links(root, a + "link", spec, ctx, paging, "atom")
    _sub(root, a + "generator", GENERATOR)
    if paging.archive_page is not None:
        _sub(root, f"{{{FH}}}archive")
    for t in extras.tombstones:
        _tombstone(root, t)
    return root


def _tombstone(root: etree._Element, t: Tombstone) -> None:
    el = _sub(root, f"{{{AT}}}deleted-entry", ref=t.ref, when=_rfc3339(t.when))
    if t.link:
        _sub(el, f"{{{ATOM}}}link", rel="alternate", href=t.link, type="text/html")
    if t.comment:
        _sub(el, f"{{{AT}}}comment", t.comment)


def _atom_entry(root: etree._Element, item: PublishedItem, ctx: FeedContext) -> None:
    a = f"{{{ATOM}}}"
    entry = _sub(root, a + "entry")
    lang = item.language or None
    if lang:
        entry.set(f"{{{XML_NS}}}lang", lang)
    _sub(entry, a + "id", item.uid)
    _sub(entry, a + "title", item.title, type="text")
    _sub(entry, a + "link", rel="alternate", href=ctx.item_url(item.id), type="text/html")
    if item.url:
        _sub(entry, a + "link", rel="via", href=item.url, type="text/html")
    lic = item_license(item)
    if lic:
        _sub(entry, a + "link", rel="license", href=lic)
    _sub(entry, a + "published", _rfc3339(item.published))
    _sub(entry, a + "updated", _rfc3339(item.updated))
    for name in item.authors or (item.partner.credit,):
        author = _sub(entry, a + "author")
        _sub(author, a + "name", name)
    for cat in item.categories:
        _sub(entry, a + "category", term=cat)
    _sub(entry, a + "rights", item_rights(item), type="text")
    src = _sub(entry, a + "source")
    p = item.partner
    _sub(src, a + "id", source_id(item))
    _sub(src, a + "title", p.name, type="text")
    _sub(src, a + "updated", _rfc3339(p.updated or item.updated))
    if p.homepage:
        _sub(src, a + "link", rel="alternate", href=p.homepage, type="text/html")
    if p.feed_url:
        _sub(src, a + "link", rel="self", href=p.feed_url)
    if p.license_url:
        _sub(src, a + "link", rel="license", href=p.license_url)
    srights = source_rights(item)
    if srights:
        _sub(src, a + "rights", srights, type="text")
    if item.summary:
        _sub(entry, a + "summary", item.summary, type="text")
    _sub(entry, a + "content", content_with_footer(item), type="html")
    _media(entry, item)


RSS_NSMAP = {"atom": ATOM, "dc": DC, "dcterms": DCTERMS, "content": CONTENT, "media": MEDIA}


def render_rss(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The RSS document; with a cache, items are spliced in from it (same bytes, see FragmentCache)."""
    root, ch = _rss_root(spec, items, ctx, extras)
    if cache is None:
        for item in items:
            _rss_item(ch, item, ctx)
        return _to_bytes(root)
    return splice_xml(_to_bytes(root), b"  </channel>\n</rss>\n", _cached(cache, "rss", rss_item_bytes, items, ctx))


def rss_item_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    root = etree.Element("rss", {"version": "2.0"}, nsmap=RSS_NSMAP)  # type: ignore[arg-type]
    _rss_item(_sub(root, "channel"), item, ctx)
    return xml_children(root, b"channel")


def _rss_root(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras
) -> tuple[etree._Element, etree._Element]:
    paging = extras.paging
    nsmap = dict(RSS_NSMAP)
    if paging.archive_page is not None or paging.prev_archive is not None:
        nsmap["fh"] = FH
    root = etree.Element("rss", {"version": "2.0"}, nsmap=nsmap)  # type: ignore[arg-type]
    ch = _sub(root, "channel")
    _sub(ch, "title", spec.title)
    _sub(ch, "link", ctx.base + "/")
    _sub(ch, "description", spec.description or spec.title)
    if spec.language:
        _sub(ch, "language", spec.language)
    _sub(ch, "lastBuildDate", _rfc822(channel_updated(items, extras.tombstones)))
    _sub(ch, "generator", GENERATOR)
    _sub(ch, "ttl", str(ctx.ttl_minutes))
    _sub(ch, f"{{{ATOM}}}link", rel="self", href=_self_url(spec, ctx, paging, "rss"), type=EXT_TYPES["rss"])
    if ctx.hub_url and paging.archive_page is None:
        _sub(ch, f"{{{ATOM}}}link", rel="hub", href=ctx.hub_url)
    _archive_links(ch, f"{{{ATOM}}}link", spec, ctx, paging, "rss")
    if paging.archive_page is not None:
        _sub(ch, f"{{{FH}}}archive")
    return root, ch


def _rss_item(ch: etree._Element, item: PublishedItem, ctx: FeedContext) -> None:
    it = _sub(ch, "item")
    _sub(it, "title", item.title)
    _sub(it, "link", ctx.item_url(item.id))
    _sub(it, "guid", item.uid, isPermaLink="false")
    _sub(it, "pubDate", _rfc822(item.published))
    if item.url:
        _sub(it, f"{{{ATOM}}}link", rel="via", href=item.url, type="text/html")
    for name in item.authors or (item.partner.credit,):
        _sub(it, f"{{{DC}}}creator", name)
    for cat in item.categories:
        _sub(it, "category", cat)
    if item.language:
        _sub(it, f"{{{DC}}}language", item.language)
    _sub(it, "description", content_with_footer(item))
    p = item.partner
    _sub(it, "source", p.name, url=p.feed_url or p.homepage or ctx.base + "/")
    _sub(it, f"{{{DC}}}rights", item_rights(item))
    lic = item_license(item)
    if lic:
        _sub(it, f"{{{DCTERMS}}}license", lic)
        _sub(it, f"{{{ATOM}}}link", rel="license", href=lic)
    _sub(it, f"{{{DCTERMS}}}modified", _rfc3339(item.updated))
    _media(it, item)


def render_json(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The JSON Feed document; with a cache, items are spliced in from it (same bytes, see FragmentCache)."""
    doc = _json_head(spec, items, ctx, extras)
    if cache is None:
        doc["items"] = [_json_item(item, ctx) for item in items]
        return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
    return json_with_items(doc, _cached(cache, "json", json_item_bytes, items, ctx))


def json_item_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    return json_fragment(_json_item(item, ctx), 2)


def _json_head(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras
) -> dict[str, object]:
    paging = extras.paging
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": ctx.base + "/",
        "feed_url": _self_url(spec, ctx, paging, "json"),
    }
    if spec.description:
        doc["description"] = spec.description
    if paging.prev_archive is not None:
        # JSON Feed paging: next_url leads to older items.
        doc["next_url"] = ctx.archive_url(spec.id, paging.prev_archive, "json")
    if spec.language:
        doc["language"] = spec.language
    if ctx.hub_url and paging.archive_page is None:
        doc["hubs"] = [{"type": "WebSub", "url": ctx.hub_url}]
    feed_ext: dict[str, object] = {"channel": spec.id, "ttl": ctx.ttl_minutes, "generator": GENERATOR,
                                   "updated": _rfc3339(channel_updated(items, extras.tombstones))}
    if paging.archive_page is not None:
        feed_ext["archive"] = True
        feed_ext["current"] = ctx.channel_url(spec.id, "json")
    if paging.prev_archive is not None:
        feed_ext["prev_archive"] = ctx.archive_url(spec.id, paging.prev_archive, "json")
    if paging.next_archive is not None:
        feed_ext["next_archive"] = ctx.archive_url(spec.id, paging.next_archive, "json")
    if extras.tombstones:
        feed_ext["deleted"] = [
            {"ref": t.ref, "when": _rfc3339(t.when), "comment": t.comment} for t in extras.tombstones
        ]
    doc["_syndication"] = feed_ext
    return doc


def _json_item(item: PublishedItem, ctx: FeedContext) -> dict[str, object]:
    a = item.attribution
    p = item.partner
    entry: dict[str, object] = {"id": item.uid, "url": ctx.item_url(item.id)}
    if item.url:
        entry["external_url"] = item.url
    entry["title"] = item.title
    entry["content_html"] = content_with_footer(item)
    if item.summary:
        entry["summary"] = item.summary
    entry["date_published"] = _rfc3339(item.published)
    entry["date_modified"] = _rfc3339(item.updated)
    entry["authors"] = [{"name": n} for n in item.authors or (p.credit,)]
    if item.categories:
        entry["tags"] = list(item.categories)
    if item.language:
        entry["language"] = item.language
    images, unplaced = item_images(item)
    if images:
        entry["image"] = images[0].url
    entry["_syndication"] = {
        "partner": p.id,
        "partner_name": p.name,
        "via": item.url,
        "credit": a.get("credit") or p.credit,
        "original_url": a.get("original_url"),
        "original_agency": a.get("original_agency"),
        "distributing_source": a.get("distributing_source"),
        "dateline": a.get("dateline_place"),
        "license_url": item_license(item),
        "usage_terms": a.get("usage_terms") or p.usage_terms,
        "rights": item_rights(item),
        "images": [
            {"url": i.url, "credit": i.credit, "credit_role": PHOTO_ROLE, "credit_scheme": EBU_SCHEME,
             "caption": i.caption, "type": i.type}
            for i in images
        ],
        "image_credits": a.get("image_credits") or [],
        "unplaced_image_credits": [c.get("credit") for c in unplaced if c.get("credit")],
        "source": {
            "id": source_id(item),
            "title": p.name,
            "updated": _rfc3339(p.updated or item.updated),
            "home_page_url": p.homepage,
            "feed_url": p.feed_url,
            "rights": source_rights(item),
            "license_url": p.license_url,
        },
        "source_feed": p.feed_url,
        "version": item.version,
        "carriers": list(item.carriers),
    }
    return entry


RENDERERS = {"atom": render_atom, "rss": render_rss, "json": render_json}
