"""Bulk rounds publish once: when the channels changed by a round of polls are rendered.

A round is the set of sources claimed together (one scheduler tick, one `syndication ingest`), recorded on
each source as `lease_round` while its lease is live. Rendering a channel after every poll of a round
renders `all` (and its archive pages, and every custom channel) once per poll; so instead:

- a poll that stored changes while others of its round still hold their leases publishes nothing: its
  events are relayed (by the scheduler tick or the round's publish) and its channels stay marked dirty;
- the poll that ends its round publishes (debounced) whatever is owed: its own changes, or events and
  marks left by the round. Each poll looks after its own commit, so of polls ending together at least the
  last to commit sees the round over, in any process, on SQLite and PostgreSQL alike;
- the latency bound: the scheduler tick publishes a change that has waited `publish.round_max_delay` for a
  round still running (a long first import; a poll that hangs until its lease expires);
- pushes never wait for a round: the push API publishes on its own (debounced), as before.

The decisions are pure functions; the reads they need are below them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Channel, Event, Source
from syndication.kernel.clock import utcnow

if TYPE_CHECKING:
    from syndication.runtime.context import Runtime


# ---------------------------------------------------------------- decisions (pure)


def publish_after_poll(*, changed: bool, round_running: bool, owed: bool) -> bool:
    """After a poll: publish now (debounced) only when its round is over and something is owed."""
    if round_running:
        return False  # the round's last poll (or the tick's bound) publishes this change
    return changed or owed


def publish_on_tick(
    *, relayed: bool, oldest_mark: datetime | None, round_running: bool, now: datetime, max_delay: float
) -> bool:
    """On a scheduler tick, after relaying: publish what was relayed unless a round will, and publish
    anyway once a mark has waited `max_delay` seconds for a round that is still running."""
    if oldest_mark is None:
        return False
    if round_running:
        return oldest_mark <= now - timedelta(seconds=max_delay)
    return relayed


# ---------------------------------------------------------------- reads


def round_of(sessions: sessionmaker[Session], source_id: int, lease_token: str | None) -> str | None:
    """The round a poll belongs to (None: no lease, or the lease is no longer this token's)."""
    if lease_token is None:
        return None
    with sessions() as session:
        return session.scalar(
            select(Source.lease_round).where(Source.id == source_id, Source.lease_token == lease_token)
        )


def _live(now: datetime) -> Any:
    return (Source.lease_token.is_not(None)) & (Source.lease_expires_at > now)


def round_running(session: Session, round_id: str, now: datetime) -> bool:
    """Does any source of the round still hold its lease? (An expired lease is a lost poll: it ends nothing.)"""
    hit = session.scalar(select(Source.id).where(Source.lease_round == round_id, _live(now)).limit(1))
    return hit is not None


def any_round_running(session: Session, now: datetime) -> bool:
    return session.scalar(select(Source.id).where(_live(now)).limit(1)) is not None


def _waiting() -> Any:
    # A channel that failed to publish waits for its own retry (syndication.publish.failures), which the
    # tick triggers: its mark must not make every round's end, or the bound, publish again.
    return Channel.dirty_since.is_not(None) & (Channel.consecutive_failures == 0)


def publish_owed(session: Session) -> bool:
    """Is anything waiting to be published: an event not yet relayed, or a (healthy) channel marked dirty?"""
    if session.scalar(select(Event.id).where(Event.relayed_at.is_(None)).limit(1)) is not None:
        return True
    return session.scalar(select(Channel.id).where(_waiting()).limit(1)) is not None


def oldest_mark(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Channel.dirty_since)).where(_waiting()))


# ---------------------------------------------------------------- the two triggers


def after_poll(sessions: sessionmaker[Session], round_id: str | None, changed: bool,
               publish: Callable[[], None]) -> bool:
    """Called by a dispatcher once a poll has committed; calls `publish` (a debounced publish_dirty) when
    the rules say so."""
    with sessions() as session:
        running = round_id is not None and round_running(session, round_id, utcnow())
        owed = not running and not changed and publish_owed(session)
    if not publish_after_poll(changed=changed, round_running=running, owed=owed):
        return False
    publish()
    return True


def on_tick(rt: Runtime, relayed: bool, publish: Callable[[], None]) -> bool:
    """Called by the scheduler tick after it relayed pending events (`relayed`: it marked channels)."""
    now = utcnow()
    with rt.sessions() as session:
        oldest = oldest_mark(session)
        running = oldest is not None and any_round_running(session, now)
    if not publish_on_tick(relayed=relayed, oldest_mark=oldest, round_running=running, now=now,
                           max_delay=rt.settings.publish.round_max_delay):
        return False
    publish()
    return True
