"""Which channels exist and which items each carries."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from syndication.db.models import Item, Partner, Source, Story
from syndication.kernel.settings import Settings
from syndication.publish.published import (
    ChannelSpec,
    PartnerInfo,
    PublishedItem,
    item_uid,
    partner_channel_id,
)

# ---------------------------------------------------------------- embargo: what the public may know
#
# An item under embargo (embargo_until in the future) is invisible to every public output: channel feeds,
# archive pages, tombstones, the public notices feed, /items/<id>, subscribers' webhooks. An item withdrawn
# before its embargo passed was never public, so nothing public ever names it, even after the embargo
# time. The partner's own notices feed and item-status API still show it to that partner.


def embargo_passed(now: datetime) -> ColumnElement[bool]:
    """SQL: the item is not under embargo at `now`."""
    return or_(Item.embargo_until.is_(None), Item.embargo_until <= now)


def ever_public() -> ColumnElement[bool]:
    """SQL: a withdrawn item was public before it was withdrawn (rows withdrawn before withdrawn_at was
    recorded count as public, as they were treated before)."""
    return or_(Item.embargo_until.is_(None), Item.withdrawn_at.is_(None), Item.embargo_until <= Item.withdrawn_at)


def publicly_known(now: datetime) -> ColumnElement[bool]:
    """SQL: a public output may name this item (current or withdrawn)."""
    return and_(embargo_passed(now), ever_public())


def is_publicly_known(
    *, embargo_until: datetime | None, withdrawn_at: datetime | None, status: str, now: datetime
) -> bool:
    """The same rule as `publicly_known`, on values."""
    if embargo_until is None:
        return True
    if embargo_until > now:
        return False
    return status != "withdrawn" or withdrawn_at is None or embargo_until <= withdrawn_at


def channel_specs(settings: Settings, partners: list[Partner]) -> list[ChannelSpec]:
    window = settings.publish.window
    specs = [ChannelSpec("all", settings.service_name, "Every partner's news, credited.", window)]
    for p in sorted(partners, key=lambda p: p.id):
        specs.append(
            ChannelSpec(partner_channel_id(p.id), p.name, f"News from {p.name}, credited.", window, (p.id,))
        )
    for c in settings.channels:
        specs.append(
            ChannelSpec(
                c.id, c.title, c.description, c.window or window, tuple(c.partners), tuple(c.categories),
                c.language,
            )
        )
    return specs


def partner_infos(session: Session) -> dict[str, PartnerInfo]:
    # Columns, not ORM rows: sources carry JSON state (credentials, redirects, counts) we do not need here.
    feeds: dict[str, str] = {}
    for partner_id, effective_url, locator in session.execute(
        select(Source.partner_id, Source.effective_url, Source.locator).where(Source.kind == "feed").order_by(Source.id)
    ):
        feeds.setdefault(partner_id, effective_url or locator)
    return {
        pid: PartnerInfo(pid, name, homepage, feeds.get(pid), credit, license_url, usage_terms, copyright_, updated)
        for pid, name, homepage, credit, license_url, usage_terms, copyright_, updated in session.execute(
            select(Partner.id, Partner.name, Partner.homepage, Partner.credit, Partner.license_url,
                   Partner.usage_terms, Partner.copyright, Partner.updated_at)
        )
    }


# What a published item is made of: read as columns, not ORM rows, where nothing else of the item is needed
# (an archive page of `all` reads a hundred long items; the ORM's identity map and instance state were a
# tenth of a first import's publish).
PUBLISHED_COLUMNS = (Item.id, Item.partner_id, Item.key, Item.url, Item.title, Item.content_html, Item.summary,
                     Item.authors, Item.categories, Item.language, Item.published_at, Item.updated_at,
                     Item.attribution, Item.version, Item.guid)


class ItemIdentity(Protocol):
    """What identifies and credits an item: an Item, or a row of columns holding at least these (a notice copies
    them: publish.notices)."""

    @property
    def id(self) -> int: ...
    @property
    def partner_id(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def guid(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def version(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def attribution(self) -> dict[str, Any] | None: ...


class ItemColumns(ItemIdentity, Protocol):
    """An Item, or a row of PUBLISHED_COLUMNS."""

    @property
    def content_html(self) -> str: ...
    @property
    def summary(self) -> str | None: ...
    @property
    def authors(self) -> list[Any] | None: ...
    @property
    def categories(self) -> list[Any] | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def published_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def select_items(
    session: Session, spec: ChannelSpec, partners: dict[str, PartnerInfo], now: datetime
) -> list[PublishedItem]:
    # A story carried by several partners appears once where more than one partner's items meet (story_item
    # reads the ORM rows of the story); elsewhere the columns of a published item are enough.
    dedupe = len(spec.partners) != 1
    query = (
        (select(Item) if dedupe else select(*PUBLISHED_COLUMNS))
        .where(Item.status != "withdrawn")
        .where(embargo_passed(now))
        .order_by(Item.sort_at.desc(), Item.id.desc())
    )
    if spec.partners:
        query = query.where(Item.partner_id.in_(spec.partners))
    wanted = {c.lower() for c in spec.categories}
    out: list[PublishedItem] = []
    seen_stories: set[int] = set()
    # Category filters are applied here (categories are JSON); read in pages until the window is full.
    limit = spec.window if not wanted else spec.window * 4
    offset = 0
    while len(out) < spec.window:
        page = query.limit(limit).offset(offset)
        rows: list[Any] = list(session.scalars(page) if dedupe else session.execute(page))
        for row in rows:
            if wanted and not wanted.intersection(c.lower() for c in row.categories or ()):
                continue
            if spec.language and (row.language or "").split("-")[0] != spec.language.split("-")[0]:
                continue
            if dedupe and row.story_id is not None:
                if row.story_id in seen_stories:
                    continue
                seen_stories.add(row.story_id)
                out.append(story_item(session, row, spec, partners, now))
            else:
                out.append(to_published(row, partners[row.partner_id]))
            if len(out) >= spec.window:
                break
        if len(rows) < limit:
            break
        offset += limit
    return out


def to_published(row: ItemColumns, partner: PartnerInfo) -> PublishedItem:
    return PublishedItem(
        id=row.id,
        uid=item_uid(row.partner_id, row.key),
        partner=partner,
        url=row.url,
        title=row.title,
        content_html=row.content_html,
        summary=row.summary,
        authors=tuple(row.authors or ()),
        categories=tuple(row.categories or ()),
        language=row.language,
        published=row.published_at,
        updated=row.updated_at,
        attribution=dict(row.attribution or {}),
        version=row.version,
        guid=row.guid,
    )


def story_item(
    session: Session, row: Item, spec: ChannelSpec, partners: dict[str, PartnerInfo], now: datetime
) -> PublishedItem:
    """The copy of `row`'s story this channel shows (the originating agency's if it carries it), crediting
    every carrier."""
    # lazy: start-up: story grouping (nh3) loads only for a channel that dedupes stories
    from syndication.pipeline.stories import carrier_entry, preferred_carrier

    query = (
        select(Item)
        .where(Item.story_id == row.story_id, Item.status != "withdrawn")
        .where(embargo_passed(now))
        .order_by(Item.published_at, Item.id)
    )
    if spec.partners:
        query = query.where(Item.partner_id.in_(spec.partners))
    members = [m for m in session.scalars(query) if m.partner_id in partners] or [row]
    story = session.get(Story, row.story_id)
    credits = {pid: p.credit for pid, p in partners.items()}
    chosen = preferred_carrier(members, story.original_agency if story else None, credits)
    carriers = tuple(
        carrier_entry(m, partners[m.partner_id].credit, partners[m.partner_id].name, item_uid(m.partner_id, m.key))
        for m in members
    )
    return replace(to_published(chosen, partners[chosen.partner_id]), carriers=carriers)
