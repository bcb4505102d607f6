"""One story, several carriers: link a stored item to the items of other partners that carry the same story.

Runs inside the ingest transaction (store_items). The decision is the pure `dedupe.duplicate_reason`;
this module only finds candidates (same URL, same body hash, or published within the window) and
records the story. The `all` channel then shows each story once (publish/channels.py select_items),
preferring the originating agency's copy (`preferred_carrier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from syndication.db.models import Item, Story
from syndication.pipeline.dedupe import (
    WINDOW,
    Fingerprint,
    duplicate_reason,
    fingerprint,
    from_signed,
    hamming,
    to_signed,
)
from syndication.pipeline.policy import same_org

REASON_RANK = {"url": 0, "body": 1, "title+simhash": 2, "similar-title+simhash": 3, "simhash": 4}
CANDIDATE_LIMIT = 2000


def fingerprint_row(row: Item) -> Fingerprint:
    fp = fingerprint(row.url, row.title, row.content_html, row.published_at)
    row.simhash = to_signed(fp.simhash)
    row.body_hash = fp.body_hash
    row.title_key = fp.title_key
    return fp


def _stored_fingerprint(row: Item) -> Fingerprint:
    return Fingerprint(row.url, row.title_key or "", row.body_hash, from_signed(row.simhash), row.published_at, 0)


def assign_story(session: Session, row: Item, now: datetime) -> int | None:
    """Fingerprint `row` and join it to the story of the best-matching item of another partner."""
    fp = fingerprint_row(row)
    lo, hi = row.published_at - WINDOW, row.published_at + WINDOW
    conditions: list[ColumnElement[bool]] = [Item.published_at.between(lo, hi)]
    if row.url:
        conditions.append(Item.url == row.url)
    if fp.body_hash:
        conditions.append(Item.body_hash == fp.body_hash)
    query = (
        select(Item)
        .where(Item.partner_id != row.partner_id, Item.title_key.is_not(None), or_(*conditions))
        .order_by(Item.published_at)
        .limit(CANDIDATE_LIMIT)
    )
    if row.id is not None:
        query = query.where(Item.id != row.id)
    best: tuple[tuple[int, int, int], Item] | None = None
    for cand in session.scalars(query):
        reason = duplicate_reason(fp, _stored_fingerprint(cand))
        if reason is None:
            continue
        cand_hash = from_signed(cand.simhash)
        distance = hamming(fp.simhash, cand_hash) if fp.simhash is not None and cand_hash is not None else 64
        rank = (REASON_RANK[reason], 0 if cand.story_id else 1, distance)
        if best is None or rank < best[0]:
            best = (rank, cand)
    if best is None:
        # A changed item that no longer matches anything leaves its story.
        row.story_id = None
        return None
    cand = best[1]
    story_id = cand.story_id
    if story_id is None:
        story = Story(title=cand.title, original_agency=None, created_at=now, updated_at=now)
        session.add(story)
        session.flush()
        story_id = story.id
        cand.story_id = story_id
    row.story_id = story_id
    story_row = session.get(Story, story_id)
    if story_row is not None:
        agency = _agency(row) or _agency(cand)
        if agency and not story_row.original_agency:
            story_row.original_agency = agency
        story_row.updated_at = now
    return story_id


def _agency(row: Item) -> str | None:
    a = row.attribution or {}
    value = a.get("original_agency")
    return str(value) if value else None


def preferred_carrier(
    members: Sequence[Item], original_agency: str | None, credits: dict[str, str]
) -> Item:
    """The copy the `all` channel shows: the originating agency's own copy when it is among the carriers
    (its partner credit or name matches the story's original agency, or it names no other agency);
    otherwise the earliest published copy."""

    def originator(m: Item) -> bool:
        credit = credits.get(m.partner_id, m.partner_id)
        if original_agency:
            return same_org(credit, original_agency) or same_org(m.partner_id, original_agency)
        own = _agency(m)
        return own is None or same_org(own, credit)

    return min(members, key=lambda m: (0 if originator(m) else 1, m.published_at, m.id))


def carrier_entry(row: Item, credit: str, name: str, uid: str) -> dict[str, Any]:
    return {"partner_id": row.partner_id, "partner_name": name, "credit": credit, "url": row.url, "id": uid}
