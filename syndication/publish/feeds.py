"""Render a channel as Atom 1.0, RSS 2.0 and JSON Feed 1.1. Pure: same input, same bytes.

Written with lxml rather than feedgen: feedgen 1.0 drops link attributes (duplicate alternates),
stamps `updated` with the clock, cannot emit a complete atom:source or RSS dc:creator without email,
and changes the process locale while formatting dates (DESIGN.md, pitfalls). Building the tree
directly costs less code than patching all of that, and keeps the output deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

from lxml import etree

from syndication.publish.channels import ChannelSpec, PublishedItem

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
MEDIA = "http://search.yahoo.com/mrss/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
SYND = "https://syndication.example/ns/1.0"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR = "syndication"

LICENSE_NAMES = {
    "creativecommons.org/licenses/by/": "CC BY",
    "creativecommons.org/licenses/by-sa/": "CC BY-SA",
    "creativecommons.org/licenses/by-nd/": "CC BY-ND",
    "creativecommons.org/licenses/by-nc/": "CC BY-NC",
    "creativecommons.org/licenses/by-nc-sa/": "CC BY-NC-SA",
    "creativecommons.org/licenses/by-nc-nd/": "CC BY-NC-ND",
    "creativecommons.org/publicdomain/zero/": "CC0",
}


@dataclass(frozen=True, slots=True)
class FeedContext:
    public_url: str  # e.g. http://127.0.0.1:8000
    ttl_minutes: int = 15
    hub_url: str | None = None

    def channel_url(self, channel_id: str, ext: str) -> str:
        return f"{self.public_url.rstrip('/')}/feeds/{channel_id}.{ext}"


def license_name(url: str | None) -> str | None:
    if not url:
        return None
    for frag, name in LICENSE_NAMES.items():
        if frag in url:
            version = url.split(frag, 1)[1].strip("/").split("/")[0]
            return f"{name} {version}".strip()
    return None


def attribution_footer(item: PublishedItem) -> str:
    a = item.attribution
    credit = escape(a.get("credit") or item.partner.credit)
    agency = a.get("original_agency")
    clause = f", reporting by {escape(agency)}" if agency and agency.lower() != credit.lower() else ""
    url = a.get("original_url") or item.url
    parts = [f"Originally published by {credit}{clause}"]
    if url:
        parts[0] += f' at <a href="{escape(url)}">{escape(url)}</a>'
    parts[0] += "."
    lic = a.get("license_url")
    if lic:
        name = license_name(lic) or "Licence"
        parts.append(f'<a href="{escape(lic)}" rel="license">{escape(name)}</a>.')
    for credit_row in a.get("image_credits") or ():
        caption = credit_row.get("caption")
        label = f"{escape(caption)}: " if caption else ""
        parts.append(f"Photo: {label}{escape(credit_row.get('credit') or '')}.")
    return '<p class="syndication-attribution">' + " ".join(parts) + "</p>"


def content_with_footer(item: PublishedItem) -> str:
    return f"{item.content_html}\n{attribution_footer(item)}" if item.content_html else attribution_footer(item)


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(dt: datetime) -> str:
    # email.utils formats without touching the process locale (unlike strftime("%a")).
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def channel_updated(items: Sequence[PublishedItem]) -> datetime:
    return max((i.updated for i in items), default=EPOCH)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def render_atom(spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext) -> bytes:
    root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM, "media": MEDIA})
    if spec.language:
        root.set(f"{{{XML_NS}}}lang", spec.language)
    a = f"{{{ATOM}}}"
    self_url = ctx.channel_url(spec.id, "atom")
    _sub(root, a + "id", self_url)
    _sub(root, a + "title", spec.title)
    if spec.description:
        _sub(root, a + "subtitle", spec.description)
    _sub(root, a + "updated", _rfc3339(channel_updated(items)))
    _sub(root, a + "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(root, a + "link", rel="alternate", href=ctx.public_url.rstrip("/") + "/", type="text/html")
    if ctx.hub_url:
        _sub(root, a + "link", rel="hub", href=ctx.hub_url)
    _sub(root, a + "generator", GENERATOR)
    for item in items:
        _atom_entry(root, item, ctx)
    return _to_bytes(root)


def _atom_entry(root: etree._Element, item: PublishedItem, ctx: FeedContext) -> None:
    a = f"{{{ATOM}}}"
    entry = _sub(root, a + "entry")
    if item.language:
        entry.set(f"{{{XML_NS}}}lang", item.language)
    _sub(entry, a + "id", item.uid)
    _sub(entry, a + "title", item.title, type="text")
    if item.url:
        _sub(entry, a + "link", rel="alternate", href=item.url, type="text/html")
    _sub(entry, a + "published", _rfc3339(item.published))
    _sub(entry, a + "updated", _rfc3339(item.updated))
    for name in item.authors or (item.partner.credit,):
        author = _sub(entry, a + "author")
        _sub(author, a + "name", name)
    for cat in item.categories:
        _sub(entry, a + "category", term=cat)
    lic = item.attribution.get("license_url")
    if lic:
        _sub(entry, a + "link", rel="license", href=lic)
    rights = item.attribution.get("rights")
    if rights:
        _sub(entry, a + "rights", rights, type="text")
    src = _sub(entry, a + "source")
    p = item.partner
    _sub(src, a + "id", p.feed_url or p.homepage or f"urn:syndication:partner:{p.id}")
    _sub(src, a + "title", p.name)
    _sub(src, a + "updated", _rfc3339(p.updated or item.updated))
    if p.homepage:
        _sub(src, a + "link", rel="alternate", href=p.homepage, type="text/html")
    if p.feed_url:
        _sub(src, a + "link", rel="self", href=p.feed_url)
    if item.summary:
        _sub(entry, a + "summary", item.summary, type="text")
    _sub(entry, a + "content", content_with_footer(item), type="html")


def render_rss(spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext) -> bytes:
    root = etree.Element(
        "rss",
        {"version": "2.0"},
        nsmap={"atom": ATOM, "dc": DC, "dcterms": DCTERMS, "content": CONTENT, "media": MEDIA},
    )
    ch = _sub(root, "channel")
    _sub(ch, "title", spec.title)
    _sub(ch, "link", ctx.public_url.rstrip("/") + "/")
    _sub(ch, "description", spec.description or spec.title)
    if spec.language:
        _sub(ch, "language", spec.language)
    _sub(ch, "lastBuildDate", _rfc822(channel_updated(items)))
    _sub(ch, "generator", GENERATOR)
    _sub(ch, "ttl", str(ctx.ttl_minutes))
    _sub(ch, f"{{{ATOM}}}link", rel="self", href=ctx.channel_url(spec.id, "rss"), type="application/rss+xml")
    if ctx.hub_url:
        _sub(ch, f"{{{ATOM}}}link", rel="hub", href=ctx.hub_url)
    for item in items:
        it = _sub(ch, "item")
        _sub(it, "title", item.title)
        if item.url:
            _sub(it, "link", item.url)
        _sub(it, "guid", item.uid, isPermaLink="false")
        _sub(it, "pubDate", _rfc822(item.published))
        for name in item.authors:
            _sub(it, f"{{{DC}}}creator", name)
        for cat in item.categories:
            _sub(it, "category", cat)
        _sub(it, "description", content_with_footer(item))
        p = item.partner
        src_url = p.feed_url or p.homepage
        if src_url:
            _sub(it, "source", p.name, url=src_url)
        rights = item.attribution.get("rights")
        if rights:
            _sub(it, f"{{{DC}}}rights", rights)
        lic = item.attribution.get("license_url")
        if lic:
            _sub(it, f"{{{DCTERMS}}}license", lic)
        _sub(it, f"{{{DCTERMS}}}modified", _rfc3339(item.updated))
    return _to_bytes(root)


def render_json(spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext) -> bytes:
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": ctx.public_url.rstrip("/") + "/",
        "feed_url": ctx.channel_url(spec.id, "json"),
    }
    if spec.description:
        doc["description"] = spec.description
    if spec.language:
        doc["language"] = spec.language
    if ctx.hub_url:
        doc["hubs"] = [{"type": "WebSub", "url": ctx.hub_url}]
    out_items = []
    for item in items:
        a = item.attribution
        entry: dict[str, object] = {"id": item.uid, "title": item.title}
        if item.url:
            entry["url"] = item.url
        entry["content_html"] = content_with_footer(item)
        if item.summary:
            entry["summary"] = item.summary
        entry["date_published"] = _rfc3339(item.published)
        entry["date_modified"] = _rfc3339(item.updated)
        if item.authors:
            entry["authors"] = [{"name": n} for n in item.authors]
        if item.categories:
            entry["tags"] = list(item.categories)
        if item.language:
            entry["language"] = item.language
        entry["_syndication"] = {
            "partner": item.partner.id,
            "partner_name": item.partner.name,
            "credit": a.get("credit"),
            "original_url": a.get("original_url"),
            "original_agency": a.get("original_agency"),
            "distributing_source": a.get("distributing_source"),
            "dateline": a.get("dateline_place"),
            "license_url": a.get("license_url"),
            "usage_terms": a.get("usage_terms"),
            "rights": a.get("rights"),
            "image_credits": a.get("image_credits") or [],
            "source_feed": item.partner.feed_url,
            "version": item.version,
        }
        out_items.append(entry)
    doc["items"] = out_items
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


RENDERERS = {"atom": render_atom, "rss": render_rss, "json": render_json}
