"""ParsedEntry + partner policy -> NormalisedItem, or a Rejection. Pure: `now` is an argument."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from syndication.domain import (
    Attribution,
    ImageCredit,
    NormalisedItem,
    ParsedEntry,
    ParsedFeed,
    PartnerPolicy,
    Rejection,
)
from syndication.pipeline.attribute import extract
from syndication.pipeline.sanitize import clean_url, sanitize_html
from syndication.pipeline.text import clean_text, plain_text

FUTURE_TOLERANCE = timedelta(days=1)
WITHDRAWN_WORDS = {"withdrawn", "withdraw", "canceled", "cancelled", "kill", "killed"}


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def assign_keys(
    entries: Sequence[ParsedEntry], base: str | None = None
) -> list[tuple[str | None, str | None]]:
    """Identity per entry: (key, None) or (None, rejection reason) for an in-document duplicate.

    The partner's guid is used unless it is missing, shared by all entries, or shared by entries that
    are different items; then the canonical link, then title + date.
    """
    guids = [clean_text(e.guid) or None for e in entries]
    links = [clean_url(e.link, base) for e in entries]
    counts = Counter(g for g in guids if g)
    shared_by_all = len(entries) > 1 and len(counts) == 1 and next(iter(counts.values())) == len(entries)
    result: list[tuple[str | None, str | None]] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        guid, link = guids[i], links[i]
        key: str | None = None
        if guid and not shared_by_all:
            if counts[guid] == 1:
                key = "g:" + _digest(guid)[:40]
            else:
                # The same guid more than once: same link means the same item repeated.
                same = [j for j in range(len(entries)) if guids[j] == guid and links[j] == link]
                distinct_links = {links[j] for j in range(len(entries)) if guids[j] == guid}
                if len(distinct_links) == 1 or len(same) > 1:
                    parts = (guid, link or "") if len(distinct_links) > 1 else (guid,)
                    key = "g:" + _digest(*parts)[:40]
        if key is None and link:
            key = "l:" + _digest(link)[:40]
        if key is None:
            title = plain_text(entry.title)
            date = (entry.published or entry.updated)
            if not title and not date:
                result.append((None, "entry has no id, link, title or date to identify it"))
                continue
            key = "t:" + _digest(title, date.isoformat() if date else "")[:40]
        if key in seen:
            result.append((None, f"duplicate of entry {seen[key] + 1} in the same document"))
            continue
        seen[key] = i
        result.append((key, None))
    return result


def normalise_entry(
    entry: ParsedEntry,
    key: str,
    policy: PartnerPolicy,
    *,
    now: datetime,
    feed_link: str | None = None,
    feed_language: str | None = None,
    document_url: str | None = None,
) -> NormalisedItem | Rejection:
    base = entry.base_url or feed_link or document_url
    link = clean_url(entry.link, base) or clean_url(entry.guid if _looks_like_url(entry.guid) else None)
    base = entry.base_url or link or feed_link or document_url
    title = plain_text(entry.title)
    raw_html = entry.content_html or entry.summary_html or ""
    body = sanitize_html(raw_html, base)
    ex = extract(body)
    body = sanitize_html(ex.html, base) if ex.html != body else body
    if not title:
        title = _title_from_body(body)
    if not title and not body:
        return Rejection(guid=entry.guid, reason="entry has neither title nor content")
    summary = plain_text(entry.summary_html) if entry.content_html and entry.summary_html else None
    if summary and len(summary) > 600:
        summary = summary[:597].rsplit(" ", 1)[0] + "…"

    flags: list[str] = []
    published = entry.published or entry.updated or now
    if published > now + FUTURE_TOLERANCE:
        published = now
        flags.append("future_date_clamped")
    updated = entry.updated or published
    if updated > now + FUTURE_TOLERANCE:
        updated = now
        if "future_date_clamped" not in flags:
            flags.append("future_date_clamped")
    updated = max(updated, published)

    authors = _dedupe(clean_text(a) for a in (*entry.authors, *ex.bylines) if "@" not in a or "(" in a)
    authors = tuple(_strip_email(a) for a in authors if _strip_email(a))
    categories = _dedupe(clean_text(c) for c in entry.categories)
    credits = ex.image_credits
    if entry.image_credit:
        credits = (ImageCredit(credit=clean_text(entry.image_credit)), *credits)
    agency = clean_text(entry.original_agency) or ex.original_agency or ex.dateline_agency
    rights = policy.copyright.format(year=published.year, credit=policy.credit) if policy.copyright else None
    attribution = Attribution(
        credit=policy.credit,
        partner_id=policy.id,
        partner_name=policy.name,
        original_url=link,
        license_url=policy.license_url,
        usage_terms=policy.usage_terms,
        rights=rights,
        authors=authors,
        distributing_source=ex.distributing_source,
        original_agency=agency or None,
        dateline_place=ex.dateline_place or ex.source_place,
        dateline_date=ex.dateline_date,
        image_credits=credits,
        extracted=ex.lines,
    )
    status = (entry.status or "usable").lower()
    if status in WITHDRAWN_WORDS:
        status = "withdrawn"
    elif status in ("corrected", "correction") or title.upper().startswith(("CORRECTION:", "CORRECTED:")) or any(
        c.lower() in ("correction", "corrected") for c in categories
    ):
        status = "corrected"
    else:
        status = "usable"
    language = clean_text(entry.language or feed_language or policy.language) or None
    content_hash = _digest(
        title, body, link or "", json.dumps(authors), json.dumps(categories), status == "withdrawn" and "w" or ""
    )
    return NormalisedItem(
        partner_id=policy.id,
        key=key,
        guid=clean_text(entry.guid) or None,
        url=link,
        title=title,
        content_html=body,
        summary=summary,
        authors=authors,
        categories=categories,
        published=published,
        updated=updated,
        language=language,
        attribution=attribution,
        content_hash=content_hash,
        status=status,
        change_note=clean_text(entry.change_note) or None,
        embargo_until=entry.embargo_until,
        flags=tuple(flags),
    )


def normalise_feed(
    feed: ParsedFeed, policy: PartnerPolicy, *, now: datetime, document_url: str | None = None
) -> tuple[list[NormalisedItem], list[Rejection]]:
    items: list[NormalisedItem] = []
    rejections: list[Rejection] = []
    feed_link = clean_url(feed.link, document_url)
    for entry, (key, reason) in zip(feed.entries, assign_keys(feed.entries, feed_link or document_url), strict=True):
        if key is None:
            rejections.append(Rejection(guid=entry.guid, reason=reason or "rejected"))
            continue
        out = normalise_entry(
            entry, key, policy, now=now, feed_link=feed_link, feed_language=feed.language,
            document_url=document_url,
        )
        (rejections if isinstance(out, Rejection) else items).append(out)  # type: ignore[arg-type]
    return items, rejections


def _looks_like_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("http://", "https://"))


def _title_from_body(body: str) -> str:
    text = plain_text(body)
    if len(text) <= 80:
        return text
    return text[:77].rsplit(" ", 1)[0] + "…"


def _strip_email(author: str) -> str:
    # "jane@example.org (Jane Doe)" -> "Jane Doe"; "Jane <jane@x>" -> "Jane"
    if "(" in author and author.endswith(")") and "@" in author.split("(", 1)[0]:
        return author.split("(", 1)[1][:-1].strip()
    if "<" in author and "@" in author:
        return author.split("<", 1)[0].strip()
    return "" if "@" in author else author


def _dedupe(values: object) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:  # type: ignore[attr-defined]
        if v and v not in out:
            out.append(v)
    return tuple(out)
