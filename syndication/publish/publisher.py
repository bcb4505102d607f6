"""The outbox relay (events -> dirty channels) and the channel publisher (dirty channels -> files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Channel, ChannelFile, Event, Partner
from syndication.db.session import transaction
from syndication.publish import archives
from syndication.publish.channels import (
    ChannelSpec,
    channel_specs,
    channels_for_partner,
    partner_infos,
    select_items,
)
from syndication.publish.feeds import RENDERERS, Extras, FeedContext, Paging
from syndication.publish.files import sha256, write_if_changed
from syndication.settings import Settings

FORMATS = ("atom", "rss", "json")


@dataclass(frozen=True, slots=True)
class ChannelResult:
    channel: str
    format: str
    path: str
    items: int
    changed: bool


def relay_outbox(session: Session, settings: Settings, now: datetime, limit: int = 5000) -> set[str]:
    """Mark the channels affected by unrelayed events dirty; return their ids."""
    query = select(Event).where(Event.relayed_at.is_(None)).order_by(Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = list(session.scalars(query))
    if not events:
        return set()
    specs = channel_specs(settings, list(session.scalars(select(Partner))))
    dirty: set[str] = set()
    for ev in events:
        dirty.update(channels_for_partner(specs, ev.partner_id))
        ev.relayed_at = now
    from syndication.publish import notices

    dirty.update(notices.record_for_events(session, settings, specs, events, now))
    mark_dirty(session, dirty, now)
    return dirty


def mark_dirty(session: Session, channel_ids: set[str], now: datetime) -> None:
    existing = {c.id: c for c in session.scalars(select(Channel).where(Channel.id.in_(channel_ids)))}
    for cid in sorted(channel_ids):
        row = existing.get(cid)
        if row is None:
            session.add(Channel(id=cid, dirty_since=now))
        elif row.dirty_since is None:
            row.dirty_since = now


def channel_path(feeds_dir: Path, channel_id: str, fmt: str) -> Path:
    return feeds_dir / f"{channel_id}.{fmt}"


def archive_path(feeds_dir: Path, channel_id: str, page: int, fmt: str) -> Path:
    return feeds_dir / channel_id / "archive" / f"{page}.{fmt}"


@dataclass(frozen=True, slots=True)
class _Doc:
    spec: ChannelSpec
    fmt: str
    path: Path
    data: bytes
    count: int
    name: str  # channel id, or "<channel>/archive/<n>"
    record: bool  # keep a channel_files row (current documents only)


def _render_channel(
    sessions: sessionmaker[Session], settings: Settings, spec: ChannelSpec, ctx: FeedContext, now: datetime,
    *, full: bool,
) -> tuple[list[_Doc], list[int]]:
    """Render the current documents and every archive page that may still change. Returns the pages
    that are complete (full, successor exists) and get written for the last time."""
    page_size = settings.publish.archive_page_size or spec.window
    with transaction(sessions) as session:
        partners = partner_infos(session)
        items = select_items(session, spec, partners, now)
        pages = archives.assign(session, spec, items, page_size, now)
        stones = archives.tombstones(session, spec, now, settings.publish.tombstone_days, ctx.base + "/items")
        docs: list[_Doc] = []
        last = pages[-1].page if pages else None
        current = Extras(Paging(prev_archive=last), stones)
        for fmt in FORMATS:
            data = RENDERERS[fmt](spec, items, ctx, current)
            docs.append(_Doc(spec, fmt, channel_path(settings.feeds_dir, spec.id, fmt), data, len(items), spec.id,
                             True))
        freezing: list[int] = []
        numbers = {p.page for p in pages}
        for p in pages:
            complete = p.items >= page_size and (p.page + 1) in numbers
            paths = {fmt: archive_path(settings.feeds_dir, spec.id, p.page, fmt) for fmt in FORMATS}
            if p.frozen and not (full and not all(path.exists() for path in paths.values())):
                continue  # frozen pages are never rewritten (unless their files were lost)
            page_list = archives.page_items(session, spec, p.page, partners, frozen=p.frozen or complete)
            extras = Extras(Paging(archive_page=p.page, prev_archive=p.page - 1 if p.page > 1 else None,
                                   next_archive=p.page + 1 if (p.page + 1) in numbers else None))
            for fmt in FORMATS:
                data = RENDERERS[fmt](spec, page_list, ctx, extras)
                docs.append(_Doc(spec, fmt, paths[fmt], data, len(page_list), f"{spec.id}/archive/{p.page}", False))
            if complete and not p.frozen:
                freezing.append(p.page)
    return docs, freezing


def publish(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, only_dirty: bool
) -> list[ChannelResult]:
    """Regenerate channels (all, or only the dirty ones); write only files whose bytes changed.

    Also: RFC 5005 archive pages, notices feeds, and WebSub pings for channels that changed.
    """
    with sessions() as session:
        specs = channel_specs(settings, list(session.scalars(select(Partner))))
        dirty = {c.id: c.dirty_since for c in session.scalars(select(Channel).where(Channel.dirty_since.is_not(None)))}
    if only_dirty:
        specs = [s for s in specs if s.id in dirty]
    results: list[ChannelResult] = []
    if specs:
        results = _publish_channels(sessions, settings, now, specs, dirty, full=not only_dirty)
    from syndication.publish import notices

    notices.publish_feeds(sessions, settings, now, only_dirty=only_dirty)
    if settings.websub.hub_url:
        from syndication.publish import websub

        websub.ping_changed(sessions, settings, results, now)
    return results


def _publish_channels(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, specs: list[ChannelSpec],
    dirty: dict[str, datetime | None], *, full: bool,
) -> list[ChannelResult]:
    ctx = FeedContext(public_url=settings.public_url, ttl_minutes=settings.publish.ttl,
                      hub_url=settings.websub.hub_url)
    results: list[ChannelResult] = []
    rendered: list[_Doc] = []
    freezing: dict[str, list[int]] = {}
    for spec in specs:
        docs, frozen = _render_channel(sessions, settings, spec, ctx, now, full=full)
        rendered.extend(docs)
        freezing[spec.id] = frozen
    for doc in rendered:
        changed = write_if_changed(doc.path, doc.data)
        if doc.record:
            results.append(ChannelResult(doc.spec.id, doc.fmt, str(doc.path), doc.count, changed))
    with transaction(sessions) as session:
        files = {(f.channel_id, f.format): f for f in session.scalars(select(ChannelFile))}
        for doc in rendered:
            if not doc.record:
                continue
            row = files.get((doc.spec.id, doc.fmt))
            digest = sha256(doc.data)
            if row is None:
                session.add(
                    ChannelFile(channel_id=doc.spec.id, format=doc.fmt, path=str(doc.path), sha256=digest,
                                size=len(doc.data), items=doc.count, written_at=now)
                )
            elif row.sha256 != digest:
                row.sha256, row.size, row.items, row.written_at = digest, len(doc.data), doc.count, now
                row.path = str(doc.path)
        for channel_id, pages in freezing.items():
            if pages:
                archives.mark_frozen(session, channel_id, pages, now)
        for spec in specs:
            since = dirty.get(spec.id)
            if since is not None:
                # Only clear marks we saw: a mark set while we rendered stays for the next run.
                session.execute(
                    update(Channel)
                    .where(Channel.id == spec.id, Channel.dirty_since <= since)
                    .values(dirty_since=None, published_at=now)
                )
    return results
