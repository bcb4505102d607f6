"""The outbox relay (events -> dirty channels) and the channel publisher (dirty channels -> files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Channel, ChannelFile, Event, Partner
from syndication.db.session import transaction
from syndication.publish.channels import (
    ChannelSpec,
    channel_specs,
    channels_for_partner,
    partner_infos,
    select_items,
)
from syndication.publish.feeds import RENDERERS, FeedContext
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


def publish(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, only_dirty: bool
) -> list[ChannelResult]:
    """Regenerate channels (all, or only the dirty ones); write only files whose bytes changed."""
    with sessions() as session:
        specs = channel_specs(settings, list(session.scalars(select(Partner))))
        dirty = {c.id: c.dirty_since for c in session.scalars(select(Channel).where(Channel.dirty_since.is_not(None)))}
    if only_dirty:
        specs = [s for s in specs if s.id in dirty]
    if not specs:
        return []
    ctx = FeedContext(public_url=settings.public_url, ttl_minutes=settings.publish.ttl)
    results: list[ChannelResult] = []
    rendered: list[tuple[ChannelSpec, str, Path, bytes, int]] = []
    with sessions() as session:
        partners = partner_infos(session)
        for spec in specs:
            items = select_items(session, spec, partners, now)
            for fmt in FORMATS:
                data = RENDERERS[fmt](spec, items, ctx)
                rendered.append((spec, fmt, channel_path(settings.feeds_dir, spec.id, fmt), data, len(items)))
    written: list[tuple[ChannelSpec, str, Path, bytes, int]] = []
    for spec, fmt, path, data, count in rendered:
        changed = write_if_changed(path, data)
        results.append(ChannelResult(spec.id, fmt, str(path), count, changed))
        if changed:
            written.append((spec, fmt, path, data, count))
    with transaction(sessions) as session:
        files = {(f.channel_id, f.format): f for f in session.scalars(select(ChannelFile))}
        for spec, fmt, path, data, count in rendered:
            row = files.get((spec.id, fmt))
            digest = sha256(data)
            if row is None:
                session.add(
                    ChannelFile(channel_id=spec.id, format=fmt, path=str(path), sha256=digest, size=len(data),
                                items=count, written_at=now)
                )
            elif row.sha256 != digest:
                row.sha256, row.size, row.items, row.written_at, row.path = digest, len(data), count, now, str(path)
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
