"""WebSub-subscribed intake ([wire]): our subscriptions to the hubs partners' feeds advertise.

The life of one (a `websub_subscriptions` row per polled feed; the rules are syndication.intake.hubs):
- A poll whose document advertises a hub (`note_advertised`) creates the row, `pending`, with a random
  callback id and a random `hub.secret` sealed like source credentials; the subscription job (`run`, on the
  notify queue or thread, dispatched at once and every `webhooks.interval` s) POSTs hub.mode=subscribe to
  the hub through the same private-address guard as feed fetches.
- The hub verifies our intent with a GET on the callback (`verify`): the challenge is echoed only when the
  mode and topic match the request the hub accepted; the row becomes `active` with the lease the hub
  granted, and is renewed `websub.renew_before` s before the lease ends (at most half-way).
- Content distributions (`content_for`) are POSTs on the callback signed with the secret; the web layer
  checks the signature and hands the body to the poll's own parse -> normalise -> store path.
- When the hub fails us — refuses the request, never verifies it (`websub.verify_timeout`), denies it
  (hub.mode=denied), or lets the lease lapse — the row says so (`failed`, `denied`, `expired`, with the
  reason) and the source is polled alone; a later poll that still sees the hub subscribes again after
  `websub.retry_after` s. Polling never stops: it is the safety net all along.
- A deleted source leaves its row with no source (`unsubscribing`): the job tells the hub to stop
  (hub.mode=unsubscribe, verified like a subscribe), then the row goes.

Secrets: sealed in the row, opened only to sign-check a distribution or to send to the hub; never logged,
never in status output. The spec would have hub.secret sent over HTTPS only; we send it to an http:// hub
too, since a feed fetched over http can be altered on the way just the same: signed pushes from such a hub
are as trustworthy as its polls, no less.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db import counters as figures
from syndication.db.models import Source, WebSubSubscription
from syndication.db.session import transaction
from syndication.intake.credentials import CredentialsError, open_secret, seal_secret
from syndication.intake.fetch import FetchError, FetchPolicy, Resolver, check_url, make_client, system_resolver
from syndication.intake.hubs import FALLEN_BACK, Advertised, SubscriptionView, next_step, renew_at
from syndication.kernel.clock import isoformat
from syndication.kernel.settings import Settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/websub/callback/"
# How much of a hub's refusal we keep as the reason (hubs answer with a sentence, if anything).
REASON_BYTES = 300


def callback_url(public_url: str, callback_id: str) -> str:
    return f"{public_url.rstrip('/')}{CALLBACK_PATH}{callback_id}"


def _fresh(row: WebSubSubscription, advertised: Advertised, key: bytes, now: datetime) -> None:
    """(Re)start a subscription from scratch: a new callback and secret, so nothing the hub held before
    (an old lease, an old secret) can reach or sign for it."""
    row.hub_url, row.topic_url = advertised.hub, advertised.topic
    row.callback_id = secrets.token_urlsafe(24)
    row.secret = seal_secret(key, secrets.token_urlsafe(32))
    row.state, row.request_mode, row.requested_at = "pending", None, None
    row.lease_seconds = row.verified_at = row.expires_at = row.renew_at = row.retry_at = None
    row.updated_at = now


def note_advertised(
    sessions: sessionmaker[Session], source_id: int, advertised: Advertised | None, now: datetime, key: bytes,
) -> bool:
    """Record what a poll saw; True when a subscribe request is now due (the caller dispatches the job).

    A new hub or topic starts over; a subscription that fell back to polling starts over once its retry_at
    has passed; one that is pending or active is left alone. A feed that stops advertising keeps its row
    (the lease, if any, runs out by itself)."""
    if advertised is None:
        return False
    with transaction(sessions) as session:
        row = session.scalar(select(WebSubSubscription).where(WebSubSubscription.source_id == source_id))
        if row is None:
            row = WebSubSubscription(source_id=source_id, pushes=0, ignored=0, created_at=now)
            _fresh(row, advertised, key, now)
            session.add(row)
            log.info("source %s advertises WebSub hub %s (topic %s): subscribing", source_id, advertised.hub,
                     advertised.topic)
            return True
        moved = (row.hub_url, row.topic_url) != (advertised.hub, advertised.topic)
        retry = row.state in FALLEN_BACK and (row.retry_at is None or row.retry_at <= now)
        if moved or retry:
            log.info("source %s: subscribing again at WebSub hub %s (%s)", source_id, advertised.hub,
                     "hub or topic changed" if moved else f"was {row.state}")
            _fresh(row, advertised, key, now)
            return True
        return row.state == "pending" and row.request_mode is None


# ---------------------------------------------------------------- the subscription job


@dataclass(slots=True)
class SubscriptionRun:
    requested: int = 0  # subscribe (or renew) requests the hub accepted
    refused: int = 0  # requests the hub refused or that could not be sent
    unsubscribed: int = 0
    failed: int = 0  # never verified
    expired: int = 0
    forgotten: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, key: bytes, policy: FetchPolicy,
    resolver: Resolver = system_resolver, client: httpx.Client | None = None,
) -> SubscriptionRun:
    """One pass over every subscription that may need the hub: subscribe, renew, unsubscribe, give up."""
    ws = settings.websub
    out = SubscriptionRun()
    with sessions() as session:
        rows = list(session.scalars(
            select(WebSubSubscription)
            .where(or_(WebSubSubscription.state.not_in(FALLEN_BACK), WebSubSubscription.source_id.is_(None)))
            .order_by(WebSubSubscription.id)))
        for r in rows:
            session.expunge(r)
    own = client is None
    http = client or make_client(policy, resolver)
    try:
        for row in rows:
            view = SubscriptionView(state=row.state, source_gone=row.source_id is None,
                                    request_mode=row.request_mode, requested_at=row.requested_at,
                                    expires_at=row.expires_at, renew_at=row.renew_at)
            step = next_step(view, now, ws.verify_timeout)
            if step == "subscribe" or step == "unsubscribe":
                _request(sessions, settings, row, step, now, key, policy, resolver, http, out)
            elif step == "forget":
                if _settle(sessions, row, now, delete_row=True):
                    out.forgotten += 1
                    log.info("WebSub subscription %s (topic %s) dropped: its source is gone", row.id, row.topic_url)
            elif step == "verify_failed":
                reason = (f"the hub accepted the subscription but did not verify it within "
                          f"{ws.verify_timeout:g} s (can it reach our callback under public_url "
                          f"{settings.public_url}?); polling alone")
                if _settle(sessions, row, now, state="failed", error=reason, retry=ws.retry_after):
                    out.failed += 1
                    log.warning("WebSub subscription %s (topic %s): %s", row.id, row.topic_url, reason)
            elif step == "expire":
                reason = (f"the lease ended at {isoformat(row.expires_at)} without a verified renewal; "
                          "polling alone")
                # No wait: the next poll that still sees the hub subscribes again.
                if _settle(sessions, row, now, state="expired", error=reason):
                    out.expired += 1
                    log.warning("WebSub subscription %s (topic %s): %s", row.id, row.topic_url, reason)
    finally:
        if own:
            http.close()
    return out


def _settle(
    sessions: sessionmaker[Session], row: WebSubSubscription, now: datetime, *, delete_row: bool = False,
    state: str | None = None, error: str | None = None, retry: float | None = None,
) -> bool:
    """Apply one outcome if the row is still as this run read it (another runner may have acted first)."""
    table = WebSubSubscription
    unchanged = (table.id == row.id, table.updated_at == row.updated_at)
    with transaction(sessions) as session:
        if delete_row:
            result = session.execute(delete(table).where(*unchanged).execution_options(synchronize_session=False))
        else:
            values: dict[str, Any] = {"state": state, "updated_at": now, "request_mode": None}
            if error is not None:
                values.update(last_error=error, last_error_at=now)
            if retry is not None:
                values["retry_at"] = now + timedelta(seconds=retry)
            if state in FALLEN_BACK:
                values.update(expires_at=None, renew_at=None)
            result = session.execute(update(table).where(*unchanged).values(**values)
                                     .execution_options(synchronize_session=False))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _request(
    sessions: sessionmaker[Session], settings: Settings, row: WebSubSubscription, mode: str, now: datetime,
    key: bytes, policy: FetchPolicy, resolver: Resolver, http: httpx.Client, out: SubscriptionRun,
) -> None:
    """Claim the row for one request (a conditional UPDATE only one runner wins), then POST it to the hub.

    The claim commits before the POST: a hub verifies intent with a GET that may arrive before its answer."""
    ws = settings.websub
    table = WebSubSubscription
    renewal = row.state == "active" and mode == "subscribe"
    with transaction(sessions) as session:
        claimed = session.execute(
            update(table).where(table.id == row.id, table.updated_at == row.updated_at)
            .values(request_mode=mode, requested_at=now, updated_at=now,
                    state="unsubscribing" if mode == "unsubscribe" else row.state)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return
    try:
        secret = open_secret(key, row.secret)
    except CredentialsError as exc:
        _after_refusal(sessions, row, mode, renewal, str(exc), now, ws.retry_after, out)
        return
    form = {"hub.mode": mode, "hub.topic": row.topic_url,
            "hub.callback": callback_url(settings.public_url, row.callback_id)}
    if mode == "subscribe":
        form["hub.secret"] = secret
        form["hub.lease_seconds"] = str(ws.lease_seconds)
    problem = post_to_hub(http, row.hub_url, form, policy, resolver, settings.fetch.user_agent, secret)
    if problem is None:
        if mode == "subscribe":
            out.requested += 1
            log.info("WebSub %s for topic %s sent to %s; awaiting the hub's verification",
                     "renewal" if renewal else "subscription", row.topic_url, row.hub_url)
        else:
            out.unsubscribed += 1
        return
    _after_refusal(sessions, row, mode, renewal, problem, now, ws.retry_after, out)


def _after_refusal(
    sessions: sessionmaker[Session], row: WebSubSubscription, mode: str, renewal: bool, problem: str,
    now: datetime, retry_after: int, out: SubscriptionRun,
) -> None:
    out.refused += 1
    out.errors.append(f"{row.topic_url}: {problem}")
    log.warning("WebSub %s for topic %s at %s failed: %s", mode, row.topic_url, row.hub_url, problem)
    table = WebSubSubscription
    with transaction(sessions) as session:
        current = session.get(table, row.id)
        if current is None or current.request_mode != mode or current.requested_at != now:
            return  # the hub answered (verified, denied) meanwhile, or another runner took over
        if mode == "unsubscribe":
            session.delete(current)  # we tried; the hub's lease runs out by itself
        elif renewal:
            # Still active until the lease ends; asked again after verify_timeout (the request stays open).
            current.last_error, current.last_error_at, current.updated_at = f"renewal: {problem}", now, now
        else:
            current.state, current.request_mode = "failed", None
            current.last_error = f"{problem}; polling alone"
            current.last_error_at, current.updated_at = now, now
            current.retry_at = now + timedelta(seconds=retry_after)


def post_to_hub(
    client: httpx.Client, hub: str, form: Mapping[str, str], policy: FetchPolicy, resolver: Resolver,
    user_agent: str, secret: str,
) -> str | None:
    """POST a request to the hub under the address guard; None when accepted (2xx), else why not."""
    try:
        check_url(hub, policy, resolver)
    except FetchError as exc:
        return exc.reason
    try:
        with client.stream("POST", hub, data=dict(form), headers={"User-Agent": user_agent}) as resp:
            status = resp.status_code
            said = b""
            for chunk in resp.iter_bytes():
                said += chunk
                if len(said) >= REASON_BYTES:
                    break
    except FetchError as exc:
        return exc.reason
    except httpx.HTTPError as exc:
        return f"hub unreachable: {exc.__class__.__name__}: {exc}"
    if 200 <= status < 300:
        return None
    text = " ".join(said[:REASON_BYTES].decode("utf-8", "replace").split())
    if secret:
        text = text.replace(secret, "***")  # a hub echoing our form must not put the secret in a reason
    return f"hub refused the request: HTTP {status}" + (f" ({text})" if text else "")


# ---------------------------------------------------------------- the callback


def verify(
    sessions: sessionmaker[Session], settings: Settings, callback_id: str, params: Mapping[str, str], now: datetime,
) -> str | None:
    """The hub's verification of intent (GET on the callback). The challenge to echo, "" for an accepted
    denial, or None (answer 404) when mode and topic do not match the request the hub is answering."""
    ws = settings.websub
    mode, topic = params.get("hub.mode", ""), params.get("hub.topic", "")
    with transaction(sessions) as session:
        row = session.scalar(select(WebSubSubscription).where(WebSubSubscription.callback_id == callback_id))
        if row is None or topic != row.topic_url:
            return None
        if mode == "denied":
            if row.state not in ("pending", "active"):
                return None
            reason = " ".join(params.get("hub.reason", "").split())[:REASON_BYTES] or "no reason given"
            row.state, row.request_mode, row.expires_at, row.renew_at = "denied", None, None, None
            row.last_error, row.last_error_at = f"the hub denied the subscription: {reason}; polling alone", now
            row.retry_at = now + timedelta(seconds=ws.retry_after)
            row.updated_at = now
            log.warning("WebSub hub %s denied the subscription to %s: %s", row.hub_url, row.topic_url, reason)
            return ""
        challenge = params.get("hub.challenge", "")
        if not challenge or mode not in ("subscribe", "unsubscribe") or row.request_mode != mode:
            return None
        if mode == "unsubscribe":
            session.delete(row)
            log.info("WebSub hub %s confirmed the end of the subscription to %s", row.hub_url, row.topic_url)
            return challenge
        lease = _lease(params.get("hub.lease_seconds"), ws.lease_seconds)
        row.state, row.request_mode, row.verified_at = "active", None, now
        row.lease_seconds, row.expires_at = lease, now + timedelta(seconds=lease)
        row.renew_at = renew_at(now, lease, ws.renew_before)
        row.last_error = None
        row.updated_at = now
        log.info("WebSub subscription to %s at %s verified: lease %d s", row.topic_url, row.hub_url, lease)
        return challenge


def _lease(given: str | None, asked: int) -> int:
    """The lease the hub granted (it must say; if it does not, or says nonsense, what we asked for)."""
    try:
        value = int((given or "").strip())
    except ValueError:
        return asked
    return value if value > 0 else asked


@dataclass(frozen=True, slots=True)
class Distribution:
    """Who a content distribution is for: the subscription and its source, and the secret to check it with."""

    subscription_id: int
    source_id: int | None
    topic: str
    secret: str

    def __repr__(self) -> str:  # never print the secret, even by accident
        return f"Distribution({self.subscription_id}, source {self.source_id}, {self.topic})"


def content_for(sessions: sessionmaker[Session], callback_id: str, key: bytes) -> Distribution | None:
    """The subscription a content POST on this callback is for (None: no such callback).
    Raises CredentialsError when the secret cannot be opened."""
    with sessions() as session:
        row = session.scalar(select(WebSubSubscription).where(WebSubSubscription.callback_id == callback_id))
        if row is None:
            return None
        return Distribution(row.id, row.source_id, row.topic_url, open_secret(key, row.secret))


def record_content(
    sessions: sessionmaker[Session], subscription_id: int, now: datetime, *, ignored: str | None = None,
) -> None:
    """Count a distribution taken, or ignored with the reason operators read."""
    with transaction(sessions) as session:
        row = session.get(WebSubSubscription, subscription_id)
        if row is None:
            return
        if ignored is None:
            row.pushes, row.last_push_at = row.pushes + 1, now
        else:
            row.ignored, row.last_ignored_at, row.last_ignored_reason = row.ignored + 1, now, ignored
        partner = session.scalar(select(Source.partner_id).where(Source.id == row.source_id)) or ""
        figures.count(session, figures.WEBSUB_DISTRIBUTIONS, partner=partner,
                      outcome="taken" if ignored is None else "ignored")


# ---------------------------------------------------------------- what operators see


def describe(row: WebSubSubscription) -> dict[str, Any]:
    """A subscription as status and /ops show it (no secret, no callback id)."""
    return {
        "state": row.state, "hub": row.hub_url, "topic": row.topic_url,
        "awaiting_verification": row.request_mode, "requested_at": isoformat(row.requested_at),
        "verified_at": isoformat(row.verified_at), "lease_seconds": row.lease_seconds,
        "lease_expires": isoformat(row.expires_at), "renew_at": isoformat(row.renew_at),
        "retry_at": isoformat(row.retry_at) if row.state in FALLEN_BACK else None,
        "last_error": row.last_error, "last_error_at": isoformat(row.last_error_at),
        "pushes": row.pushes, "last_push": isoformat(row.last_push_at),
        "ignored": row.ignored, "last_ignored": isoformat(row.last_ignored_at),
        "last_ignored_reason": row.last_ignored_reason,
    }


def by_source(session: Session) -> dict[int, dict[str, Any]]:
    return {row.source_id: describe(row) for row in session.scalars(
        select(WebSubSubscription).where(WebSubSubscription.source_id.is_not(None)))
        if row.source_id is not None}
