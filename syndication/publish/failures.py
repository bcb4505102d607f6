"""Publish health of each channel, kept in the database so every process reports the same figures.

A channel whose files cannot be written (a full disk, a file where a directory must be, a render that
raises) keeps its dirty mark and is retried with exponential backoff (`publish.retry_base` seconds,
doubling per consecutive failure up to `publish.retry_cap`, ±20 % jitter); the scheduler tick starts the
retry once `next_retry_at` has passed. The `channels` row counts the failures (`consecutive_failures`,
`failures_total`) and keeps `last_error`, `failing_since` and `next_retry_at`: `syndication status`,
`syndication failures`, /ops, /metrics (`syndication_publish_failures_total{channel}`) and /readyz (503
while any channel is failing) read them. The first successful write of the channel ends the streak.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from syndication.db.models import Channel
from syndication.kernel.clock import isoformat
from syndication.kernel.retry import backoff


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: str
    consecutive_failures: int
    failures_total: int
    last_error: str | None
    last_error_at: datetime | None
    failing_since: datetime | None
    next_retry_at: datetime | None
    published_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "consecutive_failures": self.consecutive_failures,
                "failures_total": self.failures_total, "last_error": self.last_error,
                "last_error_at": isoformat(self.last_error_at), "failing_since": isoformat(self.failing_since),
                "next_retry_at": isoformat(self.next_retry_at), "last_published_at": isoformat(self.published_at)}


def error_text(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:2000]


def reason(h: ChannelHealth, now: datetime) -> str:
    """One line for operators and /readyz."""
    since = isoformat(h.failing_since) or "?"
    retry = "" if h.next_retry_at is None else (
        f"; next retry in {max(0.0, (h.next_retry_at - now).total_seconds()):.0f} s")
    return (f"channel {h.channel} not published since {since} ({h.consecutive_failures} failed "
            f"attempt{'s' if h.consecutive_failures != 1 else ''}{retry}): {h.last_error}")


def record_failure(
    session: Session, channel_id: str, error: str, now: datetime, *, base: float, cap: float,
    rng: random.Random | None = None,
) -> ChannelHealth:
    """Count one failed publish of the channel (in the caller's transaction) and schedule its retry.

    The channel is left dirty (marked if it was not): the next dirty run after `next_retry_at` retries it.
    Counters move in SQL, so processes failing at once lose no count."""
    if session.get(Channel, channel_id) is None:
        session.add(Channel(id=channel_id, dirty_seq=0, published_seq=0, consecutive_failures=0, failures_total=0))
        session.flush()
    session.execute(update(Channel).where(Channel.id == channel_id).values(
        consecutive_failures=Channel.consecutive_failures + 1,
        failures_total=Channel.failures_total + 1,
        last_error=error, last_error_at=now,
    ))
    session.execute(update(Channel).where(Channel.id == channel_id, Channel.failing_since.is_(None))
                    .values(failing_since=now))
    # Not a new mark (dirty_seq stays): a mark is "a change to publish", and a run must not see its own
    # failure as a fresh change and retry at once.
    session.execute(update(Channel).where(Channel.id == channel_id, Channel.dirty_since.is_(None))
                    .values(dirty_since=now))
    failures = int(session.scalar(select(Channel.consecutive_failures).where(Channel.id == channel_id)) or 1)
    retry_at = now + timedelta(seconds=backoff(failures, base, cap, rng))
    session.execute(update(Channel).where(Channel.id == channel_id).values(next_retry_at=retry_at))
    row = session.get(Channel, channel_id)
    assert row is not None
    session.refresh(row)
    return _health(row)


def success_values() -> dict[str, Any]:
    """Column values of a channel just written (its failure streak ends; the total stays)."""
    return {"consecutive_failures": 0, "failing_since": None, "next_retry_at": None}


def clear_failures(session: Session, channel_ids: list[str]) -> None:
    """These channels were just written: their failure streak (if any) ends; the total stays."""
    if channel_ids:
        session.execute(update(Channel).where(Channel.id.in_(channel_ids), Channel.consecutive_failures > 0)
                        .values(consecutive_failures=0, failing_since=None, next_retry_at=None))


def failing(session: Session) -> list[ChannelHealth]:
    """Channels whose last publish failed, longest failing first."""
    rows = session.scalars(select(Channel).where(Channel.consecutive_failures > 0)
                           .order_by(Channel.failing_since, Channel.id))
    return [_health(r) for r in rows]


def counted(session: Session) -> list[ChannelHealth]:
    """Every channel's publish health (for /metrics: counters exist from zero)."""
    return [_health(r) for r in session.scalars(select(Channel).order_by(Channel.id))]


def backing_off(session: Session, now: datetime) -> set[str]:
    """Failing channels a dirty run leaves alone: all of them until one's retry is due, then none (their
    faults are usually one fault, a disk or a directory, so they are retried together; each channel's
    next retry is then scheduled from its own count)."""
    if retry_due(session, now):
        return set()
    return set(session.scalars(select(Channel.id).where(Channel.consecutive_failures > 0)))


def retry_due(session: Session, now: datetime) -> bool:
    """Is a failed channel due for its retry?"""
    return session.scalar(select(Channel.id).where(Channel.consecutive_failures > 0, Channel.next_retry_at <= now)
                          .limit(1)) is not None


def _health(r: Channel) -> ChannelHealth:
    return ChannelHealth(r.id, int(r.consecutive_failures or 0), int(r.failures_total or 0), r.last_error,
                         r.last_error_at, r.failing_since, r.next_retry_at, r.published_at)
