"""ParsedEntry + partner policy -> NormalisedItem, or a Rejection. Pure: `now` is an argument."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from syndication.kernel.domain import (
    Attribution,
    DateSetAside,
    ImageCredit,
    NormalisedItem,
    ParsedEntry,
    ParsedFeed,
    PartnerPolicy,
    Rejection,
)
from syndication.pipeline.attribute import (
    Dateline,
    Extraction,
    FurnitureRules,
    extract,
    match_byline,
    match_dateline,
    strip_selected,
)
from syndication.pipeline.credits import credit_rules, not_carried
from syndication.pipeline.dates import (
    IN_FUTURE,
    LATEST_EMBARGO,
    PartnerDate,
    embargo_date,
    partner_date,
    shifted,
    to_utc,
)
from syndication.pipeline.dedupe import fingerprint
from syndication.pipeline.policy import license_name, rights_line
from syndication.pipeline.sanitize import clean_url, sanitize_html
from syndication.pipeline.text import (
    clean_text,
    mark_forbidden_references,
    plain_text,
    plain_text_head,
    xml_legal,
)

WITHDRAWN_WORDS = {"withdrawn", "withdraw", "canceled", "cancelled", "kill", "killed"}
WITHHELD = "withheld"


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
    now = as_utc(now)
    base = entry.base_url or feed_link or document_url
    link = clean_url(entry.link, base) or clean_url(entry.guid if _looks_like_url(entry.guid) else None)
    base = entry.base_url or link or feed_link or document_url
    title = plain_text(entry.title)
    body, ex = _clean_body(entry.content_html or entry.summary_html or "", base, policy)
    if not title:
        title = _title_from_body(body)
    if not title and not body:
        return Rejection(guid=entry.guid, reason="entry has neither title nor content")
    # Only the first 600 characters of the summary's text are kept: long HTML is read no further than needed.
    summary = plain_text_head(entry.summary_html, 600) if entry.content_html and entry.summary_html else None
    if summary and len(summary) > 600:
        summary = summary[:597].rsplit(" ", 1)[0] + "…"

    published, updated, emb, set_aside, flags = _entry_dates(entry, now)
    attribution = _attribution(entry, policy, ex, body, link, published)
    authors = attribution.authors
    categories = _dedupe(clean_text(c) for c in entry.categories)
    status = entry_status(entry.status, title, categories)
    language = next(
        (tag for tag in map(_language, (entry.language, feed_language, policy.language)) if tag), None
    )
    content_hash = _digest(
        title, body, link or "", json.dumps(authors), json.dumps(categories), status == "withdrawn" and "w" or "",
        *(_wire_terms(attribution) if entry.wire is not None else ()),
    )
    embargo = emb.value
    if clean_text(entry.status).lower() == WITHHELD:
        # Withheld (ninjs/NewsML-G2 pubstatus): stored, published to no one, like an embargo without an end,
        # until a later version is usable (its own embargo, or none, replaces this one: pipeline/ingest.py).
        embargo = LATEST_EMBARGO
        flags.append(WITHHELD)
    elif entry.embargo_until is None and policy.embargo_delay > 0:
        embargo = min(shifted(published, timedelta(seconds=policy.embargo_delay)), LATEST_EMBARGO)
        flags.append("embargo_from_policy")
    fp = fingerprint(link, title, body, published)
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
        embargo_until=embargo,
        flags=tuple(flags),
        fingerprinted=True,
        title_key=fp.title_key,
        body_hash=fp.body_hash,
        simhash=fp.simhash,
        dates_set_aside=set_aside,
    )


def _clean_body(raw_html: str, base: str | None, policy: PartnerPolicy) -> tuple[str, Extraction]:
    """The entry's HTML sanitised, the partner's furniture and credit lines taken out (read but kept when it
    forbids derivatives); and what the extraction found."""
    if policy.furniture_selectors:
        # lxml decodes references too: those to characters XML forbids are marked for sanitize_html to drop.
        raw_html = xml_legal(raw_html)
        raw_html = strip_selected(mark_forbidden_references(raw_html) or raw_html, policy.furniture_selectors)
    body = sanitize_html(raw_html, base, iframe_hosts=policy.allowed_iframe_hosts)
    rules = FurnitureRules(
        selectors=policy.furniture_selectors, patterns=policy.furniture_patterns,
        credits=credit_rules(policy.credit_patterns, policy.credit_agencies),
    )
    ex = extract(body, rules, remove=not policy.no_derivatives)
    if ex.html != body:
        body = sanitize_html(ex.html, base, iframe_hosts=policy.allowed_iframe_hosts, urls_clean=True)
    if not body.isascii() and not unicodedata.is_normalized("NFC", body):
        # Parsing can bring a combining mark next to its letter ("Baku<td>\u0300</td>" -> "Baku\u0300"): NFC
        # once more, or the next normalisation of the same body would change it.
        body = unicodedata.normalize("NFC", body)
    return body, ex


def _entry_dates(
    entry: ParsedEntry, now: datetime
) -> tuple[datetime, datetime, PartnerDate, tuple[DateSetAside, ...], list[str]]:
    """Published, updated, the embargo, the dates set aside and the flags they raise. Every date passes
    pipeline/dates.py's policy: in range and UTC, or set aside with the partner's text."""
    flags: list[str] = []
    pub = partner_date("published", entry.published, entry.published_raw, now)
    upd = partner_date("updated", entry.updated, entry.updated_raw, now)
    if entry.updated == entry.published and upd.set_aside is not None and pub.set_aside is not None:
        upd = PartnerDate(None)  # feedparser gives an RSS item's pubDate as `updated` too: one note is enough
    emb = embargo_date(entry.embargo_until)
    set_aside = tuple(d.set_aside for d in (pub, upd, emb) if d.set_aside is not None)
    published = pub.value or upd.value or now
    future = any(s.reason == IN_FUTURE for s in set_aside)
    if future:
        flags.append("future_date_clamped")
    if pub.value is None and upd.value is None and not future:
        flags.append("date_missing")
    if any(s.reason != IN_FUTURE for s in set_aside):
        flags.append("date_set_aside")
    future_update = upd.set_aside is not None and upd.set_aside.reason == IN_FUTURE
    updated = max(upd.value or (now if future_update else published), published)
    return published, updated, emb, set_aside, flags


def _attribution(
    entry: ParsedEntry, policy: PartnerPolicy, ex: Extraction, body: str, link: str | None, published: datetime
) -> Attribution:
    """Who wrote, photographed, sourced and licenses the entry, and where each was found (`extracted_from`)."""
    sources: list[str] = []
    entry_authors = [clean_text(a) for a in entry.authors]
    authors = _dedupe(_strip_email(a) for a in (*entry_authors, *ex.bylines))
    if entry_authors:
        sources.append("authors:entry")
    if ex.bylines:
        sources.append("authors:body-byline")
    default_credit = clean_text(policy.default_image_credit) or None
    credits = tuple(
        c if c.credit or not default_credit else ImageCredit(credit=default_credit, caption=c.caption, url=c.url)
        for c in ex.image_credits
    )
    if ex.image_credits:
        sources.append("image_credits:body-photo-line")
    if entry.image_credit:
        credits = (ImageCredit(credit=clean_text(entry.image_credit)), *credits)
        sources.append("image_credits:entry")
    if not credits and default_credit and "<img" in body:
        credits = (ImageCredit(credit=default_credit),)
        sources.append("image_credits:policy-default")
    agency = clean_text(entry.original_agency) or ex.original_agency or ex.dateline_agency or None
    if entry.original_agency:
        sources.append("original_agency:entry")
    elif ex.original_agency:
        sources.append("original_agency:body-source-line")
    elif ex.dateline_agency:
        sources.append("original_agency:body-dateline")
    if ex.distributing_source:
        sources.append("distributing_source:body-source-line")
    if ex.dateline_place:
        sources.append("dateline:body-dateline")
    elif ex.source_place:
        sources.append("dateline:body-source-line")
    rights = rights_line(policy.copyright, policy.credit, published.year)
    license_url, usage_terms = policy.license_url, policy.usage_terms
    stated = _WireAttribution()  # what an agency format states (nothing, for a feed's item)
    if entry.wire is not None:
        w = _wire_attribution(entry, ex, published.year, sources, default_credit)
        rights = w.rights or rights
        # Each term the document states replaces the partner's default for this item (publish/feeds.py falls
        # back to the partner's per field too).
        license_url, usage_terms = w.license_url or license_url, w.usage_terms or usage_terms
        authors, credits = w.authors or authors, w.images or credits
        # The agency: an info source the document names, else a source line of the copy, else the stated
        # dateline's, else the copy's dateline.
        agency = w.original_agency or clean_text(entry.original_agency) or ex.original_agency or (
            w.dateline_agency or agency)
        distributing, place = w.distributor or ex.distributing_source, w.place or ex.dateline_place
        date, dateline_agency = w.dateline_date or ex.dateline_date, w.dateline_agency or ex.dateline_agency
        stated = w
    else:
        distributing, place = ex.distributing_source, ex.dateline_place
        date, dateline_agency = ex.dateline_date, ex.dateline_agency
    attribution = Attribution(
        credit=policy.credit,
        partner_id=policy.id,
        partner_name=policy.name,
        original_url=link,
        license_url=license_url,
        usage_terms=usage_terms,
        rights=rights,
        authors=authors,
        distributing_source=distributing,
        original_agency=agency,
        dateline_place=place or ex.source_place,
        dateline_date=date,
        image_credits=credits,
        extracted=ex.lines,
        license_name=license_name(license_url),
        attribution_template=policy.attribution_template,
        tracking_pixel_url=policy.tracking_pixel_url,
        no_derivatives=policy.no_derivatives,
        canonical_url=link,
        source_place=ex.source_place,
        dateline_agency=dateline_agency,
        extracted_from=tuple(sources),
        credits=not_carried(
            ex.credits, authors=entry_authors,
            agencies=(policy.credit, policy.name, clean_text(entry.original_agency)),
        ),
        credit_line=stated.credit_line,
        wire_version=stated.version,
        item_type=stated.item_type,
        byline=stated.byline,
        dateline=stated.dateline,
        located=stated.located,
        copyright_holder=stated.copyright_holder,
        copyright_notice=stated.copyright_notice,
        info_sources=stated.info_sources,
    )
    return attribution


_DATELINE_AGENCY = re.compile(r"\(([^()]{2,60})\)")


def _stated_dateline(text: str) -> Dateline | None:
    """A dateline the document states as a field ("MOSCOW, Monday (Reuters)"): read by the dateline rules of
    the copy (which expect the dash that opens a lead, added when missing); else its place is what comes before
    the first comma or parenthesis, and its agency what stands in parentheses."""
    if not text:
        return None
    found = match_dateline(text) or match_dateline(text.rstrip(" –-") + " –")
    if found is not None:
        return found
    place = re.split(r"[,(]", text, maxsplit=1)[0].strip()
    agency = _DATELINE_AGENCY.search(text)
    if not place:
        return None
    return Dateline(place=place.title() if place.isupper() else place, date=None,
                    agency=agency.group(1).strip() if agency else None)


def _wire_terms(a: Attribution) -> tuple[str, ...]:
    """What an agency's item states beyond its copy, for its content hash: a new version that changes only its
    rights, credits or place is an update all the same (items from feeds keep the hash they always had)."""
    credits = [[c.credit, c.caption, c.url] for c in a.image_credits]
    return (json.dumps([a.rights, a.usage_terms, a.license_url, a.credit_line, a.dateline_place, a.original_agency,
                        a.distributing_source, credits, a.wire_version, a.item_type, a.byline, a.dateline,
                        a.located, a.copyright_holder, a.copyright_notice, a.info_sources]),)


@dataclass(frozen=True, slots=True)
class _WireAttribution:
    """What an agency format's fields say, cleaned, for `_attribution` to prefer over what prose gave."""

    rights: str | None = None
    license_url: str | None = None
    usage_terms: str | None = None
    authors: tuple[str, ...] = ()
    images: tuple[ImageCredit, ...] = ()
    original_agency: str | None = None
    distributor: str | None = None
    place: str | None = None  # where it was filed: `located`, else the stated dateline's place
    dateline_date: str | None = None
    dateline_agency: str | None = None
    # As stated, for Attribution's [wire] fields.
    credit_line: str | None = None
    version: str | None = None
    item_type: str | None = None
    byline: str | None = None
    dateline: str | None = None
    located: str | None = None
    copyright_holder: str | None = None
    copyright_notice: str | None = None
    info_sources: tuple[str, ...] = ()


def _wire_attribution(
    entry: ParsedEntry, ex: Extraction, year: int, sources: list[str], default_credit: str | None
) -> _WireAttribution:
    """The wire fields (ninjs, NewsML-G2) as attribution, noting in `sources` each field they decided. A photo
    the document gives no credit for gets the partner's default image credit, as one found in the copy does."""
    w = entry.wire
    assert w is not None
    notice, holder = clean_text(w.copyright_notice) or None, clean_text(w.copyright_holder) or None
    rights = notice or (f"© {year} {holder}" if holder else None)
    if rights:
        sources.append("rights:wire")
    usage, license_url = clean_text(w.usage_terms) or None, clean_url(w.license_url)
    if usage or license_url:
        sources.append("usage_terms:wire")
    byline = clean_text(w.byline)
    # A stated byline may still carry its words ("Von Christian Hollmann, dpa"): the byline rules read them.
    authors = _dedupe(
        _strip_email(name) for a in entry.authors for name in (match_byline(clean_text(a)) or (clean_text(a),))
    ) if byline else ()
    if authors:
        sources[:] = [s for s in sources if not s.startswith("authors:")] + ["authors:wire"]
    stated = tuple(
        ImageCredit(credit=clean_text(i.credit) or default_credit or "", caption=clean_text(i.caption) or None,
                    url=clean_url(i.url))
        for i in w.images
    )
    known = {i.credit.casefold() for i in stated}
    images = (*stated, *(c for c in ex.image_credits if c.credit.casefold() not in known)) if stated else ()
    if images:
        sources[:] = [s for s in sources if not s.startswith("image_credits:")] + ["image_credits:wire"]
    agency = clean_text(entry.original_agency) or None
    if agency:
        sources[:] = [s for s in sources if not s.startswith("original_agency:")] + ["original_agency:wire"]
    stated_dateline, located = clean_text(w.dateline) or None, clean_text(w.located) or None
    dateline = _stated_dateline(stated_dateline or "")
    place = located or (dateline.place if dateline else None)
    if place:
        sources[:] = [s for s in sources if not s.startswith("dateline:")] + ["dateline:wire"]
    return _WireAttribution(
        rights=rights, license_url=license_url, usage_terms=usage,
        authors=authors, images=images, original_agency=agency, distributor=clean_text(w.distributor) or None,
        place=place, dateline_date=dateline.date if dateline else None,
        dateline_agency=dateline.agency if dateline else None, credit_line=clean_text(w.credit_line) or None,
        version=clean_text(w.version) or None, item_type=w.item_type, byline=byline or None,
        dateline=stated_dateline, located=located, copyright_holder=holder, copyright_notice=notice,
        info_sources=_dedupe(clean_text(n) for n in w.info_sources),
    )


CORRECTION_PREFIXES = ("CORRECTION:", "CORRECTED:", "UPDATE:", "UPDATED:", "CORRECTION -", "UPDATE -")
WITHDRAWN_PREFIXES = ("WITHDRAWN:", "KILL:", "KILLED:", "MANDATORY KILL", "CANCELED:", "CANCELLED:")


def entry_status(status: str | None, title: str, categories: tuple[str, ...]) -> str:
    """usable | corrected | withdrawn, from the partner's status field, title prefix or categories."""
    word = clean_text(status).lower()
    cats = {c.lower() for c in categories}
    upper = title.upper().lstrip()
    if word in WITHDRAWN_WORDS or cats & WITHDRAWN_WORDS or upper.startswith(WITHDRAWN_PREFIXES):
        return "withdrawn"
    if word in ("corrected", "correction", "updated") or upper.startswith(CORRECTION_PREFIXES) or cats & {
        "correction", "corrected", "corrections"
    }:
        return "corrected"
    return "usable"


def as_utc(dt: datetime) -> datetime:
    """Timezone-aware UTC; a naive value is taken to be UTC already. For our own clock's values: a
    partner's dates go through pipeline/dates.py, which never raises."""
    return to_utc(dt) or dt.replace(tzinfo=UTC)


_LANG = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$", re.I)


def _language(value: str | None) -> str | None:
    """BCP 47-ish tag ('en', 'en-GB', 'az-Latn'); anything else is dropped rather than published."""
    tag = clean_text(value).replace("_", "-")
    if not tag or not _LANG.match(tag):
        return None
    head, *rest = tag.split("-")
    return "-".join([head.lower(), *(r.upper() if len(r) == 2 else r.title() if len(r) == 4 else r for r in rest)])


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
