"""Render a channel as Atom 1.0, RSS 2.0 (with feedgen) and JSON Feed 1.1 (ours). Pure: same input, same bytes.

Atom and RSS documents are built with feedgen; what feedgen 1.0 does not write, or writes in a way that
breaks a promise below, goes through our one extension (publish/feedgen_ext.py, which lists each
work-around). Promises: the same data gives the same bytes (no clock: every date comes from the data),
the output is W3C-valid, and every attribution field reaches every format.

Every item carries: title; `alternate` link to our copy ({public_url}/items/<id>) and `via` the
original; authors (RSS dc:creator); categories; published/updated; xml:lang; content with the
attribution footer; rights (atom:rights / dc:rights); licence (link rel=license / dcterms:license);
the partner's feed as atom:source (id, title, updated, links, rights) / RSS <source url>; images as
media:content with media:credit (EBU role, scheme urn:ebu) and media:description; syn:attribution with
every structured credit (credit, original URL, originating agency, distributing source, dateline, byline,
photo credits, usage terms, rights, licence, carriers; docs/subscribers.md). JSON Feed carries the same
under `_syndication`. Archive pages (RFC 5005) and tombstones (RFC 6721) are rendered here too.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import mimetypes
import operator
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import lxml.html
from lxml import etree

try:
    import orjson
except ImportError:  # an environment installed before orjson was a dependency: the standard library writes
    orjson = None  # type: ignore[assignment]

from syndication.kernel.lru import LiveMemo
from syndication.pipeline.policy import render_footer
from syndication.publish import feedgen_ext as fx
from syndication.publish.feedgen_ext import (
    AT,
    ATOM,
    CONTENT,
    DC,
    DCTERMS,
    EBU_SCHEME,
    FH,
    GENERATOR,
    MEDIA,
    PHOTO_ROLE,
    SYND,
    XML_NS,
    Image,
    Link,
    Node,
    Source,
    Tombstone,
    node,
    rfc3339,
)
from syndication.publish.published import ChannelSpec, PartnerInfo, PublishedItem

# The vocabulary lives with the extension; importers of feeds keep finding it here.
__all__ = ["AT", "ATOM", "CONTENT", "DC", "DCTERMS", "EBU_SCHEME", "FH", "GENERATOR", "MEDIA", "PHOTO_ROLE",
           "SYND", "XML_NS", "Image", "Tombstone"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Dataclasses and datetimes are passed through (to a TypeError): json.dumps cannot write them either.
_ORJSON_OPTIONS = (orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
                   if orjson is not None else 0)


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
class Extras:
    paging: Paging = field(default_factory=Paging)
    tombstones: tuple[Tombstone, ...] = ()


NO_EXTRAS = Extras()


ENTRY_OVERHEAD = 300  # bytes per entry beyond its data: the key tuple, its digest, the dict slot
# Item digests of the items in use (a digest and its bookkeeping, ~300 bytes each): ~7,000 items loaded at once.
DIGEST_MEMO_BYTES = 2 * 1024 * 1024


class FragmentCache:
    """Rendered entries (bytes, exactly as they appear inside their document), least recently used
    evicted beyond `max_bytes` (`cache.entries_mb`; keys and bookkeeping counted at ENTRY_OVERHEAD each).

    A channel document after one change differs from the previous one by one entry; re-rendering every
    entry of the window (lxml tree + footer + serialisation, or the pure-Python indented JSON encoder)
    was most of a publish. The key is everything the entry's bytes depend on: the format, the feed
    context, and a digest of the whole published item (so a change of any field, including the carriers
    a story-deduplicating channel adds, is a different entry; nothing relies on `version` being bumped).

    A miss asks `reread_from` (when set) before rendering: the publisher points it at the files it wrote, which hold
    every entry of every document written (publish.files.EntryFiles). A first import writes more entries than
    the bound holds (each item in its partner's channel, then again in `all`'s archive pages, rendered last), so
    without it the second use of an entry found it evicted and rendered it again. `recording()` lists the
    entries a document is made of, for the publisher to note where they sit once it is written.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, digest_bytes: int = DIGEST_MEMO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0  # rendered
        self.reread = 0  # found by `reread` (not rendered)
        self.reread_from: Callable[[Hashable], bytes | None] | None = None
        self._local = threading.local()  # .used: the list recording() fills on this thread, or absent
        # The digest of an item object, for its other formats (a document set renders each item 4 times), kept
        # while the object lives (kernel.lru.LiveMemo: the items are not held).
        self._digests: LiveMemo[bytes] = LiveMemo(digest_bytes)

    def digest(self, item: object, key: Callable[[], bytes] | None = None) -> bytes:
        """fingerprint(item), or key() for values that do not pickle as their content (ORM rows)."""
        return self._digests.get(item, partial(_digest_of, item, key))

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if data is None:
            found = self.reread_from(key) if self.reread_from is not None else None
            data = found if found is not None else make()  # outside the lock: rendering is the slow part
            with self._lock:
                if found is not None:
                    self.reread += 1
                else:
                    self.misses += 1
                if key not in self._entries:
                    self._entries[key] = data
                    self._size += len(data) + ENTRY_OVERHEAD
                    while self._size > self.max_bytes and self._entries:
                        _, old = self._entries.popitem(last=False)
                        self._size -= len(old) + ENTRY_OVERHEAD
        used = getattr(self._local, "used", None)
        if used is not None:
            used.append((key, data))
        return data

    @contextmanager
    def recording(self) -> Iterator[list[tuple[Hashable, bytes]]]:
        """The (key, bytes) of every entry got on this thread inside the block, in order."""
        used: list[tuple[Hashable, bytes]] = []
        outer = getattr(self._local, "used", None)
        self._local.used = used
        try:
            yield used
        finally:
            self._local.used = outer

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0
        self._digests.clear()

    def __len__(self) -> int:
        return len(self._entries)


# The publisher's cache (one per process; the web process never renders).
ENTRY_CACHE = FragmentCache()


def fingerprint(value: object) -> bytes:
    """A digest of a value's whole content. Equal pickles are equal values, so equal digests never
    stand for different renderings (unequal pickles of equal values only cost a cache miss)."""
    return _blake(pickle.dumps(value, protocol=5))


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(PublishedItem))
_PARTNER_FIELDS = tuple(f.name for f in dataclasses.fields(PartnerInfo))


# The fields' values as tuples, read in C (a generator of getattr calls was a third of the cost of a digest).
_item_values = operator.attrgetter(*_ITEM_FIELDS)
_partner_values = operator.attrgetter(*_PARTNER_FIELDS)
_PARTNER_AT = _ITEM_FIELDS.index("partner")


def _pickled(value: object) -> bytes:
    """pickle.dumps(value); a published item as the tuple of its fields' values (its partner's too): the same
    content, without the pickling of frozen dataclasses with slots field by field in Python (twice as slow)."""
    if type(value) is PublishedItem:
        values = _item_values(value)
        return pickle.dumps(("PublishedItem", *values[:_PARTNER_AT], _partner_values(value.partner),
                             *values[_PARTNER_AT + 1:]), protocol=5)
    return pickle.dumps(value, protocol=5)


def _blake(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _digest_of(item: object, key: Callable[[], bytes] | None) -> tuple[bytes, int]:
    value = key() if key is not None else _blake(_pickled(item))
    return value, len(value)


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


def indented_json(obj: object, *, floats: bool | None = None) -> bytes:
    """json.dumps(obj, ensure_ascii=False, indent=2), UTF-8 encoded.

    The standard library writes indented JSON in pure Python (its C encoder is for compact output only): that
    was a sixth of a first import's publish. orjson writes the same bytes (same layout, same escapes: tested on
    the real corpus and on generated values) for what a feed holds; where the two would differ (floats: orjson
    writes 1e16 where json writes 1e+16) or orjson refuses (ints beyond 64 bits, keys that are not strings,
    objects json cannot write either), json writes it. `floats`: whether `obj` may hold a float, when the caller
    knows it from what `obj` was made of (an item's entry: item_floats); None looks through `obj`."""
    if orjson is not None and not (_has_float(obj) if floats is None else floats):
        try:
            return orjson.dumps(obj, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8")


_NOT_FLOAT = frozenset({str, int, bool, type(None)})  # exact types: a subclass goes the isinstance way


def _has_float(obj: object) -> bool:
    """Whether a float is anywhere in `obj` (dict values, list and tuple members, nested). A loop, not a
    recursion of generators: it visits every value of every entry written as JSON (a tenth of the JSON cost)."""
    todo = [obj]
    while todo:
        value = todo.pop()
        if type(value) in _NOT_FLOAT:
            continue
        if isinstance(value, float):
            return True
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list | tuple):
            todo.extend(value)
    return False


def json_fragment(obj: object, level: int, *, floats: bool | None = None) -> bytes:
    """`obj` as json.dumps(indent=2) writes it at nesting `level` of a document (JSON strings hold no raw
    newline, so re-indenting lines is exact); `floats` as for indented_json."""
    pad = b"  " * level
    return pad + indented_json(obj, floats=floats).replace(b"\n", b"\n" + pad)


def json_with_items(doc: dict[str, object], fragments: Sequence[bytes]) -> bytes:
    """json.dumps(doc | {"items": [...]}, indent=2) + newline, with pre-rendered items (json_fragment
    level 2); "items" must be the document's last key."""
    doc = {**doc, "items": []}
    head = indented_json(doc) + b"\n"
    tail = b'"items": []\n}\n'
    if not head.endswith(tail):
        raise ValueError('"items" is not the last key of the JSON document')
    if not fragments:
        return head
    return b"".join((head[: len(head) - len(b"[]\n}\n")], b"[\n", b",\n".join(fragments), b"\n  ]\n}\n"))


def attribution_footer(item: PublishedItem) -> str:
    """Composed by the normalise core from the stored attribution and the partner's policy."""
    attribution = item.attribution
    terms = item_usage_terms(item)
    if terms and not attribution.get("usage_terms"):  # stored before the partner set terms
        attribution = {**attribution, "usage_terms": terms}
    return render_footer(
        attribution, fallback_credit=item.partner.credit, fallback_url=item.url, carriers=item.carriers
    )


def content_with_footer(item: PublishedItem) -> str:
    return _parts(item).content


def _content_with_footer(item: PublishedItem) -> str:
    return f"{item.content_html}\n{attribution_footer(item)}" if item.content_html else attribution_footer(item)


@dataclass(frozen=True, slots=True)
class _Parts:
    """What every format of an item's entry shows alike: its content with the footer, its images."""

    content: str
    images: tuple[Image, ...]
    unplaced: tuple[dict[str, Any], ...]
    floats: bool  # a float among the item's values (see item_floats)


def _make_parts(item: PublishedItem) -> tuple[_Parts, int]:
    images, unplaced = _item_images(item)
    floats = _has_float(_item_values(item)) or _has_float(_partner_values(item.partner))
    parts = _Parts(_content_with_footer(item), tuple(images), tuple(unplaced), floats)
    return parts, len(parts.content)


# An entry is rendered in four formats, one after the other (a channel's documents are rendered together), and the
# footer and the image scan (an HTML parse of the body) were a fifth of a first import's publish when made once per
# format: made once per item object while it is in use (kernel.lru.LiveMemo). Bounded by bytes of contents, not by
# count: 4 MB holds the parts of a window of 100 articles of 40 KB (the real corpus averages 7 KB); a larger window
# only makes the footer and the image scan once per format again for some items.
_PARTS = LiveMemo[_Parts](4 * 1024 * 1024)


def _parts(item: PublishedItem) -> _Parts:
    return _PARTS.get(item, partial(_make_parts, item))


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


def item_usage_terms(item: PublishedItem) -> str | None:
    return item.attribution.get("usage_terms") or item.partner.usage_terms


def source_rights(item: PublishedItem) -> str:
    """The partner feed's rights: its copyright line, else one built from its credit; never the usage terms
    (those are conditions of republication, not a rights statement: syn:usage-terms)."""
    p = item.partner
    year = str(item.published.astimezone(UTC).year)
    if p.copyright:
        return p.copyright.replace("{year}", year)
    return f"© {year} {p.credit}"


def source_id(item: PublishedItem) -> str:
    p = item.partner
    return p.feed_url or p.homepage or f"urn:syndication:partner:{p.id}"


@functools.lru_cache(maxsize=256)
def _img_sources(html: str) -> tuple[tuple[str, str | None], ...]:
    # By value: the partner's channel and `all` load the same body as two items (one parse for both when
    # they are published in the same run).
    if "<img" not in html:
        return ()
    try:
        frag = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ()
    out = []
    for img in frag.iter("img"):
        src = img.get("src")
        if src and src.startswith(("http://", "https://")):
            out.append((src, img.get("alt") or None))
    return tuple(out)


def _guess_type(url: str) -> str | None:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0], strict=True)
    return guessed if guessed and guessed.startswith("image/") else None


def item_floats(item: PublishedItem) -> bool:
    """Whether a float is among the item's values (its JSON fields, nested, and its partner's). An entry made
    from an item makes no number of its own (the version is written as it is, or as a string), so an entry
    without a float in its item holds none: its JSON is written without looking through it (_has_float over
    every value of every JSON and ninjs entry was a tenth of their cost), once per item, not once per format."""
    return _parts(item).floats


def item_images(item: PublishedItem) -> tuple[list[Image], list[dict[str, Any]]]:
    """Images (url + credit + caption) and the credits no image URL could be found for."""
    parts = _parts(item)
    return list(parts.images), list(parts.unplaced)


def _item_images(item: PublishedItem) -> tuple[list[Image], list[dict[str, Any]]]:
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


def _author_names(item: PublishedItem) -> list[str]:
    return [n for n in item.authors if n] or [item.partner.credit]


def _archive_links(spec: ChannelSpec, ctx: FeedContext, paging: Paging, ext: str) -> list[Link]:
    mime = EXT_TYPES[ext]
    links = []
    if paging.archive_page is not None:
        links.append(Link(ctx.channel_url(spec.id, ext), "current", mime))
    if paging.prev_archive is not None:
        links.append(Link(ctx.archive_url(spec.id, paging.prev_archive, ext), "prev-archive", mime))
    if paging.next_archive is not None:
        links.append(Link(ctx.archive_url(spec.id, paging.next_archive, ext), "next-archive", mime))
    return links


def _self_url(spec: ChannelSpec, ctx: FeedContext, paging: Paging, ext: str) -> str:
    if paging.archive_page is not None:
        return ctx.archive_url(spec.id, paging.archive_page, ext)
    return ctx.channel_url(spec.id, ext)


def _history_namespaces(namespaces: dict[str, str], extras: Extras, tombstones: bool) -> dict[str, str]:
    ns = dict(namespaces)
    if extras.paging.archive_page is not None or extras.paging.prev_archive is not None:
        ns["fh"] = FH
    if tombstones and extras.tombstones:
        ns["at"] = AT
    return ns


def cached_entries(
    cache: FragmentCache, fmt: str, render: Callable[[PublishedItem, FeedContext], bytes],
    items: Sequence[PublishedItem], ctx: FeedContext,
) -> list[bytes]:
    return [cache.get((fmt, ctx, cache.digest(item)), partial(render, item, ctx)) for item in items]


def attribution_node(item: PublishedItem) -> Node:
    """syn:attribution: every credit of the item, including those only the footer and JSON Feed named before
    (usage terms, distributing source, originating agency, byline, dateline, photo credits, carriers)."""
    a = item.attribution
    photo = [c for c in (a.get("image_credits") or ()) if isinstance(c, dict) and c.get("credit")]
    return node("attribution", children=[
        n for n in (
            node("credit", a.get("credit") or item.partner.credit),
            a.get("original_url") and node("original-url", a["original_url"]),
            a.get("original_agency") and node("original-agency", a["original_agency"]),
            a.get("distributing_source") and node("distributing-source", a["distributing_source"]),
            a.get("dateline_place") and node("dateline", a["dateline_place"], date=a.get("dateline_date")),
            *(node("byline", name) for name in (a.get("authors") or item.authors) if name),
            *(node("photo-credit", c["credit"], caption=c.get("caption"), url=c.get("url")) for c in photo),
            item_usage_terms(item) and node("usage-terms", item_usage_terms(item)),
            node("rights", item_rights(item)),
            item_license(item) and node("license-url", item_license(item)),
            *(node("carrier", c.get("credit") or c.get("partner_name") or c.get("partner_id"),
                   partner=c.get("partner_id"), href=c.get("url")) for c in item.carriers),
        ) if n
    ])


def render_atom(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The Atom document; with a cache, entries are spliced in from it (same bytes, see FragmentCache)."""
    fg = _atom_feed(spec, items, ctx, extras)
    if cache is None:
        fx.add_entries(fg, (_atom_entry(item, ctx) for item in items))
        return fx.atom_bytes(fg)
    return splice_xml(fx.atom_bytes(fg), b"</feed>\n", cached_entries(cache, "atom", atom_entry_bytes, items, ctx))


def atom_entry_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    root = fx.atom_template()
    root.append(_atom_entry(item, ctx).atom_entry())
    return xml_children(root, b"feed")


def _atom_feed(spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras) -> Any:
    paging = extras.paging
    fg = fx.new_feed("atom", title=spec.title, updated=channel_updated(items, extras.tombstones),
                     namespaces=_history_namespaces(fx.ATOM_NAMESPACES, extras, tombstones=True))
    fg.id(ctx.channel_url(spec.id, "atom"))
    if spec.description:
        fg.subtitle(spec.description)
    if spec.language:
        fg.language(spec.language)  # the feed's xml:lang
    fg.link(href=_self_url(spec, ctx, paging, "atom"), rel="self", type=EXT_TYPES["atom"])
    fg.link(href=ctx.base + "/", rel="alternate", type="text/html")
    if ctx.hub_url and paging.archive_page is None:
        fg.link(href=ctx.hub_url, rel="hub")
    for link in _archive_links(spec, ctx, paging, "atom"):
        fg.link(href=link.href, rel=link.rel, type=link.type)
    fg.synd.archive(paging.archive_page is not None)
    fg.synd.tombstones(extras.tombstones)
    return fg


def _atom_entry(item: PublishedItem, ctx: FeedContext) -> Any:
    fe = fx.new_entry("atom", title=item.title, published=item.published, updated=item.updated)
    fe.id(item.uid)
    for name in _author_names(item):
        fe.author(name=name)
    fe.content(content_with_footer(item), type="html")
    if item.summary:
        fe.summary(item.summary, type="text")
    for cat in item.categories:
        fe.category(term=cat)
    fe.rights(item_rights(item))
    p = item.partner
    fe.synd.lang(item.language)
    links = [Link(ctx.item_url(item.id), "alternate", "text/html")]
    if item.url:
        links.append(Link(item.url, "via", "text/html"))
    lic = item_license(item)
    if lic:
        links.append(Link(lic, "license"))
    fe.synd.links(links)
    fe.synd.source(Source(source_id(item), p.name, p.updated or item.updated, p.homepage, p.feed_url,
                          p.license_url, source_rights(item)))
    fe.synd.media(*_media(item))
    fe.synd.element(attribution_node(item))
    return fe


def _media(item: PublishedItem) -> tuple[list[Image], list[str]]:
    images, unplaced = item_images(item)
    return images, [c["credit"] for c in unplaced if c.get("credit")]


def render_rss(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The RSS document; with a cache, items are spliced in from it (same bytes, see FragmentCache)."""
    fg = _rss_feed(spec, items, ctx, extras)
    if cache is None:
        fx.add_entries(fg, (_rss_item(item, ctx) for item in items))
        return fx.rss_bytes(fg)
    return splice_xml(
        fx.rss_bytes(fg), b"  </channel>\n</rss>\n", cached_entries(cache, "rss", rss_item_bytes, items, ctx),
    )


def rss_item_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    root = fx.rss_template()
    root[0].append(_rss_item(item, ctx).rss_entry())
    return xml_children(root, b"channel")


def _rss_feed(spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras) -> Any:
    paging = extras.paging
    fg = fx.new_feed("rss", title=spec.title, updated=channel_updated(items, extras.tombstones),
                     namespaces=_history_namespaces(fx.RSS_NAMESPACES, extras, tombstones=False))
    fg.description(spec.description or spec.title or GENERATOR)
    fg.link(href=_self_url(spec, ctx, paging, "rss"), rel="self", type=EXT_TYPES["rss"])  # feedgen: atom:link
    fg.link(href=ctx.base + "/", rel="alternate")  # feedgen: the channel <link> is the last link added
    if spec.language:
        fg.language(spec.language)
    fg.ttl(ctx.ttl_minutes)
    links = [Link(ctx.hub_url, "hub")] if ctx.hub_url and paging.archive_page is None else []
    fg.synd.links(links + _archive_links(spec, ctx, paging, "rss"))
    fg.synd.archive(paging.archive_page is not None)
    return fg


def _rss_item(item: PublishedItem, ctx: FeedContext) -> Any:
    fe = fx.new_entry("rss", title=item.title, published=item.published, updated=item.updated)
    fe.id(item.uid)  # feedgen: <guid isPermaLink="false">
    fe.link(href=ctx.item_url(item.id))
    fe.description(content_with_footer(item))
    for cat in item.categories:
        fe.category(term=cat)
    p = item.partner
    fe.source(url=p.feed_url or p.homepage or ctx.base + "/", title=p.name)
    links = [Link(item.url, "via", "text/html")] if item.url else []
    lic = item_license(item)
    if lic:
        links.append(Link(lic, "license"))
    fe.synd.links(links)
    fe.synd.creators(_author_names(item))
    fe.synd.lang(item.language)
    fe.synd.rights(item_rights(item))
    fe.synd.license(lic)
    fe.synd.media(*_media(item))
    fe.synd.element(attribution_node(item))
    return fe


def render_json(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The JSON Feed document; with a cache, items are spliced in from it (same bytes, see FragmentCache)."""
    doc = _json_head(spec, items, ctx, extras)
    if cache is None:
        doc["items"] = [_json_item(item, ctx) for item in items]
        return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
    return json_with_items(doc, cached_entries(cache, "json", json_item_bytes, items, ctx))


def json_item_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    return json_fragment(_json_item(item, ctx), 2, floats=item_floats(item))


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
                                   "updated": rfc3339(channel_updated(items, extras.tombstones))}
    if paging.archive_page is not None:
        feed_ext["archive"] = True
        feed_ext["current"] = ctx.channel_url(spec.id, "json")
    if paging.prev_archive is not None:
        feed_ext["prev_archive"] = ctx.archive_url(spec.id, paging.prev_archive, "json")
    if paging.next_archive is not None:
        feed_ext["next_archive"] = ctx.archive_url(spec.id, paging.next_archive, "json")
    if extras.tombstones:
        feed_ext["deleted"] = [
            {"ref": t.ref, "when": rfc3339(t.when), "comment": t.comment} for t in extras.tombstones
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
    entry["date_published"] = rfc3339(item.published)
    entry["date_modified"] = rfc3339(item.updated)
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
        "usage_terms": item_usage_terms(item),
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
            "updated": rfc3339(p.updated or item.updated),
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
