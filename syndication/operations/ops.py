"""Operators' view and actions (the shell around syndication.operations.health).

`snapshot(rt)` reads sources, items, polls, events, channels (and their publish failures), dead letters
and notice deliveries plus the queues, and returns one JSON-able
dict; the CLI (`status`, `failures`), the /ops pages and /metrics all read the same figures. Actions: poll
now, pause/resume, replay a dead letter, retry a failed delivery.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from syndication.db.models import (
    Channel,
    DeadLetter,
    Delivery,
    Event,
    Item,
    OpsSample,
    Partner,
    Poll,
    Source,
    WebSubPing,
)
from syndication.db.session import insert_missing, transaction
from syndication.intake import subscriptions
from syndication.intake.credentials import describe_credentials
from syndication.intake.decide import interval_bound
from syndication.kernel.clock import isoformat, utcnow
from syndication.operations import health
from syndication.publish.failures import failing, reason
from syndication.publish.notices import pending_counts
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import LocalDispatcher, make_celery
from syndication.runtime.schedule import POLLED_KINDS, claim_sources, holder_for
from syndication.runtime.tasks import QUEUES

log = logging.getLogger(__name__)

PAUSED_REASON = "paused by operator"
KOMBU_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
ENQUEUED_HEADER = "enqueued_at"  # stamped by syndication.runtime.dispatch on publish (epoch seconds)
FAILED_DELIVERY_STATES = ("failed",)  # publish.webhooks.STATES


class OpsError(Exception):
    """An operator action that cannot be done; the message is shown as is."""


# ---------------------------------------------------------------- sources


def source_status(rt: Runtime) -> list[dict[str, Any]]:
    """One row per source: the `status --json` contract."""
    rows = []
    with rt.sessions() as session:
        hubs = subscriptions.by_source(session)
        for s in session.scalars(select(Source).order_by(Source.partner_id, Source.id)):
            state = "disabled" if not s.enabled else ("failing" if s.consecutive_errors else "ok")
            rows.append({
                "partner": s.partner_id,
                "source": s.locator,
                "kind": s.kind,
                "state": state,
                "effective_url": s.effective_url or (s.locator if s.kind == "feed" else None),
                "interval": s.current_interval or s.interval,  # current (adaptive) interval, seconds
                "configured_interval": s.interval,  # what the operator asked for
                # How far a quiet source may be stretched (intake.decide.interval_bound), and why the next poll is
                # not `configured_interval` after the last: quiet feed, backoff after errors, Retry-After.
                "max_interval": interval_bound(s.interval, s.max_interval, rt.settings.fetch.max_interval),
                "interval_reason": s.interval_reason if s.kind != "push" else None,
                "last_attempt": isoformat(s.last_attempt_at),
                "last_success": isoformat(s.last_success_at),
                "last_error": s.last_error,
                "last_error_at": isoformat(s.last_error_at),
                "last_status": s.last_status,
                "consecutive_errors": s.consecutive_errors,
                "next_poll": isoformat(s.next_poll_at) if s.kind != "push" else None,
                "disabled_reason": s.disabled_reason,
                "parse_problem": s.parse_problem,
                "last_poll": s.last_counts,
                # [intake]: accepted = new + updated + unchanged; never any secret, only the auth scheme.
                "enabled": s.enabled,
                "partly_parsed": bool(s.parse_problem),
                "last_accepted": (s.last_counts or {}).get(
                    "accepted", sum((s.last_counts or {}).get(k, 0) for k in ("new", "updated", "unchanged"))),
                "last_rejected": (s.last_counts or {}).get("rejected", 0),
                "redirects": s.redirects or [],
                "credentials": describe_credentials(s.credentials),
                # [wire] the WebSub subscription of a feed that advertises a hub (None: polled only).
                "websub": hubs.get(s.id),
            })
    return rows


def source_rows(rt: Runtime, now: datetime | None = None) -> list[dict[str, Any]]:
    """source_status rows (the `status --json` contract) plus operators' fields."""
    now = now or utcnow()
    rows = source_status(rt)
    grace = health.overdue_grace(rt.settings.schedule.tick)
    since24 = now - timedelta(hours=24)
    with rt.sessions() as session:
        sources = list(session.scalars(select(Source).order_by(Source.partner_id, Source.id)))
        items24 = dict(session.execute(
            select(Item.source_id, func.count()).where(Item.first_seen_at >= since24).group_by(Item.source_id)
        ).all())
        recent: dict[int, list[datetime]] = {}
        for s in sources:
            recent[s.id] = list(session.scalars(
                select(Item.sort_at).where(Item.source_id == s.id)
                .order_by(Item.sort_at.desc()).limit(health.QUIET_HISTORY)
            ))
    by_key = {(s.partner_id, s.locator, s.kind): s for s in sources}
    out = []
    for row in rows:
        src = by_key.get((row["partner"], row["source"], row["kind"]))
        if src is None:
            out.append(row)
            continue
        verdict = health.quiet_verdict(recent.get(src.id, []), now, src.interval)
        polled = src.kind in POLLED_KINDS
        overdue = health.is_overdue(enabled=src.enabled, polled=polled, next_poll_at=src.next_poll_at,
                                    lease_expires_at=src.lease_expires_at, now=now, grace=grace)
        row = dict(row)
        row.update({
            "id": src.id,
            "state": health.source_state(enabled=src.enabled, consecutive_errors=src.consecutive_errors,
                                         quiet=verdict.quiet),
            "paused": (not src.enabled) and src.disabled_reason == PAUSED_REASON,
            "items_24h": int(items24.get(src.id, 0)),
            "last_item": isoformat(max(recent[src.id])) if recent.get(src.id) else None,
            "silence_seconds": None if verdict.silence_seconds is None else round(verdict.silence_seconds),
            "usual_gap_seconds": None if verdict.usual_gap_seconds is None else round(verdict.usual_gap_seconds),
            "quiet_after_seconds": None if verdict.threshold_seconds is None else round(verdict.threshold_seconds),
            "overdue": overdue,
            "overdue_seconds": round(health.overdue_seconds(src.next_poll_at, now)) if overdue else 0,
            "polling": bool(src.lease_token and src.lease_expires_at and src.lease_expires_at >= now),
        })
        out.append(row)
    return out


def get_source(rt: Runtime, source_id: int) -> Source:
    with rt.sessions() as session:
        src = session.get(Source, source_id)
        if src is None:
            raise OpsError(f"no source {source_id}")
        session.expunge(src)
        return src


def recent_polls(rt: Runtime, source_id: int, limit: int = 50) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        polls = session.scalars(select(Poll).where(Poll.source_id == source_id)
                                .order_by(Poll.started_at.desc(), Poll.id.desc()).limit(limit))
        return [{"id": p.id, "started_at": isoformat(p.started_at), "duration_ms": p.duration_ms,
                 "outcome": p.outcome, "http_status": p.http_status, "new": p.new, "updated": p.updated,
                 "unchanged": p.unchanged, "rejected": p.rejected, "error": p.error} for p in polls]


# ---------------------------------------------------------------- pipeline


LAG_SAMPLE = 2000  # lag percentiles over the newest items of the window


def pipeline(rt: Runtime, now: datetime | None = None, sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per partner: received / updated / rejected / published over 1 h and 24 h; lags; overdue sources."""
    now = now or utcnow()
    since1, since24 = now - timedelta(hours=1), now - timedelta(hours=24)
    stats: dict[str, dict[str, int]] = defaultdict(lambda: {
        f"{k}_{w}": 0 for k in ("received", "updated", "rejected", "published") for w in ("1h", "24h")})
    with rt.sessions() as session:
        for pid in session.scalars(select(Partner.id).order_by(Partner.id)):
            stats[pid]  # noqa: B018 - every partner gets a row
        poll_rows = session.execute(
            select(Source.partner_id,
                   func.sum(case((Poll.started_at >= since1, Poll.updated), else_=0)),
                   func.sum(Poll.updated),
                   func.sum(case((Poll.started_at >= since1, Poll.rejected), else_=0)),
                   func.sum(Poll.rejected))
            .join(Source, Source.id == Poll.source_id).where(Poll.started_at >= since24).group_by(Source.partner_id)
        ).all()
        for pid, u1, u24, r1, r24 in poll_rows:
            st = stats[pid]
            st["updated_1h"], st["updated_24h"] = int(u1 or 0), int(u24 or 0)
            st["rejected_1h"], st["rejected_24h"] = int(r1 or 0), int(r24 or 0)
        for pid, n1, n24 in session.execute(
            select(Item.partner_id, func.count(case((Item.first_seen_at >= since1, Item.id))), func.count())
            .where(Item.first_seen_at >= since24).group_by(Item.partner_id)
        ):
            stats[pid]["received_1h"], stats[pid]["received_24h"] = int(n1), int(n24)
        # Published: the item's creation event was relayed and a channel carrying its partner published since.
        pc, ac = aliased(Channel), aliased(Channel)
        republished = or_(pc.published_at >= Event.relayed_at, ac.published_at >= Event.relayed_at)
        for pid, n1, n24 in session.execute(
            select(Item.partner_id, func.count(func.distinct(case((Item.first_seen_at >= since1, Item.id)))),
                   func.count(func.distinct(Item.id)))
            .join(Event, and_(Event.item_id == Item.id, Event.kind == "item.created", Event.relayed_at.is_not(None)))
            .outerjoin(pc, pc.id == literal("partners/") + Item.partner_id)
            .outerjoin(ac, ac.id == literal("all"))
            .where(Item.first_seen_at >= since24, republished).group_by(Item.partner_id)
        ):
            stats[pid]["published_1h"], stats[pid]["published_24h"] = int(n1), int(n24)
        # Lags over the newest LAG_SAMPLE items first seen in the window (percentiles need the values).
        published_at = _channel_published(session)
        sample = session.execute(
            select(Item.id, Item.partner_id, Item.published_at, Item.first_seen_at)
            .where(Item.first_seen_at >= since24).order_by(Item.first_seen_at.desc()).limit(LAG_SAMPLE)
        ).all()
        relayed_at = _creation_relayed(session, Event.item_id.in_([r[0] for r in sample])) if sample else {}
    seen_lags: list[float] = []
    republish_lags: list[float] = []
    for iid, pid, published, first_seen in sample:
        seen_lags.append((first_seen - published).total_seconds())
        at = _republished_at(pid, relayed_at.get(iid), published_at)
        if at is not None:
            republish_lags.append((at - published).total_seconds())
    srcs = sources if sources is not None else source_rows(rt, now)
    overdue = [{"id": s.get("id"), "partner": s["partner"], "source": s["source"],
                "overdue_seconds": s.get("overdue_seconds", 0), "next_poll": s["next_poll"]}
               for s in srcs if s.get("overdue")]
    return {
        "partners": [{"partner": pid, **stats[pid]} for pid in sorted(stats)],
        "lag_seconds": {"first_seen": health.lag_summary(seen_lags),
                        "republished": health.lag_summary(republish_lags)},
        "overdue": overdue,
    }


def _channel_published(session: Session) -> dict[str, datetime]:
    return {cid: at for cid, at in session.execute(select(Channel.id, Channel.published_at)) if at is not None}


def _republished_at(partner_id: str, relayed: datetime | None, published_at: dict[str, datetime]) -> datetime | None:
    """An item is republished when its creation event was relayed and a channel carrying its partner was
    published since (the relay runs at the start of the publish job, so relay time ~ republish time)."""
    if relayed is None:
        return None
    for cid in (f"partners/{partner_id}", "all"):
        at = published_at.get(cid)
        if at is not None and at >= relayed:
            return relayed
    return None


def _creation_relayed(session: Session, condition: Any) -> dict[int, datetime]:
    """item id -> when its item.created event was relayed (by the (item_id, kind) index)."""
    return {int(iid or 0): at for iid, at in session.execute(
        select(Event.item_id, func.min(Event.relayed_at)).where(Event.kind == "item.created", condition)
        .group_by(Event.item_id)) if at is not None}


LAG_SETTLE = timedelta(hours=24)  # an item not republished a day after it was first seen stops being waited for


def republish_lags(
    rt: Runtime, after_id: int, now: datetime | None = None, limit: int | None = None
) -> tuple[int, list[float], list[float]]:
    """Lags (republish - partner publish, seconds) of items with id > after_id (the first `limit` of them).

    Returns (new watermark, settled lags, unsettled lags): items up to the watermark are final (republished,
    or first seen more than LAG_SETTLE ago); lags past it may still change, so callers count them afresh.
    """
    now = now or utcnow()
    with rt.sessions() as session:
        published_at = _channel_published(session)
        query = select(Item.id, Item.partner_id, Item.published_at, Item.first_seen_at).where(Item.id > after_id)
        rows = session.execute(query.order_by(Item.id).limit(limit)).all()
        upto = Event.item_id <= rows[-1][0] if rows else Event.item_id <= after_id
        relayed_at = _creation_relayed(session, and_(Event.item_id > after_id, upto)) if rows else {}
    watermark, settled, unsettled = after_id, [], []
    contiguous = True
    for iid, pid, published, first_seen in rows:
        at = _republished_at(pid, relayed_at.get(iid), published_at)
        lag = None if at is None else max(0.0, (at - published).total_seconds())
        final = at is not None or now - first_seen > LAG_SETTLE
        if contiguous and final:
            watermark = iid
            if lag is not None:
                settled.append(lag)
        else:
            contiguous = False
            if lag is not None:
                unsettled.append(lag)
    return watermark, settled, unsettled


# ---------------------------------------------------------------- queues


def queues(rt: Runtime) -> dict[str, Any]:
    """Scaled: Celery queue depth and oldest message age from Redis, workers online, tasks running.
    Embedded: the in-process executor's queued and running jobs."""
    if rt.settings.embedded:
        if rt.dispatcher is None:  # a command beside the service: its executor's work, as the database holds it
            return {"mode": "embedded", **embedded_queues(rt)}
        return {"mode": "embedded", **executor_state(rt.dispatcher)}
    try:
        state = redis_queues(rt.settings.broker_url, key_prefix=rt.settings.celery.key_prefix)
        return {"mode": "scaled", **state, "workers": workers_online(rt)}
    except Exception as exc:  # the broker being down is exactly what operators must see
        return {"mode": "scaled", "error": f"broker not answering: {exc.__class__.__name__}: {exc}",
                "queues": [], "running": None, "workers": None}


def embedded_queues(rt: Runtime, now: datetime | None = None) -> dict[str, Any]:
    """The embedded executor's work seen from another process (`syndication queues`, `status`).

    The executor keeps its queue in memory, but every job it runs starts from a row: a source due and not
    leased (poll), a channel marked dirty (publish), a webhook delivery or WebSub ping due (notify). Those rows
    are its queue; live source leases are the polls running now."""
    now = now or utcnow()
    due_states = ("pending", "retrying")
    with rt.sessions() as session:
        free = or_(Source.lease_token.is_(None), Source.lease_expires_at < now)
        polls = session.execute(select(func.count(), func.min(Source.next_poll_at)).where(
            Source.enabled.is_(True), Source.kind.in_(POLLED_KINDS), Source.next_poll_at <= now, free)).one()
        running = session.scalar(select(func.count()).select_from(Source).where(
            Source.lease_token.is_not(None), Source.lease_expires_at >= now)) or 0
        dirty = session.execute(select(func.count(), func.min(Channel.dirty_since))
                                .where(Channel.dirty_since.is_not(None))).one()
        notify = [session.execute(select(func.count(), func.min(t.next_attempt_at)).where(
            t.state.in_(due_states), t.next_attempt_at <= now)).one() for t in (Delivery, WebSubPing)]
    waiting = [("poll", polls), ("publish", dirty),
               ("notify", (sum(n for n, _ in notify), min((t for _, t in notify if t is not None), default=None)))]
    return {
        "queues": [{"queue": name, "depth": int(count),
                    "oldest_age_seconds": None if oldest is None else round(max(0.0, (now - oldest).total_seconds()),
                                                                             3)}
                   for name, (count, oldest) in waiting],
        "running": int(running),
        "source": "database",
    }


def executor_state(dispatcher: Any) -> dict[str, Any]:
    if not isinstance(dispatcher, LocalDispatcher):
        return {"queues": [], "running": 0, "note": "no executor in this process"}
    depths = {name: dispatcher.waiting(name) for name in ("poll", "publish")}
    out = [{"queue": name, "depth": depth, "oldest_age_seconds": None} for name, depth in depths.items()]
    queued = sum(depths.values())
    return {"queues": out, "running": max(0, dispatcher.pending - queued)}


def redis_queues(broker_url: str, now: float | None = None, key_prefix: str = "") -> dict[str, Any]:
    """Depth and oldest message age per Celery queue, and unacked (running or lost) tasks, from Redis.

    `key_prefix` is Celery's `global_keyprefix` (settings.celery.key_prefix), applied to every kombu key."""
    import redis  # lazy: start-up: embedded installs never load redis

    now = time.time() if now is None else now
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        out = []
        for q in QUEUES:
            keys = [key_prefix + (q if pri == 0 else f"{q}{KOMBU_SEP}{pri}") for pri in KOMBU_PRIORITY_STEPS]
            pipe = client.pipeline()
            for k in keys:
                pipe.llen(k)
                pipe.lindex(k, -1)  # kombu LPUSHes and BRPOPs: the oldest message is at the right end
            res = pipe.execute()
            depth = sum(int(res[i]) for i in range(0, len(res), 2))
            ages = [a for a in (message_age(res[i], now) for i in range(1, len(res), 2)) if a is not None]
            out.append({"queue": q, "depth": depth, "oldest_age_seconds": round(max(ages), 3) if ages else None})
        running = int(client.hlen(key_prefix + "unacked"))
        oldest_unacked = client.zrange(key_prefix + "unacked_index", 0, 0, withscores=True)
        running_age = round(now - float(oldest_unacked[0][1]), 3) if oldest_unacked else None
        return {"queues": out, "running": running, "oldest_running_age_seconds": running_age}
    finally:
        client.close()


def message_age(raw: bytes | None, now: float) -> float | None:
    """Age of a kombu Redis message from our enqueue stamp (headers.enqueued_at)."""
    if not raw:
        return None
    try:
        msg = json.loads(raw)
        stamp = (msg.get("headers") or {}).get(ENQUEUED_HEADER)
        return max(0.0, now - float(stamp)) if stamp is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


_PING_TTL = 15.0


def workers_online(rt: Runtime, timeout: float = 0.5) -> list[str] | None:
    """Celery workers answering a ping (cached for a few seconds: a ping waits `timeout`)."""
    cached = rt.extras.get("ops.workers")
    if cached is not None and time.monotonic() - cached[0] < _PING_TTL:
        return list(cached[1])
    app = getattr(rt.dispatcher, "app", None)
    if app is None:
        app = rt.extras.get("ops.celery") or make_celery(rt.settings)
        rt.extras["ops.celery"] = app
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:
        log.warning("worker ping failed", exc_info=True)
        return None
    names = sorted(name for reply in replies for name in reply)
    rt.extras["ops.workers"] = (time.monotonic(), names)
    return names


def broker_ready(broker_url: str) -> str | None:
    """None when the broker answers, else the reason."""
    import redis  # lazy: start-up: embedded installs never load redis

    try:
        client = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"


# ---------------------------------------------------------------- failures


def dead_letters(rt: Runtime, *, include_replayed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if not include_replayed:
            q = q.where(DeadLetter.replayed_at.is_(None))
        return [{"id": d.id, "task": d.task, "args": d.args, "error": d.error, "attempts": d.attempts,
                 "created_at": isoformat(d.created_at), "replayed_at": isoformat(d.replayed_at)}
                for d in session.scalars(q)]


def failed_deliveries(rt: Runtime, limit: int = 200) -> dict[str, Any]:
    table = Delivery.__table__
    with rt.sessions() as session:
        rows = session.execute(select(table).where(Delivery.state.in_(FAILED_DELIVERY_STATES))
                               .order_by(Delivery.id.desc()).limit(limit)).mappings().all()
    items = [{k: (isoformat(v) if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
    return {"available": True, "note": None, "items": items}


def retry_delivery(rt: Runtime, delivery_id: int) -> str:
    """Requeue a failed notice delivery through webhooks.retry (by its notice)."""
    from syndication.publish import webhooks  # lazy: the publish stack is not needed by status or --help

    with rt.sessions() as session:
        row = session.execute(select(Delivery.notice_id, Delivery.state).where(Delivery.id == delivery_id)).first()
    if row is None:
        raise OpsError(f"no delivery {delivery_id}")
    if row[1] not in FAILED_DELIVERY_STATES:
        raise OpsError(f"delivery {delivery_id} is {row[1]}, not failed")
    count = webhooks.retry(rt.sessions, rt.settings, [int(row[0])], utcnow())
    log.info("operator retried delivery %s (notice %s)", delivery_id, row[0],
             extra={"delivery_id": delivery_id, "notice_id": row[0]})
    return f"delivery {delivery_id}: {count} failed deliver{'y' if count == 1 else 'ies'} of notice {row[0]} requeued"


# ---------------------------------------------------------------- publishing ([trust])


def publishing(rt: Runtime, now: datetime | None = None) -> dict[str, Any]:
    """Channels whose files could not be written (failing now), and notices waiting for their channels."""

    now = now or utcnow()
    with rt.sessions() as session:
        stale = failing(session)
        pending = pending_counts(session, now)
    return {"failing": [{**h.as_dict(), "reason": reason(h, now)} for h in stale], "pending_notices": pending}


# ---------------------------------------------------------------- the whole picture


def snapshot(rt: Runtime, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    sources = source_rows(rt, now)
    by_state = {s: 0 for s in health.STATES}
    for row in sources:
        by_state[row["state"]] = by_state.get(row["state"], 0) + 1
    publish = publishing(rt, now)
    return {
        "generated_at": isoformat(now),
        "mode": "embedded" if rt.settings.embedded else "scaled",
        "sources": sources,
        "sources_by_state": by_state,
        "pipeline": pipeline(rt, now, sources),
        "publishing": publish,
        "queues": queues(rt),
        "failures": {"dead_letters": dead_letters(rt), "deliveries": failed_deliveries(rt),
                     "publishing": publish["failing"]},
    }


# ---------------------------------------------------------------- samples over time (the /ops charts)


OPS_SAMPLE_KEEP = timedelta(hours=48)  # the charts show 24 h; a day more to look back on after an incident
# A slot is counted only this long after it ends (at most one slot), so what was happening at its end has been
# written: an item's ingest or a channel's publish still committing. Polls are counted by when they ended.
SAMPLE_SETTLE = timedelta(seconds=30)
SAMPLE_CATCH_UP = 12  # slots missed while no scheduler ran (a restart, a busy machine) sampled late, at most
SAMPLED = "sampled"  # a slot's marker row: sampled, whatever its counts (zero counts are not written)


def sample_slot(now: datetime, every_seconds: int) -> datetime:
    """The start of the sampling slot holding `now`: slots are aligned on the epoch, so every process (and
    every restart) names the same slots. A slot's counts are stored at its end (`taken_at`)."""
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    seconds = int((now - epoch).total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % every_seconds)


@dataclass(frozen=True, slots=True)
class SlotFigures:
    """What happened during one slot (pure data; the rows of ops_samples come from it)."""

    received: dict[str, int] = field(default_factory=dict)  # partner -> items first seen
    published: dict[str, int] = field(default_factory=dict)  # partner -> items republished
    lags: list[float] = field(default_factory=list)  # republish lags of those items, seconds
    errors: dict[int, int] = field(default_factory=dict)  # source id -> polls that ended in error


def slots_to_sample(last_sampled: datetime | None, now: datetime, every_seconds: int) -> list[datetime]:
    """The ends of the slots to count now, oldest first: every slot that has settled since the last one
    sampled, at most SAMPLE_CATCH_UP of them."""
    every = timedelta(seconds=every_seconds)
    newest = sample_slot(now - min(SAMPLE_SETTLE, every), every_seconds)
    first = newest - every * (SAMPLE_CATCH_UP - 1)
    if last_sampled is not None:
        first = max(first, last_sampled + every)
    return [first + every * i for i in range(int((newest - first) / every) + 1)] if first <= newest else []


def sample_rows(slot_end: datetime, figures: SlotFigures) -> list[dict[str, Any]]:
    """The ops_samples rows of one slot: its marker, then only the counts that are not zero (a missing row
    reads as 0) and the lag percentiles when something was republished."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, subject: str, value: float) -> None:
        rows.append({"taken_at": slot_end, "metric": metric, "subject": subject, "value": float(value)})

    add(SAMPLED, "", 1)
    for partner, n in sorted(figures.received.items()):
        if n:
            add("received", partner, n)
    for partner, n in sorted(figures.published.items()):
        if n:
            add("published", partner, n)
    summary = health.lag_summary(figures.lags)
    if summary["count"]:
        add("republish_lag_p50", "", float(summary["p50"] or 0))
        add("republish_lag_p95", "", float(summary["p95"] or 0))
    for source_id, n in sorted(figures.errors.items()):
        if n:
            add("errors", str(source_id), n)
    return rows


def queue_rows(at: datetime, depths: dict[str, int] | None) -> list[dict[str, Any]]:
    """Queue depth now, per queue, even when 0 (a flat line tells "sampled, empty" from "not sampled")."""
    return [{"taken_at": at, "metric": "queue_depth", "subject": q, "value": float(n)}
            for q, n in sorted((depths or {}).items())]


def _queue_depths(rt: Runtime) -> dict[str, int] | None:
    """Waiting jobs per queue now (None when the broker does not answer: no point is better than a false 0)."""
    try:
        if rt.settings.embedded:
            state = executor_state(rt.dispatcher)
        else:
            state = redis_queues(rt.settings.broker_url, key_prefix=rt.settings.celery.key_prefix)
    except Exception as exc:
        log.warning("queue depth not sampled: %s: %s", exc.__class__.__name__, exc)
        return None
    return {str(q["queue"]): int(q["depth"]) for q in state.get("queues", [])}


def _slot_figures(session: Session, ends: list[datetime], every: timedelta,
                  longest_poll: timedelta) -> dict[datetime, SlotFigures]:
    """Count what happened in each slot (ends: the slots' ends, consecutive, oldest first) in one pass."""
    start, stop = ends[0] - every, ends[-1]
    out = {end: SlotFigures() for end in ends}

    def slot_of(at: datetime) -> SlotFigures | None:
        if not start <= at < stop:
            return None
        return out.get(start + every * (int((at - start) / every) + 1))

    for partner, seen in session.execute(select(Item.partner_id, Item.first_seen_at)
                                         .where(Item.first_seen_at >= start, Item.first_seen_at < stop)):
        if (fig := slot_of(seen)) is not None:
            fig.received[partner] = fig.received.get(partner, 0) + 1
    # A poll's row is written when it ends (a fetch may take fetch.total_timeout): counted by its end.
    for source_id, started, ms in session.execute(
        select(Poll.source_id, Poll.started_at, Poll.duration_ms)
        .where(Poll.started_at >= start - longest_poll, Poll.started_at < stop, Poll.outcome == "error")
    ):
        if (fig := slot_of(started + timedelta(milliseconds=ms or 0))) is not None:
            fig.errors[int(source_id)] = fig.errors.get(int(source_id), 0) + 1
    published_at = _channel_published(session)
    for _iid, partner, partner_published, relayed in session.execute(
        # By the relay time index (ix_events_pending): only these slots' events are read.
        select(Item.id, Item.partner_id, Item.published_at, func.min(Event.relayed_at))
        .join(Event, Event.item_id == Item.id)
        .where(Event.kind == "item.created", Event.relayed_at >= start, Event.relayed_at < stop)
        .group_by(Item.id, Item.partner_id, Item.published_at)
    ):
        at = _republished_at(partner, relayed, published_at)
        if at is not None and relayed is not None and (fig := slot_of(relayed)) is not None:
            fig.published[partner] = fig.published.get(partner, 0) + 1
            fig.lags.append((at - partner_published).total_seconds())
    return out


def take_samples(rt: Runtime, now: datetime | None = None) -> int:
    """Count the slots that settled since the last sampled one (items received and republished per partner,
    republish lag, poll errors per source), note the queue depth now, write them to ops_samples and delete
    samples past OPS_SAMPLE_KEEP. Returns the rows written. Several schedulers sampling at once write each
    row once (the key is the slot, the metric and the subject)."""
    now = now or utcnow()
    every_s = rt.settings.ops.sample_seconds
    every = timedelta(seconds=every_s)
    with rt.sessions() as session:
        last = session.scalar(select(func.max(OpsSample.taken_at)).where(OpsSample.metric == SAMPLED))
        ends = slots_to_sample(last, now, every_s)
        longest_poll = timedelta(seconds=rt.settings.fetch.total_timeout + 60)
        figures = _slot_figures(session, ends, every, longest_poll) if ends else {}
    rows = [row for end in ends for row in sample_rows(end, figures[end])]
    rows += queue_rows(sample_slot(now, every_s), _queue_depths(rt))
    with transaction(rt.sessions) as session:
        before = session.scalar(select(func.count()).select_from(OpsSample)) or 0
        insert_missing(session, OpsSample, rows, ("taken_at", "metric", "subject"))
        written = (session.scalar(select(func.count()).select_from(OpsSample)) or 0) - before
        session.execute(delete(OpsSample).where(OpsSample.taken_at < now - OPS_SAMPLE_KEEP))
    return int(written)


def newest_samples(rt: Runtime) -> tuple[datetime | None, datetime | None]:
    """When the newest slot was counted and when the newest figure was taken (queue depth is taken at the
    current slot, counts at an older one): together they change whenever a sample is written."""
    with rt.sessions() as session:
        return (session.scalar(select(func.max(OpsSample.taken_at)).where(OpsSample.metric == SAMPLED)),
                session.scalar(select(func.max(OpsSample.taken_at))))


def samples_since(rt: Runtime, since: datetime) -> list[tuple[datetime, str, str, float]]:
    """(taken_at, metric, subject, value) of the figures sampled since `since` (with the slots' markers),
    oldest first; plain rows: a day of them is tens of thousands for a large deployment."""
    with rt.sessions() as session:
        return [(at, metric, subject, float(value)) for at, metric, subject, value in session.execute(
            select(OpsSample.taken_at, OpsSample.metric, OpsSample.subject, OpsSample.value)
            .where(OpsSample.taken_at >= since)
            .order_by(OpsSample.taken_at, OpsSample.metric, OpsSample.subject))]


# ---------------------------------------------------------------- actions


def poll_now(rt: Runtime, source_id: int) -> str:
    """Claim the source and dispatch a poll (synchronously when this process has no dispatcher)."""
    src = get_source(rt, source_id)
    if src.kind not in POLLED_KINDS:
        raise OpsError(f"source {source_id} is a {src.kind} source: nothing to poll")
    claimed = claim_sources(rt.sessions, [source_id], utcnow(), lease_seconds=rt.settings.schedule.lease_seconds,
                            holder=holder_for(rt.settings))
    if not claimed:
        raise OpsError(f"source {source_id} is being polled right now")
    token = claimed[0][1]
    log.info("operator poll-now of source %s", source_id, extra={"source_id": source_id, "partner": src.partner_id})
    if rt.dispatcher is not None:
        rt.dispatcher.poll(source_id, token)
        return f"poll of source {source_id} dispatched"
    report = jobs.poll_source(rt, source_id, token)
    if report is not None and (report.new or report.updated):
        jobs.publish_dirty(rt)
    return f"source {source_id} polled: {report.status if report else 'skipped'}"


def set_paused(rt: Runtime, source_id: int, paused: bool) -> str:
    with transaction(rt.sessions) as session:
        src = session.get(Source, source_id)
        if src is None:
            raise OpsError(f"no source {source_id}")
        if paused:
            src.enabled, src.disabled_reason = False, PAUSED_REASON
        else:
            src.enabled, src.disabled_reason = True, None
            src.next_poll_at = min(src.next_poll_at, utcnow())
        log.info("operator %s source %s", "paused" if paused else "resumed", source_id,
                 extra={"source_id": source_id, "partner": src.partner_id})
    return f"source {source_id} {'paused' if paused else 'resumed'}"


class SyncDispatcher:
    """Runs work in the calling thread (CLI `replay` in embedded mode: done when the command returns)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def poll(self, source_id: int, lease_token: str) -> None:
        report = jobs.poll_source(self.rt, source_id, lease_token)
        if report is not None and (report.new or report.updated):
            jobs.publish_dirty(self.rt)

    def publish_dirty(self) -> None:
        jobs.publish_dirty(self.rt)

    def publish_all(self) -> None:
        jobs.publish_all(self.rt)

    def deliver(self, task: str, countdown: float = 0.0) -> None:
        pass  # deliveries are rows: the service's scheduled delivery run sends them; a command never waits

    def close(self) -> None:
        pass


def replay(rt: Runtime, dead_letter_id: int) -> str:
    """Re-dispatch a dead letter's work (syndication.runtime.replay) and mark it replayed."""
    from syndication.runtime import replay as replaying  # lazy: it brings the jobs, and so the whole pipeline

    if rt.dispatcher is None:
        rt.dispatcher = SyncDispatcher(rt)
    try:
        result = replaying.replay(rt, dead_letter_id)
    except replaying.ReplayError as exc:
        raise OpsError(str(exc)) from None
    log.info("operator replayed dead letter %s (%s): %s", dead_letter_id, result.task, result.action,
             extra={"dead_letter_id": dead_letter_id, "task": result.task})
    return f"dead letter {dead_letter_id} ({result.task}): {result.action}"
