"""WebSub publisher pings: tell the hub (hub.mode=publish, hub.url=<feed>) that a channel changed.

Pings are deliveries, like webhooks: the publisher only records a pending row per changed topic (one
short transaction; it never waits for a hub), and `deliver_pings` (the notify queue's
`syndication.deliver_pings` task, or the embedded service's notify thread) sends them. Each ping is claimed
by lease for its POST (webhooks.claim_one), so two runners never both send it; a failure is retried
`websub.retries` times after `websub.retry_delay` s, doubling, ±20 % jitter; a 4xx other than 408/429
fails at once (the hub refuses the request). States (pending, retrying, delivered, failed), attempts and
the last error are in websub_pings, listed by `syndication notices pings`.

A topic that already has a ping waiting (not in flight) gets no second one: one ping tells the hub to
fetch the topic, which then carries every change made meanwhile.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import WebSubPing
from syndication.db.session import transaction
from syndication.kernel.retry import backoff
from syndication.kernel.settings import Settings
from syndication.publish.published import file_extension
from syndication.publish.webhooks import DUE_STATES, claim_one, post

log = logging.getLogger(__name__)

STATES = ("pending", "retrying", "delivered", "failed")
BACKOFF_CAP = 3600.0
BATCH = 100


def topics_of(settings: Settings, results: Sequence[object]) -> list[tuple[str, str]]:
    """(channel, topic URL) of every changed current feed file (each format is its own topic)."""
    base = settings.public_url.rstrip("/")
    return sorted({(r.channel, f"{base}/feeds/{r.channel}.{file_extension(r.format)}")  # type: ignore[attr-defined]
                   for r in results if getattr(r, "changed", False)})


def ping_changed(
    sessions: sessionmaker[Session], settings: Settings, results: Sequence[object], now: datetime
) -> list[WebSubPing]:
    """Record a pending ping per changed topic that has none waiting; no HTTP here."""
    hub = settings.websub.hub_url
    if not hub:
        return []
    topics = topics_of(settings, results)
    if not topics:
        return []
    with transaction(sessions) as session:
        waiting = set(session.scalars(
            select(WebSubPing.topic_url).where(
                WebSubPing.hub_url == hub, WebSubPing.state.in_(DUE_STATES),
                WebSubPing.topic_url.in_([t for _, t in topics]),
                or_(WebSubPing.lease_token.is_(None), WebSubPing.lease_expires_at < now))
        ))
        rows = [WebSubPing(channel_id=channel, topic_url=topic, hub_url=hub, state="pending", attempts=0,
                           created_at=now, next_attempt_at=now)
                for channel, topic in topics if topic not in waiting]
        session.add_all(rows)
    return rows


@dataclass(slots=True)
class PingRun:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0
    more: bool = False
    next_due: datetime | None = None  # earliest retry left waiting by this run's failures

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "delivered": self.delivered, "retrying": self.retrying,
                "failed": self.failed, "lost": self.lost, "more": self.more,
                "next_due": self.next_due.isoformat() if self.next_due else None}


def due_pings(sessions: sessionmaker[Session], now: datetime, limit: int = BATCH) -> list[int]:
    with sessions() as session:
        return list(session.scalars(
            select(WebSubPing.id)
            .where(WebSubPing.state.in_(DUE_STATES), WebSubPing.next_attempt_at <= now)
            .where(or_(WebSubPing.lease_token.is_(None), WebSubPing.lease_expires_at < now))
            .order_by(WebSubPing.next_attempt_at, WebSubPing.id)
            .limit(limit)
        ))


def deliver_pings(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, rng: random.Random | None = None,
    client: httpx.Client | None = None, budget: float | None = None,
) -> PingRun:
    """One run: claim each due ping just before its POST, record the outcome while the lease is ours."""
    run = PingRun()
    ws = settings.websub
    t0 = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - t0)

    ids = due_pings(sessions, now)
    run.more = len(ids) >= BATCH
    if not ids:
        return run
    # The lease must outlive one POST (each of connect, send, answer up to `timeout`).
    lease = 3 * ws.timeout + 30
    own = client is None
    http = client or httpx.Client(timeout=ws.timeout, headers={"User-Agent": settings.fetch.user_agent},
                                  follow_redirects=False)
    try:
        for ping_id in ids:
            if budget is not None and time.monotonic() - t0 > budget:
                run.more = True
                break
            token = claim_one(sessions, WebSubPing, ping_id, clock(), lease)
            if token is None:
                run.lost += 1
                continue
            run.claimed += 1
            with sessions() as session:
                row = session.get(WebSubPing, ping_id)
                assert row is not None
                hub, topic = row.hub_url, row.topic_url
            status, error = post(http, hub, deadline=time.monotonic() + 3 * ws.timeout,
                                 data={"hub.mode": "publish", "hub.url": topic})
            if error is not None and status is not None:
                error = f"hub answered HTTP {status}"
            _record(sessions, settings, ping_id, token, status, error, clock(), run, rng)
    finally:
        if own:
            http.close()
    return run


def _record(
    sessions: sessionmaker[Session], settings: Settings, ping_id: int, token: str, status: int | None,
    error: str | None, now: datetime, run: PingRun, rng: random.Random | None,
) -> None:
    ws = settings.websub
    with transaction(sessions) as session:
        row = session.get(WebSubPing, ping_id)
        if row is None or row.lease_token != token:
            log.warning("WebSub ping %s: lease lost during its POST; outcome not recorded", ping_id)
            return
        row.attempts += 1
        row.http_status, row.last_attempt_at = status, now
        row.lease_token, row.lease_expires_at = None, None
        row.outcome = "ok" if error is None else "failed"
        if error is None:
            row.state, row.delivered_at, row.error = "delivered", now, None
            run.delivered += 1
            return
        row.error = error
        refused = status is not None and 400 <= status < 500 and status not in (408, 429)
        if refused or row.attempts > ws.retries:
            row.state = "failed"
            run.failed += 1
            log.warning("WebSub ping for %s failed after %d attempt(s): %s", row.topic_url, row.attempts, error)
            return
        row.state = "retrying"
        row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts, ws.retry_delay, BACKOFF_CAP, rng))
        run.retrying += 1
        if run.next_due is None or row.next_attempt_at < run.next_due:
            run.next_due = row.next_attempt_at


def retry(sessions: sessionmaker[Session], ping_ids: Sequence[int] | None, now: datetime) -> int:
    """Requeue failed pings (these, or every failed one): a fresh round of attempts. Returns how many."""
    with transaction(sessions) as session:
        query = select(WebSubPing).where(WebSubPing.state == "failed")
        if ping_ids is not None:
            query = query.where(WebSubPing.id.in_(list(ping_ids)))
        rows = list(session.scalars(query))
        for row in rows:
            row.state, row.next_attempt_at, row.attempts = "pending", now, 0
            row.lease_token, row.lease_expires_at = None, None
        return len(rows)


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        found = dict(session.execute(select(WebSubPing.state, func.count()).group_by(WebSubPing.state)).all())
    return {s: int(found.get(s, 0)) for s in STATES}
