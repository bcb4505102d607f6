"""What a polled document may put in our length-limited columns ([hardening] 2). PostgreSQL refuses a value
longer than its column (SQLite keeps it), so one over-long id used to fail the whole poll on PostgreSQL alone.
A push is refused whole instead (web/api.py `oversize_problems`: the partner is there to read the 422); a
polled feed or a dropped file has nobody to answer, so each field is fitted, the item flagged, and the poll's
notes (`sources.parse_problem`, shown by `status` and /ops) say what was done and why:

- id (guid) over its limit: not kept. The item's identity is already a hash of the id (normalise.assign_keys),
  so it stays the same item from poll to poll; only the partner's id is missing from our columns.
- url over its limit: kept out of the url column (no link published, no same-URL story match); the
  attribution still names it as the original.
- language over its limit: cut to the whole subtags that fit ("en-GB-…" keeps "en-GB").
- original agency (the story's column) over its limit: cut at a word, marked with "…".
- ETag / Last-Modified / a permanent redirect's target over their source columns: not kept (the next poll is
  unconditional, the configured URL stays).

Pure apart from reading the limits from the table definitions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import String

from syndication.db.models import Item, Source, Story
from syndication.kernel.domain import NormalisedItem


def _limit(table: Any, column: str) -> int:  # a mapped class's __table__
    kind = table.c[column].type
    assert isinstance(kind, String) and kind.length, f"{table.name}.{column} is not a bounded string"
    return int(kind.length)


GUID_LIMIT = _limit(Item.__table__, "guid")
URL_LIMIT = _limit(Item.__table__, "url")
LANGUAGE_LIMIT = _limit(Item.__table__, "language")
AGENCY_LIMIT = _limit(Story.__table__, "original_agency")
ETAG_LIMIT = _limit(Source.__table__, "etag")
LAST_MODIFIED_LIMIT = _limit(Source.__table__, "last_modified")
EFFECTIVE_URL_LIMIT = _limit(Source.__table__, "effective_url")

# flag on the item -> what the poll's note says about it
NOTES = {
    "id_too_long": f"id longer than {GUID_LIMIT} characters not kept (the item is known by its hash)",
    "url_too_long": f"link longer than {URL_LIMIT} characters kept out of the url column (not published as the link)",
    "language_cut": f"language tag cut to the subtags that fit in {LANGUAGE_LIMIT} characters",
    "agency_cut": f"original agency cut to {AGENCY_LIMIT} characters",
}


def cut_language(tag: str, limit: int = LANGUAGE_LIMIT) -> str | None:
    """The leading whole subtags of a BCP 47 tag that fit in `limit` characters (None if not even the first)."""
    kept: list[str] = []
    for part in tag.split("-"):
        if len("-".join([*kept, part])) > limit:
            break
        kept.append(part)
    return "-".join(kept) or None


def cut_text(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word where there is one, ending in "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head else head).rstrip() + "…"


def fit_item(item: NormalisedItem) -> NormalisedItem:
    """The item with every value fitting its column, a flag for each value changed."""
    flags: list[str] = []
    changes: dict[str, object] = {}
    if item.guid is not None and len(item.guid) > GUID_LIMIT:
        changes["guid"] = None
        flags.append("id_too_long")
    if item.url is not None and len(item.url) > URL_LIMIT:
        changes["url"] = None
        flags.append("url_too_long")
    if item.language is not None and len(item.language) > LANGUAGE_LIMIT:
        changes["language"] = cut_language(item.language)
        flags.append("language_cut")
    agency = item.attribution.original_agency
    if agency is not None and len(agency) > AGENCY_LIMIT:
        changes["attribution"] = replace(item.attribution, original_agency=cut_text(agency, AGENCY_LIMIT))
        flags.append("agency_cut")
    if not flags:
        return item
    return replace(item, **changes, flags=(*item.flags, *flags))  # type: ignore[arg-type]


def fit_polled(items: Sequence[NormalisedItem]) -> tuple[list[NormalisedItem], str | None]:
    """Every item fitted to our columns, and the note for operators (None when nothing had to change)."""
    fitted = [fit_item(item) for item in items]
    counts = Counter(flag for before, after in zip(items, fitted, strict=True) if after is not before
                     for flag in after.flags if flag in NOTES)
    notes = [f"{n} item{'s' if n > 1 else ''}: {NOTES[flag]}" for flag, n in sorted(counts.items())]
    return fitted, "; ".join(notes) or None


def fit_validators(
    etag: str | None, last_modified: str | None, permanent_url: str | None,
) -> tuple[str | None, str | None, str | None, list[str]]:
    """A source's HTTP validators and new URL as the source columns can hold them, and a note per value not kept."""
    notes: list[str] = []
    if etag is not None and len(etag) > ETAG_LIMIT:
        etag = None
        notes.append(f"ETag longer than {ETAG_LIMIT} characters not kept (the next poll is unconditional)")
    if last_modified is not None and len(last_modified) > LAST_MODIFIED_LIMIT:
        last_modified = None
        notes.append(f"Last-Modified longer than {LAST_MODIFIED_LIMIT} characters not kept")
    if permanent_url is not None and len(permanent_url) > EFFECTIVE_URL_LIMIT:
        permanent_url = None
        notes.append(f"permanent redirect to a URL longer than {EFFECTIVE_URL_LIMIT} characters not followed for "
                     "later polls (the configured URL stays)")
    return etag, last_modified, permanent_url, notes
