"""RFC 5005 archives and RFC 6721 tombstones of a channel.

Items that leave a channel's window are appended, oldest first, to numbered archive pages of a fixed
size; an item's page never changes (archive_entries). A page is frozen once it is full and its successor
exists: it is then written one last time (with its next-archive link) and never rewritten, so its bytes
are stable across regenerations. Only the newest page is open. Withdrawn items leave the open page;
frozen pages keep what they archived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from syndication.db.models import ArchiveEntry, ArchivePage, Channel, Item
from syndication.publish.channels import PUBLISHED_COLUMNS, embargo_passed, publicly_known, to_published
from syndication.publish.feeds import Tombstone
from syndication.publish.published import ChannelSpec, PartnerInfo, PublishedItem, item_uid


@dataclass(frozen=True, slots=True)
class PageState:
    page: int
    items: int
    frozen: bool


class Filterable(Protocol):
    """What the channel filters read of an item (an Item, or a row of just these columns)."""

    @property
    def partner_id(self) -> str: ...
    @property
    def categories(self) -> list[Any] | None: ...
    @property
    def language(self) -> str | None: ...


def matches(spec: ChannelSpec, row: Filterable) -> bool:
    """The channel's filters on one item (partners are filtered in SQL too)."""
    if spec.partners and row.partner_id not in spec.partners:
        return False
    if spec.categories:
        wanted = {c.lower() for c in spec.categories}
        if not wanted.intersection(str(c).lower() for c in row.categories or ()):
            return False
    return not (spec.language and (row.language or "").split("-")[0] != spec.language.split("-")[0])


def lock_channel(session: Session, channel_id: str) -> None:
    """Serialise archive assignment per channel (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE does it)."""
    query = select(Channel).where(Channel.id == channel_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    if session.scalar(query) is None:
        session.add(Channel(id=channel_id))
        session.flush()


def assign(
    session: Session, spec: ChannelSpec, window: list[PublishedItem], page_size: int, now: datetime
) -> list[PageState]:
    """Append items older than the window to archive pages (in the caller's transaction)."""
    lock_channel(session, spec.id)
    pages = {p.page: p for p in session.scalars(select(ArchivePage).where(ArchivePage.channel_id == spec.id))}
    if len(window) >= spec.window and window:
        oldest = session.scalar(select(func.min(Item.sort_at)).where(Item.id.in_([i.id for i in window])))
        # Only the columns the filters need: after a bulk load this reads every older item once.
        query = (
            select(Item.id, Item.partner_id, Item.categories, Item.language, Item.story_id)
            .outerjoin(ArchiveEntry, and_(ArchiveEntry.channel_id == spec.id, ArchiveEntry.item_id == Item.id))
            .where(ArchiveEntry.id.is_(None))
            .where(Item.status != "withdrawn")
            .where(embargo_passed(now))
            .where(Item.sort_at <= oldest)
            .where(Item.id.not_in([i.id for i in window]))
            .order_by(Item.sort_at.asc(), Item.id.asc())
        )
        if spec.partners:
            query = query.where(Item.partner_id.in_(spec.partners))
        last = max(pages) if pages else 0
        # Where several partners meet, a story shows once ([normalise] de-duplication): other carriers of a
        # story already in the window or the archive are recorded on page 0, which is never rendered.
        stories = _shown_stories(session, spec, [i.id for i in window]) if len(spec.partners) != 1 else None
        entries: list[dict[str, Any]] = []
        for row in session.execute(query):
            if not matches(spec, row):
                continue
            story = row.story_id
            if stories is not None and story is not None:
                if story in stories:
                    entries.append({"channel_id": spec.id, "item_id": row.id, "page": 0, "assigned_at": now})
                    continue
                stories.add(story)
            page = pages.get(last)
            if page is None or page.items >= page_size:
                last += 1
                page = ArchivePage(channel_id=spec.id, page=last, items=0, frozen_at=None)
                session.add(page)
                pages[last] = page
            page.items += 1
            entries.append({"channel_id": spec.id, "item_id": row.id, "page": last, "assigned_at": now})
        if entries:  # one executemany, not an ORM object per entry
            session.execute(insert(ArchiveEntry), entries)
        session.flush()
    return [PageState(n, p.items, p.frozen_at is not None) for n, p in sorted(pages.items())]


def _shown_stories(session: Session, spec: ChannelSpec, window_ids: list[int]) -> set[int] | None:
    story_col = getattr(Item, "story_id", None)
    if story_col is None:
        return None
    shown = set(session.scalars(select(story_col).where(Item.id.in_(window_ids), story_col.is_not(None))))
    shown.update(session.scalars(
        select(story_col).join(ArchiveEntry, ArchiveEntry.item_id == Item.id)
        .where(ArchiveEntry.channel_id == spec.id, ArchiveEntry.page > 0, story_col.is_not(None))
    ))
    return shown


def page_items(
    session: Session, spec: ChannelSpec, page: int, partners: dict[str, PartnerInfo], *, frozen: bool,
    now: datetime,
) -> list[PublishedItem]:
    query = (
        select(*PUBLISHED_COLUMNS)
        .join(ArchiveEntry, ArchiveEntry.item_id == Item.id)
        .where(ArchiveEntry.channel_id == spec.id, ArchiveEntry.page == page)
        .order_by(Item.sort_at.desc(), Item.id.desc())
    )
    if not frozen:
        # An archived item put under embargo again by its partner leaves the open page until then.
        query = query.where(Item.status != "withdrawn", embargo_passed(now))
    return [to_published(row, partners[row.partner_id]) for row in session.execute(query)]


def mark_frozen(session: Session, channel_id: str, pages: list[int], now: datetime) -> None:
    for row in session.scalars(
        select(ArchivePage).where(ArchivePage.channel_id == channel_id, ArchivePage.page.in_(pages))
    ):
        if row.frozen_at is None:
            row.frozen_at = now


def tombstones(
    session: Session, spec: ChannelSpec, now: datetime, days: float, item_url: str
) -> tuple[Tombstone, ...]:
    """Withdrawn items of this channel, withdrawn within `days`, newest first; never one under embargo or
    withdrawn before its embargo passed (it was never public: a tombstone would reveal it)."""
    if days <= 0:
        return ()
    query = (
        select(Item)
        .where(Item.status == "withdrawn", Item.updated_at >= now - timedelta(days=days))
        .where(publicly_known(now))
        .order_by(Item.updated_at.desc(), Item.id.desc())
    )
    if spec.partners:
        query = query.where(Item.partner_id.in_(spec.partners))
    out = []
    for row in session.scalars(query):
        if matches(spec, row):
            out.append(Tombstone(item_uid(row.partner_id, row.key), row.updated_at, row.change_note or "withdrawn",
                                 item_url.rstrip("/") + f"/{row.id}"))
    return tuple(out)
