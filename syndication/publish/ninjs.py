"""Render a channel, and one item, as IPTC ninjs 2.2 (News in JSON). Pure: same input, same bytes.

A channel document is our own wrapper object (the channel's metadata, paging and tombstones, then
`items`), each item a ninjs 2.2 document valid against IPTC's schema (syndication/intake/schemas/
ninjs-schema_2.2.json); newsroom systems that ingest ninjs can take the items one by one. The same
document is served alone at /items/<id>.ninjs.json.

Our attribution goes into ninjs's own fields: `copyrightholder`, `copyrightnotice`, `usageterms`,
`rightsinfo.linkedrights` (the licence), `by`, `located` (+ `places`), `infosources` (the partner as
distributor, the originating agency as originator, other distributors and carriers), `associations`
(photos with their renditions, credit line in `by`, caption), `altids` (the partner's guid and its URL).
The credit line is `descriptions[role=creditline]` (as agencies send it, and what a reader of ninjs skips
when it looks for a summary: the summary is `descriptions[role=summary]`); the body carries
the attribution footer as in every other format. Withdrawn items leave `items` and appear in `deleted` as
ninjs documents with `pubstatus: canceled` for `publish.tombstone_days` (like Atom's tombstones).

Every URI-typed field holds an absolute RFC 3986 URI or is left out: a partner's URL with a space or a
non-ASCII letter is percent-encoded (RFC 3987 3.1), and one that is still no URI (no scheme) is dropped.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from syndication.publish.feeds import (
    GENERATOR,
    NO_EXTRAS,
    Extras,
    FeedContext,
    FragmentCache,
    Paging,
    Tombstone,
    cached_entries,
    channel_updated,
    content_with_footer,
    item_floats,
    item_images,
    item_license,
    item_rights,
    item_usage_terms,
    json_fragment,
    json_with_items,
    rfc3339,
)
from syndication.publish.published import EXTENSIONS, ITEM_NAMESPACE, ChannelSpec, PublishedItem

NINJS_VERSION = "2.2"
NINJS_SCHEMA = "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json"
STANDARD = {"name": "ninjs", "version": NINJS_VERSION, "schema": NINJS_SCHEMA}
EXT = EXTENSIONS["ninjs"]  # feeds/<channel>.ninjs.json, feeds/<channel>/archive/<n>.ninjs.json
# infosources roles: plain words (ninjs 2.2 leaves the vocabulary open).
DISTRIBUTOR = "distributor"
ORIGINATOR = "originator"

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_URI_SAFE = "-._~:/?#[]@!$&'()*+,;=%"


def as_uri(value: object) -> str | None:
    """`value` as an absolute URI (an IRI percent-encoded), or None when it cannot be one."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = quote(value.strip(), safe=_URI_SAFE)
    return text if _URI.fullmatch(text) else None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _sub_uri(item: PublishedItem, kind: str, key: str) -> str:
    """A stable identifier for a part of an item (a photo), from the item's uid: same part, same URI."""
    return f"urn:uuid:{uuid.uuid5(ITEM_NAMESPACE, f'{item.uid}/{kind}/{key}')}"


def _party(name: str, role: str, uri: object = None) -> dict[str, str]:
    party = {"name": name, "role": role}
    link = as_uri(uri)
    if link:
        party["uri"] = link
    return party


def infosources(item: PublishedItem) -> list[dict[str, str]]:
    """Who the story came through: the partner (distributor to us), the originating agency, then other
    distributors (a credit line's source, the other partners carrying the story); each name once."""
    a, p = item.attribution, item.partner
    parties = [_party(p.name, DISTRIBUTOR, p.homepage or p.feed_url)]
    agency = _text(a.get("original_agency"))
    if agency:
        parties.append(_party(agency, ORIGINATOR))
    distributing = _text(a.get("distributing_source"))
    if distributing:
        parties.append(_party(distributing, DISTRIBUTOR))
    for c in item.carriers:
        name = _text(c.get("partner_name")) or _text(c.get("credit"))
        if name:
            parties.append(_party(name, DISTRIBUTOR))
    seen: set[str] = set()
    out = []
    for party in parties:
        if party["name"].casefold() not in seen:
            seen.add(party["name"].casefold())
            out.append(party)
    return out


def _byline(item: PublishedItem) -> str | None:
    names = [n for n in (item.attribution.get("authors") or item.authors) if isinstance(n, str) and n.strip()]
    return ", ".join(n.strip() for n in names) or None


def associations(item: PublishedItem) -> list[dict[str, Any]]:
    """The item's photos: a `picture` each, its URL as the rendition, its credit line in `by` (as agencies
    put it in ninjs 2.x), its caption as a description; photo credits with no image URL still appear."""
    images, unplaced = item_images(item)
    out: list[dict[str, Any]] = []
    for n, image in enumerate(images, 1):
        assoc: dict[str, Any] = {"name": f"picture{n}", "uri": _sub_uri(item, "picture", image.url),
                                 "type": "picture", "representationtype": "partial"}
        if image.credit:
            assoc["by"] = image.credit
        if image.caption:
            assoc["descriptions"] = [{"role": "caption", "value": image.caption}]
        href = as_uri(image.url)
        if href:
            rendition = {"name": "original", "href": href}
            if image.type:
                rendition["contenttype"] = image.type
            assoc["renditions"] = [rendition]
        out.append(assoc)
    for n, c in enumerate((c for c in unplaced if _text(c.get("credit"))), len(out) + 1):
        assoc = {"name": f"picture{n}", "uri": _sub_uri(item, "credit", f"{n}/{c['credit']}"),
                 "type": "picture", "representationtype": "partial", "by": str(c["credit"])}
        if _text(c.get("caption")):
            assoc["descriptions"] = [{"role": "caption", "value": str(c["caption"])}]
        out.append(assoc)
    return out


def ninjs_item(item: PublishedItem, ctx: FeedContext) -> dict[str, Any]:
    """One published item as a ninjs 2.2 document."""
    a, p = item.attribution, item.partner
    doc: dict[str, Any] = {
        "uri": item.uid,
        "standard": dict(STANDARD),
        # What an agency stated (a picture, a package) stays what it is; everything else is a story.
        "type": a.get("item_type") if a.get("item_type") in ("picture", "composite") else "text",
        "representationtype": "full",
        "version": str(item.version),
        "firstcreated": rfc3339(item.published),
        "versioncreated": rfc3339(item.updated),
        "pubstatus": "usable",
    }
    if item.language:
        doc["language"] = item.language
    doc["headlines"] = [{"role": "main", "value": item.title}]
    descriptions = []
    if item.summary:
        descriptions.append({"role": "summary", "contenttype": "text/plain", "value": item.summary})
    # The credit to show: a wire partner's own credit line, else the credit we give the partner.
    credit = _text(a.get("credit_line")) or _text(a.get("credit")) or p.credit
    descriptions.append({"role": "creditline", "value": credit})
    doc["descriptions"] = descriptions
    doc["bodies"] = [{"role": "main", "contenttype": "text/html", "value": content_with_footer(item)}]
    by = _byline(item)
    if by:
        doc["by"] = by
    located = _text(a.get("dateline_place"))  # a wire partner's `located`, else the copy's dateline
    if located:
        doc["located"] = located
        doc["places"] = [{"name": located, "rel": "located"}]
    if item.categories:
        doc["subjects"] = [{"name": c} for c in item.categories]
    # What a wire partner stated (attribution.copyright_holder/notice) travels on as it was sent.
    doc["copyrightholder"] = _text(a.get("copyright_holder")) or _text(a.get("original_agency")) or p.name
    doc["copyrightnotice"] = _text(a.get("copyright_notice")) or item_rights(item)
    terms = item_usage_terms(item)
    if terms:
        doc["usageterms"] = terms
    licence = as_uri(item_license(item))
    if licence:
        doc["rightsinfo"] = {"linkedrights": licence}
    doc["infosources"] = infosources(item)
    photos = associations(item)
    if photos:
        doc["associations"] = photos
    altids = [{"role": "partner", "value": p.id}]
    if item.guid:
        altids.append({"role": "guid", "value": item.guid})
    if item.url:
        altids.append({"role": "original-url", "value": item.url})
    doc["altids"] = altids
    doc["renditions"] = [
        {"name": "html", "href": ctx.item_url(item.id), "contenttype": "text/html"},
        {"name": "ninjs", "href": item_ninjs_url(ctx, item.id), "contenttype": "application/json"},
    ]
    return doc


def item_ninjs_url(ctx: FeedContext, item_id: int) -> str:
    return f"{ctx.item_url(item_id)}.{EXT}"


def ninjs_item_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    """One item alone (/items/<id>.ninjs.json): the same document as in the channel files."""
    return (json.dumps(ninjs_item(item, ctx), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _entry_bytes(item: PublishedItem, ctx: FeedContext) -> bytes:
    return json_fragment(ninjs_item(item, ctx), 2, floats=item_floats(item))


def canceled(stone: Tombstone) -> dict[str, Any]:
    """A withdrawn item's tombstone as ninjs: its uri, `pubstatus: canceled` and the partner's reason."""
    doc: dict[str, Any] = {"uri": stone.ref, "standard": dict(STANDARD), "versioncreated": rfc3339(stone.when),
                           "pubstatus": "canceled"}
    if stone.comment:
        doc["ednote"] = stone.comment
    return doc


def _head(spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras) -> dict[str, Any]:
    paging: Paging = extras.paging
    current = ctx.channel_url(spec.id, EXT)
    doc: dict[str, Any] = {
        "standard": dict(STANDARD),
        "channel": spec.id,
        "title": spec.title,
    }
    if spec.description:
        doc["description"] = spec.description
    if spec.language:
        doc["language"] = spec.language
    doc["home_page_url"] = ctx.base + "/"
    doc["feed_url"] = current if paging.archive_page is None else ctx.archive_url(spec.id, paging.archive_page, EXT)
    doc["updated"] = rfc3339(channel_updated(items, extras.tombstones))
    doc["ttl"] = ctx.ttl_minutes
    doc["generator"] = GENERATOR
    if ctx.hub_url and paging.archive_page is None:
        doc["hubs"] = [{"type": "WebSub", "url": ctx.hub_url}]
    if paging.archive_page is not None:
        doc["archive"] = True
        doc["current"] = current
    if paging.prev_archive is not None:
        doc["prev_archive"] = ctx.archive_url(spec.id, paging.prev_archive, EXT)
    if paging.next_archive is not None:
        doc["next_archive"] = ctx.archive_url(spec.id, paging.next_archive, EXT)
    if extras.tombstones:
        doc["deleted"] = [canceled(t) for t in extras.tombstones]
    return doc


def render_ninjs(
    spec: ChannelSpec, items: Sequence[PublishedItem], ctx: FeedContext, extras: Extras = NO_EXTRAS,
    cache: FragmentCache | None = None,
) -> bytes:
    """The channel's ninjs document; with a cache, items are spliced in from it (same bytes)."""
    doc = _head(spec, items, ctx, extras)
    if cache is None:
        doc["items"] = [ninjs_item(item, ctx) for item in items]
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return json_with_items(doc, cached_entries(cache, "ninjs", _entry_bytes, items, ctx))
