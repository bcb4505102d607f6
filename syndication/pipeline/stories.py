"""One story, several carriers: link a stored item to the items of other partners that carry the same story.

Runs inside the ingest transaction (store_items). The decision is the pure `dedupe.duplicate_reason`;
this module only finds candidates (same URL, same body hash, or published within the window) and
records the story. The `all` channel then shows each story once (publish/channels.py select_items),
preferring the originating agency's copy (`preferred_carrier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from syndication.db.models import Item, Story
from syndication.pipeline.dedupe import (
    BODY_MATCH_DISTANCE,
    SIMILAR_TITLE_DISTANCE,
    TITLE_MATCH_DISTANCE,
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
# No near-duplicate rule accepts a larger SimHash distance; a cheap XOR prefilter before the full decision.
MAX_NEAR_DISTANCE = max(TITLE_MATCH_DISTANCE, SIMILAR_TITLE_DISTANCE, BODY_MATCH_DISTANCE)
_COLS = (Item.id, Item.partner_id, Item.url, Item.title_key, Item.body_hash, Item.simhash, Item.published_at,
         Item.story_id)


@dataclass(slots=True)
class _Candidate:
    id: int
    partner_id: str
    url: str | None
    title_key: str
    body_hash: str | None
    simhash: int | None
    published: datetime
    story_id: int | None

    @classmethod
    def of(cls, r: Any) -> _Candidate:
        return cls(r[0], r[1], r[2], r[3] or "", r[4], from_signed(r[5]), r[6], r[7])

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.url, self.title_key, self.body_hash, self.simhash, self.published, 0)


@dataclass
class _Window:
    """Fingerprints of the items published within the loaded time range, read once per transaction
    (one fetched document) as plain columns, and extended as the document's items are stored."""

    tx: Any
    lo: datetime | None = None
    hi: datetime | None = None
    rows: dict[int, _Candidate] = field(default_factory=dict)
    # Exact-match candidates (same URL or body hash, published at any time) read for a whole document
    # by `prepare_window`; None when not prepared (then each item looks its own up).
    exact: dict[str, list[_Candidate]] | None = None
    fingerprints: dict[int, Fingerprint] = field(default_factory=dict)

    def cover(self, session: Session, lo: datetime, hi: datetime) -> None:
        """Make sure every item published in [lo, hi] is loaded, reading only the part not yet loaded."""
        if self.lo is None or self.hi is None:
            self._load(session, lo, hi)
            self.lo, self.hi = lo, hi
            return
        if lo < self.lo:
            self._load(session, lo, self.lo)
            self.lo = lo
        if hi > self.hi:
            self._load(session, self.hi, hi)
            self.hi = hi

    def _load(self, session: Session, lo: datetime, hi: datetime) -> None:
        query = select(*_COLS).where(Item.title_key.is_not(None), Item.published_at.between(lo, hi))
        for r in session.execute(query):
            if r[0] not in self.rows:
                self.rows[r[0]] = _Candidate.of(r)


def _window(session: Session) -> _Window:
    tx = session.get_transaction()
    w = session.info.get("story_window")
    if w is None or w.tx is not tx:
        w = session.info["story_window"] = _Window(tx)
    return w


def fingerprint_row(row: Item) -> Fingerprint:
    fp = fingerprint(row.url, row.title, row.content_html, row.published_at)
    row.simhash = to_signed(fp.simhash)
    row.body_hash = fp.body_hash
    row.title_key = fp.title_key
    return fp


def prepare_window(session: Session, rows: Sequence[Item]) -> None:
    """Fingerprint a whole document's items and read everything their story matching needs in a few
    queries: the time window (one range query) and the same-URL / same-body candidates (IN lists)."""
    if not rows:
        return
    window = _window(session)
    for row in rows:
        if row.id is not None:
            window.fingerprints[row.id] = fingerprint_row(row)
    published = [row.published_at for row in rows]
    window.cover(session, min(published) - WINDOW, max(published) + WINDOW)
    urls = sorted({row.url for row in rows if row.url})
    bodies = sorted({row.body_hash for row in rows if row.body_hash})
    exact: dict[str, list[_Candidate]] = {}
    for column, values in ((Item.url, urls), (Item.body_hash, bodies)):
        for start in range(0, len(values), 500):
            query = select(*_COLS).where(Item.title_key.is_not(None), column.in_(values[start : start + 500]))
            for r in session.execute(query):
                cand = window.rows.get(r[0]) or _Candidate.of(r)
                for key in (cand.url, cand.body_hash):
                    if key and cand not in exact.setdefault(key, []):
                        exact[key].append(cand)
    window.exact = exact


def _may_match(fp: Fingerprint, cand: _Candidate) -> bool:
    if fp.url and cand.url == fp.url:
        return True
    if fp.body_hash and cand.body_hash == fp.body_hash:
        return True
    if fp.simhash is None or cand.simhash is None:
        return False
    return (fp.simhash ^ cand.simhash).bit_count() <= MAX_NEAR_DISTANCE


def assign_story(session: Session, row: Item, now: datetime) -> int | None:
    """Fingerprint `row` and join it to the story of the best-matching item of another partner.

    Candidates: every other partner's item published within the window (from the per-document window
    cache), plus any item with the same URL or body hash whenever it was published (indexed lookups)."""
    window = _window(session)
    fp = window.fingerprints.pop(row.id, None) if row.id is not None else None
    if fp is None:
        fp = fingerprint_row(row)
    lo, hi = row.published_at - WINDOW, row.published_at + WINDOW
    window.cover(session, lo, hi)
    candidates: dict[int, _Candidate] = {}
    # The hot loop of ingest: plain locals, no ORM attribute access inside.
    partner_id, row_id = row.partner_id, row.id
    for cand in window.rows.values():
        if cand.partner_id == partner_id or cand.id == row_id or not lo <= cand.published <= hi:
            continue
        if _may_match(fp, cand):
            candidates[cand.id] = cand
    if window.exact is not None:
        for key in (row.url, fp.body_hash):
            for cand in window.exact.get(key or "", ()):
                if cand.partner_id != row.partner_id and cand.id != row.id:
                    candidates.setdefault(cand.id, cand)
    else:
        exact: list[ColumnElement[bool]] = []
        if row.url:
            exact.append(Item.url == row.url)
        if fp.body_hash:
            exact.append(Item.body_hash == fp.body_hash)
        if exact:
            query = select(*_COLS).where(Item.partner_id != row.partner_id, Item.title_key.is_not(None),
                                         or_(*exact))
            for r in session.execute(query):
                if r[0] != row.id:
                    candidates.setdefault(r[0], window.rows.get(r[0]) or _Candidate.of(r))
    best: tuple[tuple[int, int, int], _Candidate] | None = None
    for cand in sorted(candidates.values(), key=lambda c: (c.published, c.id)):
        reason = duplicate_reason(fp, cand.fingerprint())
        if reason is None:
            continue
        distance = hamming(fp.simhash, cand.simhash) if fp.simhash is not None and cand.simhash is not None else 64
        rank = (REASON_RANK[reason], 0 if cand.story_id else 1, distance)
        if best is None or rank < best[0]:
            best = (rank, cand)
    # This item is now a candidate for the rest of the document's items (other partners' documents
    # reload the window in their own transaction).
    if row.id is not None:
        window.rows[row.id] = _Candidate(row.id, row.partner_id, row.url, fp.title_key, fp.body_hash, fp.simhash,
                                         row.published_at, None)
    if best is None:
        # A changed item that no longer matches anything leaves its story.
        row.story_id = None
        return None
    cand = best[1]
    cand_item = session.get(Item, cand.id)
    assert cand_item is not None
    story_id = cand.story_id
    if story_id is None:
        story = Story(title=cand_item.title, original_agency=None, created_at=now, updated_at=now)
        session.add(story)
        session.flush()
        story_id = story.id
        cand_item.story_id = story_id
        cand.story_id = story_id
    row.story_id = story_id
    if row.id is not None:
        window.rows[row.id].story_id = story_id
    story_row = session.get(Story, story_id)
    if story_row is not None:
        agency = _agency(row) or _agency(cand_item)
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
