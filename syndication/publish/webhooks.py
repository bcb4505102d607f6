"""Webhook delivery of republishing notices, signed per Standard Webhooks (https://www.standardwebhooks.com/).

Each notice x endpoint is a `deliveries` row: pending -> delivered | retrying -> failed. A run lists due
rows, then claims them ONE AT A TIME, each just before its POST, with a conditional UPDATE (due, and no
live lease) that only one runner can win; the lease (`webhooks.lease_seconds`) outlives one POST (checked
at start: more than 3 x `webhooks.timeout`). The outcome is recorded only while the lease is still ours.
So once a 2xx is recorded no runner starts that POST again; only a crash between a 2xx and its recording
resends it, with the same `webhook-id`, which receivers use to drop repeats.

What a receiver gets (verify with any Standard Webhooks library, e.g. Python's `standardwebhooks`):
    webhook-id: msg_<32 hex>         the same on every attempt of this notice to this endpoint
    webhook-timestamp: <unix seconds> when this attempt was sent (signed at send time)
    webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
    body: {"type": "notice.<kind>", "timestamp": <notice time>, "data": <the notice>} (JSON, UTF-8)
The key is the endpoint's `whsec_` secret (`syndication notices secret` makes one); receivers reject
timestamps more than 5 minutes from their clock.

Retries: failures (non-2xx, network errors) back off exponentially (backoff_base * 2^(attempts-1), ±20 %
jitter, capped at backoff_cap) until max_age after creation, then the delivery fails. HTTP 410 Gone
unsubscribes the endpoint: its pending deliveries fail and no new ones are queued. Secrets come from
the configuration only (never stored in the database) and are never logged.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db import counters as figures
from syndication.db.models import Delivery, Notice, WebhookEndpoint, WebSubPing
from syndication.db.session import transaction
from syndication.kernel.retry import backoff
from syndication.kernel.settings import Settings
from syndication.publish.notices import endpoint_secret, notice_dict
from syndication.publish.signing import signed_headers, webhook_id

log = logging.getLogger(__name__)

DUE_STATES = ("pending", "retrying")
STATES = ("pending", "retrying", "delivered", "failed")
# At most this much of a response body is read: receivers answer with a status, not content.
MAX_RESPONSE_BYTES = 64 * 1024

Leased = type[Delivery] | type[WebSubPing]


def body_of(notice: Notice) -> bytes:
    """The payload, in the shape Standard Webhooks recommends (type, timestamp, data)."""
    data = notice_dict(notice)
    return json.dumps({"type": f"notice.{notice.kind}", "timestamp": data["time"], "data": data}, sort_keys=True,
                      ensure_ascii=False).encode("utf-8")


def run_budget(settings: Settings) -> float:
    """Seconds a run may keep starting POSTs: it must end within the task's soft time limit, and a POST
    started at the end of the budget may take up to 3 x timeout. What is left goes to a follow-up run."""
    return max(1.0, settings.celery.soft_time_limit - 3 * settings.webhooks.timeout)


def claim_one(sessions: sessionmaker[Session], model: Leased, row_id: int, now: datetime,
              lease_seconds: float) -> str | None:
    """Take one due row for one attempt; the lease token, or None when another runner holds or finished it.

    One conditional UPDATE: SQLite runs it under the write lock, PostgreSQL re-checks the WHERE on the row
    it locked, so of two runners only one sees a row count of 1."""
    token = secrets.token_hex(16)
    with transaction(sessions) as session:
        result = session.execute(
            update(model)
            .where(model.id == row_id, model.state.in_(DUE_STATES), model.next_attempt_at <= now,
                   or_(model.lease_token.is_(None), model.lease_expires_at < now))
            .values(lease_token=token, lease_expires_at=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def post(client: httpx.Client, url: str, *, deadline: float, **kwargs: Any) -> tuple[int | None, str | None]:
    """POST; (status, None) on 2xx, else (status or None, the reason). Reads at most a little of the answer."""
    try:
        with client.stream("POST", url, **kwargs) as resp:
            read = 0
            for chunk in resp.iter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    break
            status = resp.status_code
    except httpx.HTTPError as exc:
        return None, f"{exc.__class__.__name__}: {exc}"
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"


@dataclass(slots=True)
class DeliveryRun:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    unsubscribed: list[str] = field(default_factory=list)
    lost: int = 0  # due rows another runner claimed first
    more: bool = False  # stopped with due rows left (batch full or time budget spent)

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "delivered": self.delivered, "retrying": self.retrying,
                "failed": self.failed, "unsubscribed": self.unsubscribed, "lost": self.lost, "more": self.more}


@dataclass(frozen=True, slots=True)
class _Claim:
    id: int
    token: str
    endpoint: str
    url: str
    body: bytes
    message_id: str


def due_deliveries(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> list[int]:
    """Ids of due deliveries nobody holds (oldest first, one batch); those past max_age or to an unsubscribed
    endpoint are failed on the way."""
    with transaction(sessions) as session:
        query = (
            select(Delivery)
            .where(Delivery.state.in_(DUE_STATES), Delivery.next_attempt_at <= now)
            .where(or_(Delivery.lease_token.is_(None), Delivery.lease_expires_at < now))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(settings.webhooks.batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        gone = {e.id for e in session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_({r.endpoint for r in rows}), WebhookEndpoint.unsubscribed_at.is_not(None)))}
        out = []
        for row in rows:
            if row.endpoint in gone:
                row.state, row.last_error = "failed", "endpoint unsubscribed (HTTP 410)"
                figures.count(session, figures.DELIVERIES_SETTLED, state="failed")
            elif row.expires_at <= now:
                row.state = "failed"
                row.last_error = (row.last_error or "not delivered") + " (gave up: max age reached)"
                figures.count(session, figures.DELIVERIES_SETTLED, state="failed")
            else:
                out.append(row.id)
        return out


def _take(sessions: sessionmaker[Session], settings: Settings, delivery_id: int, now: datetime) -> _Claim | None:
    token = claim_one(sessions, Delivery, delivery_id, now, settings.webhooks.lease_seconds)
    if token is None:
        return None
    with sessions() as session:
        row = session.get(Delivery, delivery_id)
        notice = session.get(Notice, row.notice_id) if row is not None else None
        if row is None or notice is None:
            return None
        return _Claim(row.id, token, row.endpoint, row.url, body_of(notice), webhook_id(notice.uid, row.endpoint))


def deliver_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, rng: random.Random | None = None,
    client: httpx.Client | None = None, budget: float | None = None, wall: Callable[[], float] = time.time,
) -> DeliveryRun:
    """One delivery run: list due deliveries, then claim, sign, POST and record them one by one.

    `now` is the run's notion of the current time (it advances with the run); `wall` is the real clock the
    signature's timestamp is read from when each POST is sent."""
    run = DeliveryRun()
    w = settings.webhooks
    t0 = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - t0)

    ids = due_deliveries(sessions, settings, now)
    run.more = len(ids) >= w.batch
    if not ids:
        return run
    own = client is None
    http = client or httpx.Client(timeout=w.timeout, headers={"User-Agent": settings.fetch.user_agent},
                                  follow_redirects=False)
    try:
        for delivery_id in ids:
            if budget is not None and time.monotonic() - t0 > budget:
                run.more = True
                break
            c = _take(sessions, settings, delivery_id, clock())
            if c is None:
                run.lost += 1
                continue
            run.claimed += 1
            secret = endpoint_secret(settings, c.endpoint)
            status: int | None
            error: str | None
            if secret is None:
                status, error = None, "endpoint no longer configured"
            else:
                headers = {"Content-Type": "application/json",
                           **signed_headers(secret, c.message_id, c.body, datetime.fromtimestamp(wall(), UTC))}
                status, error = post(http, c.url, deadline=time.monotonic() + 3 * w.timeout, content=c.body,
                                     headers=headers)
            _record(sessions, settings, c, status, error, clock(), run, rng, configured=secret is not None)
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
            log.warning("delivery %s: lease lost during its POST; outcome %s not recorded", c.id, status or error)
            return
        row.attempts += 1
        row.last_status = status
        row.lease_token, row.lease_expires_at = None, None
        figures.count(session, figures.DELIVERY_ATTEMPTS, outcome="ok" if error is None else "error")
        if error is None:
            row.state, row.delivered_at, row.last_error = "delivered", now, None
            figures.count(session, figures.DELIVERIES_SETTLED, state="delivered")
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
            others = session.execute(
                update(Delivery)
                .where(Delivery.endpoint == c.endpoint, Delivery.state.in_(DUE_STATES), Delivery.id != c.id)
                .values(state="failed", last_error="endpoint unsubscribed (HTTP 410)")
            )
            figures.count(session, figures.DELIVERIES_SETTLED, 1 + int(getattr(others, "rowcount", 0) or 0),
                          state="failed")
            run.failed += 1
            run.unsubscribed.append(c.endpoint)
            log.warning("webhook endpoint %s answered 410: unsubscribed", c.endpoint)
            return
        next_at = now + timedelta(seconds=backoff(row.attempts, w.backoff_base, w.backoff_cap, rng))
        if not configured or next_at >= row.expires_at:
            row.state = "failed"
            figures.count(session, figures.DELIVERIES_SETTLED, state="failed")
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
