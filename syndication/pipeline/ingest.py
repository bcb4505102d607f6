"""Store a batch of normalised items: decide new/updated/unchanged, upsert, write outbox events.

One transaction per fetched document (DESIGN.md principles 1, 4, 6). `decide` is pure.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from syndication.db import counters as figures
from syndication.db.models import Event, Item, ItemVersion, Source
from syndication.kernel.domain import Attribution, IngestCounts, NormalisedItem, Rejection
from syndication.pipeline.dedupe import Fingerprint, to_signed
from syndication.pipeline.stories import assign_story, note_events, prepare_window, sync_index

# Core tables: new items, versions and events are written without the ORM (see store_items).
_ITEMS = cast(Table, Item.__table__)
_VERSIONS = cast(Table, ItemVersion.__table__)
_EVENTS = cast(Table, Event.__table__)
Decision = Literal["new", "updated", "unchanged", "withdrawn", "corrected"]
# Normalisation dated the item by this sighting (no usable partner date: pipeline/dates.py).
DATED_BY_SIGHTING = frozenset({"date_missing", "future_date_clamped"})


def decide(item: NormalisedItem, existing: Item | None) -> Decision:
    if existing is None:
        return "new"
    if older_version(item.attribution.wire_version, (existing.attribution or {}).get("wire_version")):
        return "unchanged"  # an agency's earlier version arriving late (a resend, a slow path) changes nothing
    if item.status == "withdrawn":
        return "unchanged" if existing.status == "withdrawn" else "withdrawn"
    embargo_same = existing.embargo_until == item.embargo_until or (
        # A delay from the partner's policy counts from first sight when the entry has no date: not a change.
        "embargo_from_policy" in item.flags and existing.embargo_until is not None
    )
    if existing.content_hash == item.content_hash and embargo_same:
        return "unchanged"
    return "corrected" if item.status == "corrected" else "updated"


def older_version(incoming: str | None, stored: Any) -> bool:
    """Whether an agency item's version (ninjs `version`, NewsML-G2 `@version`: whole numbers) is below the
    stored one's; False when either is missing or not a number (then the content decides, as for feeds)."""
    if incoming is None or not isinstance(stored, str):
        return False
    if not (incoming.isdigit() and stored.isdigit()):
        return False
    return int(incoming) < int(stored)


def attribution_json(item: NormalisedItem) -> dict[str, Any]:
    """The attribution as stored (JSON column). Field by field rather than `dataclasses.asdict`, whose
    recursive deep copy was a tenth of the storing time; equal output (tested)."""
    a = item.attribution
    data: dict[str, Any] = {f: getattr(a, f) for f in _ATTRIBUTION_FIELDS}
    data["image_credits"] = [{"credit": c.credit, "caption": c.caption, "url": c.url} for c in a.image_credits]
    data["authors"] = list(a.authors)
    data["extracted"] = list(a.extracted)
    data["extracted_from"] = list(a.extracted_from)
    data["credits"] = [
        {"kind": c.kind, "value": c.value, "line": c.line, "start": c.start, "end": c.end, "rule": c.rule,
         "caption": c.caption}
        for c in a.credits
    ]
    return data


_ATTRIBUTION_FIELDS = tuple(f.name for f in fields(Attribution))


def partner_dates_json(item: NormalisedItem) -> list[dict[str, str]] | None:
    """The partner's dates normalisation set aside, as stored (`items.partner_dates`); None when none was."""
    if not item.dates_set_aside:
        return None
    return [{"field": d.field, "raw": d.raw, "reason": d.reason} for d in item.dates_set_aside]


def store_items(
    session: Session,
    items: list[NormalisedItem],
    rejections: list[Rejection],
    *,
    now: datetime,
    source_id: int | None,
) -> IngestCounts:
    """Upsert the items of one document in the caller's transaction (and count them in its figures)."""
    counts = IngestCounts()
    for r in rejections:
        counts.add(r.guid or "", "rejected", r.reason)
    if not items:
        if rejections and source_id is not None:
            owner = session.scalar(select(Source.partner_id).where(Source.id == source_id))
            if owner is not None:
                figures.count(session, figures.ITEMS, len(rejections), partner=owner, outcome="rejected")
        return counts
    sync_index(session)
    partner_id = items[0].partner_id
    existing = _stored_rows(session, partner_id, [i.key for i in items])
    new_rows: list[tuple[Item, NormalisedItem]] = []
    # Versions and outbox events are inserted in bulk at the end (in this order: events keep the
    # document's order, updates before new items as before); no ORM object is needed for them.
    versions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    stories: list[tuple[Item, NormalisedItem]] = []  # new and changed items, for story matching
    # New items are inserted in bulk (one Core INSERT .. RETURNING for the document) rather than through the
    # unit of work or the ORM's bulk path, which were most of storing's cost. Keyed by item key: values and item.
    pending: dict[str, tuple[dict[str, Any], NormalisedItem]] = {}
    # A new row's first version and its event, taken as it is inserted (the same key again later in the batch
    # revises the row: its version 1 must still be recorded as version 1).
    new_versions: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []

    def insert_pending() -> None:
        if not pending:
            return
        # Ids are matched back by key (unique per partner), so RETURNING's order does not matter and the
        # INSERT can carry many rows (asking SQLAlchemy to keep parameter order makes it one row per INSERT).
        # Only the ids come back. A new row stays a plain record of the values we hold (NewRow), never an ORM
        # object: story matching may still set its story and fingerprint, written by `_write_new_rows`.
        stmt = insert(_ITEMS).returning(_ITEMS.c.key, _ITEMS.c.id)
        ids: dict[str, int] = {key: item_id for key, item_id in
                               session.execute(stmt, [values for values, _ in pending.values()])}
        for key, (values, item) in pending.items():
            row = cast(Item, NewRow(ids[key], values))  # read as an Item is (see NewRow)
            existing[key] = row
            new_rows.append((row, item))
            stories.append((row, item))
            new_versions.append(_version(row, now))
            new_events.append(_event("item.withdrawn" if item.status == "withdrawn" else "item.created", row, item,
                                     now))
        pending.clear()

    def as_orm(row: NewRow) -> Item:
        """The same key again in this document: the row stored a moment ago becomes an ORM object (as if just
        loaded, without reading it back) so that this item's changes to it are flushed like any stored row's."""
        orm = Item(id=row.id, **row.inserted)
        make_transient_to_detached(orm)
        session.add(orm)
        for pairs in (new_rows, stories):
            pairs[:] = [(orm if r is row else r, i) for r, i in pairs]
        return orm

    # Items stored by status, kept on write: (status before this document, or None for new) per item row.
    status_before: dict[int, str] = {}
    for item in items:
        if item.key in pending:  # the same key twice in one batch: the second sees the first stored
            insert_pending()
        found = existing.get(item.key)
        row = as_orm(found) if isinstance(found, NewRow) else found
        if row is not None:
            existing[item.key] = row
        decision = decide(item, row)
        if decision == "unchanged":
            if row is not None:
                row.last_seen_at = now
            counts.add(item.key, "unchanged")
            continue
        if decision == "new":
            pending[item.key] = (_new_values(item, now, source_id), item)
            counts.add(item.key, "new")
            continue
        assert row is not None
        status_before.setdefault(id(row), row.status)
        if decision == "withdrawn":
            events.append(_withdraw(row, item, now))
        else:
            versions.append(_revise(row, item, now))
            events.append(_event("item.corrected" if decision == "corrected" else "item.updated", row, item, now))
            stories.append((row, item))
        counts.add(item.key, "updated")
    insert_pending()
    versions += new_versions
    events += new_events
    if versions:
        session.execute(insert(_VERSIONS), versions)
    if events:
        written = session.execute(insert(_EVENTS).returning(_EVENTS.c.id, _EVENTS.c.item_id), events)
        note_events(session, [(event_id, item_id) for event_id, item_id in written])
    if stories:
        _match_stories(session, stories, now)
        _write_new_rows(session, [cast(NewRow, row) for row, _ in new_rows if isinstance(row, NewRow)])
    _count(session, partner_id, counts, new_rows, existing, status_before)
    return counts


class NewRow:
    """An item row inserted by this transaction, held as the values it was inserted with: what storing reads
    of it (`row.title`, ...) without the cost of an ORM object (identity map, attribute events, a flush to
    check). Story matching reads it as it reads an Item, and may set the columns in `MATCHED`; those changes
    are written by `_write_new_rows`."""

    MATCHED = ("story_id", "simhash", "body_hash", "title_key")

    def __init__(self, row_id: int, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.id = row_id
        self.inserted = values

    def changed(self) -> dict[str, Any]:
        return {c: self.__dict__[c] for c in self.MATCHED if self.__dict__[c] != self.inserted[c]}


def _write_new_rows(session: Session, rows: list[NewRow]) -> None:
    """What story matching changed on new rows (a story joined; a fingerprint computed in storing): one
    UPDATE per set of changed columns, over all the rows concerned."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        changed = row.changed()
        if changed:
            by_columns.setdefault(tuple(changed), []).append({"row_id": row.id, **changed})
    for columns, params in by_columns.items():
        stmt = (update(_ITEMS).where(_ITEMS.c.id == bindparam("row_id"))
                .values({c: bindparam(c) for c in columns}))
        session.execute(stmt, params)


def _stored_rows(session: Session, partner_id: str, keys: list[str]) -> dict[str, Item]:
    """The partner's stored items among `keys`, by key."""
    existing: dict[str, Item] = {}
    # Chunked IN lists keep both SQLite's and PostgreSQL's parameter limits happy.
    for start in range(0, len(keys), 500):
        rows = session.scalars(
            select(Item).where(Item.partner_id == partner_id, Item.key.in_(keys[start : start + 500]))
        )
        existing.update({row.key: row for row in rows})
    return existing


def _withdraw(row: Item, item: NormalisedItem, now: datetime) -> dict[str, Any]:
    """Mark the stored item withdrawn; its outbox event."""
    row.status = "withdrawn"
    row.withdrawn_at = now
    row.change_note = item.change_note
    row.last_seen_at = now
    row.updated_at = max(now, row.updated_at)
    return _event("item.withdrawn", row, item, now)


def _revise(row: Item, item: NormalisedItem, now: datetime) -> dict[str, Any]:
    """Apply an update or correction to the stored item; the version row to keep."""
    previous_updated = row.updated_at
    row.version += 1
    _apply(row, item, now, keep_embargo="embargo_from_policy" in item.flags)
    # A material change must move `updated` forward even when the partner did not.
    if row.updated_at <= previous_updated:
        row.updated_at = max(now, previous_updated)
    return _version(row, now)


def _match_stories(session: Session, stories: list[tuple[Item, NormalisedItem]], now: datetime) -> None:
    """Group new and changed items into stories (their ids are needed: flushed first)."""
    session.flush()
    known = {row.id: Fingerprint(item.url, item.title_key, item.body_hash, item.simhash, row.published_at, 0)
             for row, item in stories if item.fingerprinted}
    prepare_window(session, [row for row, _ in stories], known)
    for row, _ in stories:
        assign_story(session, row, now)


def _count(
    session: Session, partner_id: str, counts: IngestCounts, new_rows: list[tuple[Item, NormalisedItem]],
    rows: dict[str, Item], status_before: dict[int, str],
) -> None:
    """This document's share of the items figures (polled, pushed and folder items alike)."""
    for outcome in ("new", "updated", "unchanged", "rejected"):
        figures.count(session, figures.ITEMS, getattr(counts, outcome), partner=partner_id, outcome=outcome)
    for row, _ in new_rows:
        figures.count(session, figures.ITEMS_STORED, 1, partner=partner_id, status=row.status)
    by_id = {id(r): r for r in rows.values()}
    fresh = {id(r) for r, _ in new_rows}  # counted above with their final status
    for ident, before in status_before.items():
        if ident in fresh:
            continue
        after = by_id[ident].status
        if after != before:
            figures.count(session, figures.ITEMS_STORED, -1, partner=partner_id, status=before)
            figures.count(session, figures.ITEMS_STORED, 1, partner=partner_id, status=after)


def release_embargoes(session: Session, now: datetime, limit: int = 1000) -> list[str]:
    """Items whose embargo has just passed: mark them released and write `item.released` events, so the
    relay marks their channels dirty and the publisher adds them. Returns the partner ids concerned."""
    rows = list(session.scalars(
        select(Item)
        .where(Item.embargo_until.is_not(None), Item.embargo_until <= now, Item.embargo_released_at.is_(None))
        .order_by(Item.embargo_until, Item.id)
        .limit(limit)
    ))
    partners: list[str] = []
    for row in rows:
        row.embargo_released_at = now
        if row.status != "withdrawn":
            session.add(Event(kind="item.released", item_id=row.id, partner_id=row.partner_id,
                              payload={"version": row.version, "embargo_until": row.embargo_until.isoformat()
                                       if row.embargo_until else None}, created_at=now))
            if row.partner_id not in partners:
                partners.append(row.partner_id)
    return partners


def _new_values(item: NormalisedItem, now: datetime, source_id: int | None) -> dict[str, Any]:
    """The column values of a new item, as `_apply` would set them on a fresh row."""
    fresh = SimpleNamespace(embargo_until=None)
    _apply(cast(Item, fresh), item, now)
    values = vars(fresh)
    # Every new row carries every column (one executemany): `_apply` sets this one only when the embargo moved.
    values.setdefault("embargo_released_at", None)
    values.update(partner_id=item.partner_id, key=item.key, source_id=source_id, first_seen_at=now, version=1,
                  story_id=None)
    if item.fingerprinted:
        values.update(title_key=item.title_key, body_hash=item.body_hash, simhash=to_signed(item.simhash))
    else:
        values.update(title_key=None, body_hash=None, simhash=None)
    return values


def _apply(row: Item, item: NormalisedItem, now: datetime, *, keep_embargo: bool = False) -> None:
    row.guid = item.guid
    row.url = item.url
    row.title = item.title
    row.content_html = item.content_html
    row.summary = item.summary
    row.authors = list(item.authors)
    row.categories = list(item.categories)
    row.language = item.language
    published = item.published
    if getattr(row, "published_at", None) is not None and DATED_BY_SIGHTING & set(item.flags):
        # An item without a usable date of its own keeps the date of its first sighting when it changes.
        published = row.published_at
    row.published_at = published
    row.updated_at = max(item.updated, published)
    row.sort_at = min(published, now)
    row.last_seen_at = now
    row.content_hash = item.content_hash
    row.status = "withdrawn" if item.status == "withdrawn" else "usable"
    row.withdrawn_at = now if row.status == "withdrawn" else None
    row.change_note = item.change_note
    if not (keep_embargo and row.embargo_until is not None):
        if row.embargo_until != item.embargo_until:
            row.embargo_released_at = None
        row.embargo_until = item.embargo_until
    row.attribution = attribution_json(item)
    row.flags = list(item.flags)
    row.partner_dates = partner_dates_json(item)


def _version(row: Item, now: datetime) -> dict[str, Any]:
    return {"item_id": row.id, "version": row.version, "title": row.title, "content_html": row.content_html,
            "content_hash": row.content_hash, "recorded_at": now}


def _event(kind: str, row: Item, item: NormalisedItem, now: datetime) -> dict[str, Any]:
    return {"kind": kind, "item_id": row.id, "partner_id": row.partner_id,
            "payload": {"version": row.version, "change_note": item.change_note}, "created_at": now,
            "relayed_at": None}
