"""Webhook delivery of republishing notices.

Each notice × endpoint is a `deliveries` row: pending -> delivered | retrying -> failed. A run claims
due rows by lease (like sources: FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite), POSTs
them, and records the outcome only while the lease is still ours. A delivered row is never claimed
again, so after a recorded 2xx a notice is not sent twice to the same endpoint. Rows survive restarts;
a lost run heals when its lease expires.

Signature scheme (what a receiver checks):
    X-Syndication-Timestamp: <unix seconds, integer>
    X-Syndication-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body bytes)>
Receivers should recompute the HMAC over the exact bytes received, compare in constant time, and
reject timestamps more than 5 minutes from their clock (replays). X-Syndication-Notice carries the
notice id (urn:uuid) so a receiver can also de-duplicate. Body: the notice as JSON (UTF-8).

Retries: failures (non-2xx, network errors) back off exponentially (backoff_base * 2^(attempts-1), ±20 %
jitter, capped at backoff_cap) until max_age after creation, then the delivery fails. HTTP 410 Gone
unsubscribes the endpoint: its pending deliveries fail and no new ones are queued. Secrets come from
the configuration only and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Delivery, Notice, WebhookEndpoint
from syndication.db.session import transaction
from syndication.publish.notices import endpoint_secret, notice_dict
from syndication.settings import Settings

log = logging.getLogger(__name__)

TASK_DELIVER_NOTICES = "syndication.deliver_notices"
QUEUE = "notify"
SIGNATURE_HEADER = "X-Syndication-Signature"
TIMESTAMP_HEADER = "X-Syndication-Timestamp"
NOTICE_HEADER = "X-Syndication-Notice"
DUE_STATES = ("pending", "retrying")
STATES = ("pending", "retrying", "delivered", "failed")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance: float = 300) -> bool:
    """What a receiver does (used by our tests; documented for partners)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `attempts` failures: exponential, ±20 % jitter, capped."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return min(cap, delay * (rng or random).uniform(0.8, 1.2))


def body_of(notice: Notice) -> bytes:
    return json.dumps({"type": "syndication.notice", "notice": notice_dict(notice)}, sort_keys=True,
                      ensure_ascii=False).encode("utf-8")


@dataclass(slots=True)
class DeliveryRun:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    unsubscribed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "delivered": self.delivered, "retrying": self.retrying,
                "failed": self.failed, "unsubscribed": self.unsubscribed}


@dataclass(frozen=True, slots=True)
class _Claim:
    id: int
    token: str
    endpoint: str
    url: str
    attempts: int
    expires_at: datetime
    body: bytes
    notice_uid: str


def claim(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> list[_Claim]:
    w = settings.webhooks
    with transaction(sessions) as session:
        query = (
            select(Delivery)
            .where(Delivery.state.in_(DUE_STATES), Delivery.next_attempt_at <= now)
            .where(or_(Delivery.lease_token.is_(None), Delivery.lease_expires_at < now))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(w.batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        notices = {n.id: n for n in session.scalars(select(Notice).where(Notice.id.in_({r.notice_id for r in rows})))}
        gone = {e.id for e in session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_({r.endpoint for r in rows}), WebhookEndpoint.unsubscribed_at.is_not(None)))}
        out = []
        for row in rows:
            if row.endpoint in gone:
                row.state, row.last_error = "failed", "endpoint unsubscribed (HTTP 410)"
                continue
            if row.expires_at <= now:
                row.state = "failed"
                row.last_error = (row.last_error or "not delivered") + " (gave up: max age reached)"
                continue
            row.lease_token = secrets.token_hex(16)
            row.lease_expires_at = now + timedelta(seconds=w.lease_seconds)
            out.append(_Claim(row.id, row.lease_token, row.endpoint, row.url, row.attempts, row.expires_at,
                              body_of(notices[row.notice_id]), notices[row.notice_id].uid))
        return out


def _post(client: httpx.Client, c: _Claim, secret: str, now: datetime) -> tuple[int | None, str | None]:
    ts = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, c.body),
        NOTICE_HEADER: c.notice_uid,
    }
    try:
        resp = client.post(c.url, content=c.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{exc.__class__.__name__}: {exc}"
    if 200 <= resp.status_code < 300:
        return resp.status_code, None
    return resp.status_code, f"HTTP {resp.status_code}"


def deliver_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, rng: random.Random | None = None,
    client: httpx.Client | None = None,
) -> DeliveryRun:
    """One delivery run: claim due deliveries, POST them, record outcomes."""
    run = DeliveryRun()
    claims = claim(sessions, settings, now)
    run.claimed = len(claims)
    if not claims:
        return run
    w = settings.webhooks
    own = client is None
    http = client or httpx.Client(timeout=w.timeout, headers={"User-Agent": settings.fetch.user_agent},
                                  follow_redirects=False)
    try:
        for c in claims:
            secret = endpoint_secret(settings, c.endpoint)
            status: int | None
            error: str | None
            if secret is None:
                status, error = None, "endpoint no longer configured"
            else:
                status, error = _post(http, c, secret, now)
            _record(sessions, settings, c, status, error, now, run, rng, configured=secret is not None)
    finally:
        if own:
            http.close()
    return run


def _record(
    sessions: sessionmaker[Session], settings: Settings, c: _Claim, status: int | None, error: str | None,
    now: datetime, run: DeliveryRun, rng: random.Random | None, *, configured: bool,
) -> None:
    w = settings.webhooks
    with transaction(sessions) as session:
        row = session.get(Delivery, c.id)
        if row is None or row.lease_token != c.token:
            return  # our lease expired and someone else took it
        row.attempts += 1
        row.last_status = status
        row.lease_token, row.lease_expires_at = None, None
        if error is None:
            row.state, row.delivered_at, row.last_error = "delivered", now, None
            run.delivered += 1
            return
        row.last_error = error or "failed"
        if status == 410:
            row.state = "failed"
            row.last_error = "HTTP 410 Gone: endpoint unsubscribed"
            ep = session.get(WebhookEndpoint, c.endpoint)
            if ep is None:
                session.add(WebhookEndpoint(id=c.endpoint, url=c.url, unsubscribed_at=now, reason="HTTP 410 Gone"))
            else:
                ep.unsubscribed_at, ep.reason = now, "HTTP 410 Gone"
            session.execute(
                update(Delivery)
                .where(Delivery.endpoint == c.endpoint, Delivery.state.in_(DUE_STATES), Delivery.id != c.id)
                .values(state="failed", last_error="endpoint unsubscribed (HTTP 410)")
            )
            run.failed += 1
            run.unsubscribed.append(c.endpoint)
            log.warning("webhook endpoint %s answered 410: unsubscribed", c.endpoint)
            return
        next_at = now + timedelta(seconds=backoff(row.attempts, w.backoff_base, w.backoff_cap, rng))
        if not configured or next_at >= row.expires_at:
            row.state = "failed"
            run.failed += 1
        else:
            row.state, row.next_attempt_at = "retrying", next_at
            run.retrying += 1


def retry(sessions: sessionmaker[Session], settings: Settings, notice_ids: list[int], now: datetime) -> int:
    """Requeue the failed deliveries of these notices (and resubscribe their endpoints). Returns how many."""
    with transaction(sessions) as session:
        rows = list(session.scalars(select(Delivery).where(Delivery.notice_id.in_(notice_ids),
                                                           Delivery.state == "failed")))
        for row in rows:
            row.state, row.next_attempt_at = "pending", now
            row.expires_at = now + timedelta(seconds=settings.webhooks.max_age)
            row.lease_token, row.lease_expires_at = None, None
            ep = session.get(WebhookEndpoint, row.endpoint)
            if ep is not None and ep.unsubscribed_at is not None:
                ep.unsubscribed_at, ep.reason = None, None
        return len(rows)
