"""Retention: history tables pruned in bounded batches by the scheduler (`retention.*` settings).

What goes (defaults in settings.RetentionSettings, documented in README and docs/operators.md):
- polls started more than `polls_days` ago;
- events relayed more than `events_days` ago (never one still to relay);
- item versions recorded more than `versions_days` ago that are not among the newest `versions_keep` of
  their item (the current version is always kept);
- deliveries and WebSub pings delivered or failed, created more than `deliveries_days` ago;
- notices older than `notices_days` with no delivery still pending or retrying, and older than the oldest
  notice the partner's notices feed and the public one still show (`notices.window`);
- dead letters replayed more than `dead_letters_days` ago (one never replayed waits for an operator).

What stays, whatever its age: items (the story index, archives, tombstones and /items read them), archive
pages and entries, folder file records (a file is never read twice), pending notices, channel state, and the
newest row of every pruned table — SQLite without AUTOINCREMENT hands out max(id) + 1, so deleting the newest
row would let an id be reused (notices remember event ids; the story index follows event ids).

Each batch is one short transaction (DELETE of at most `retention.batch` rows chosen by a subquery that re-checks
the rule, so a row that changed in between stays) that also adds its count to `syndication_retention_pruned_total`.
Several schedulers may run it at once: a row is deleted once, and counted by whoever deleted it. Metrics are
kept on write (syndication.db.counters), so nothing here lowers a counter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, or_, select
from sqlalchemy.orm import Session

from syndication.db import counters as figures
from syndication.db.models import DeadLetter, Delivery, Event, Item, ItemVersion, Notice, Partner, Poll, WebSubPing
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import RetentionSettings
from syndication.runtime.context import Runtime

log = logging.getLogger(__name__)

FINISHED = ("delivered", "failed")
OPEN = ("pending", "retrying")


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Rows older than these go (each rule adds what it must keep)."""

    polls: datetime
    events: datetime
    versions: datetime
    versions_keep: int
    notices: datetime
    notices_window: int  # notices.window: what each notices feed shows
    deliveries: datetime
    dead_letters: datetime


def cutoffs(r: RetentionSettings, now: datetime, notices_window: int) -> Cutoffs:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    return Cutoffs(polls=ago(r.polls_days), events=ago(r.events_days), versions=ago(r.versions_days),
                   versions_keep=r.versions_keep, notices=ago(r.notices_days), notices_window=notices_window,
                   deliveries=ago(r.deliveries_days),
                   dead_letters=ago(r.dead_letters_days))


@dataclass(frozen=True, slots=True)
class Rule:
    table: str
    model: Any
    condition: Callable[[Session, Cutoffs], ColumnElement[bool]]


def _polls(_s: Session, c: Cutoffs) -> ColumnElement[bool]:
    return Poll.started_at < c.polls


def _events(_s: Session, c: Cutoffs) -> ColumnElement[bool]:
    return and_(Event.relayed_at.is_not(None), Event.relayed_at < c.events)


def _versions(_s: Session, c: Cutoffs) -> ColumnElement[bool]:
    current = select(Item.version).where(Item.id == ItemVersion.item_id).scalar_subquery()
    return and_(ItemVersion.recorded_at < c.versions, ItemVersion.version <= current - c.versions_keep)


def _deliveries(_s: Session, c: Cutoffs) -> ColumnElement[bool]:
    return and_(Delivery.state.in_(FINISHED), Delivery.created_at < c.deliveries)


def _pings(_s: Session, c: Cutoffs) -> ColumnElement[bool]:
    return and_(WebSubPing.state.in_(FINISHED), WebSubPing.created_at < c.deliveries)


def _dead_letters(_s: Session, c: Cutoffs) -> ColumnElement[bool]:
    return and_(DeadLetter.replayed_at.is_not(None), DeadLetter.replayed_at < c.dead_letters)


def _notices(session: Session, c: Cutoffs) -> ColumnElement[bool]:
    """Per partner: older than the cutoff, than the oldest notice its feed shows and than the oldest the public
    feed shows; and no delivery of it still to send."""
    # lazy: start-up: the feed renderer (lxml, nh3) loads only when notices are pruned
    from syndication.publish.notices import PUBLIC_FEED, PUBLIC_KINDS, feed_notices

    clauses = []
    for pid in session.scalars(select(Partner.id).order_by(Partner.id)):
        own = _feed_floor(feed_notices(session, pid, c.notices_window), c.notices_window)
        clauses.append(and_(Notice.partner_id == pid, Notice.created_at < min(c.notices, own)))
    if not clauses:
        return false()
    public = _feed_floor(feed_notices(session, PUBLIC_FEED, c.notices_window), c.notices_window)
    never_public = or_(Notice.kind.not_in(PUBLIC_KINDS), Notice.under_embargo.is_(True))
    waiting = exists().where(Delivery.notice_id == Notice.id, Delivery.state.in_(OPEN))
    return and_(or_(*clauses), or_(never_public, Notice.created_at < public), ~waiting)


def _feed_floor(shown: list[Notice], window: int) -> datetime:
    """The oldest notice a full feed shows; a feed not full shows every notice it has, so none may go."""
    return min(n.created_at for n in shown) if len(shown) >= window else EARLIEST


EARLIEST = datetime.min.replace(tzinfo=UTC)


# Deliveries before their notices (a notice's finished deliveries would go with it by cascade anyway).
RULES: tuple[Rule, ...] = (
    Rule("polls", Poll, _polls),
    Rule("events", Event, _events),
    Rule("item_versions", ItemVersion, _versions),
    Rule("deliveries", Delivery, _deliveries),
    Rule("websub_pings", WebSubPing, _pings),
    Rule("notices", Notice, _notices),
    Rule("dead_letters", DeadLetter, _dead_letters),
)


@dataclass
class Report:
    pruned: dict[str, int] = field(default_factory=dict)
    complete: bool = True  # False when the time budget ran out (the next run goes on)
    seconds: float = 0.0


def prune(rt: Runtime, now: datetime | None = None, *, budget: float | None = None,
          batch: int | None = None) -> Report:
    """One retention run over every table, batch by batch, within `budget` seconds."""
    r = rt.settings.retention
    now = now or utcnow()
    c = cutoffs(r, now, rt.settings.notices.window)
    limit = batch or r.batch
    budget = r.max_seconds if budget is None else budget
    t0 = time.monotonic()
    report = Report()
    for rule in RULES:
        while True:
            if time.monotonic() - t0 > budget:
                report.complete = False
                report.seconds = time.monotonic() - t0
                return report
            with transaction(rt.sessions) as session:
                n = _delete_batch(session, rule, c, limit)
                figures.count(session, figures.PRUNED, n, table=rule.table)
            if n:
                report.pruned[rule.table] = report.pruned.get(rule.table, 0) + n
            if n < limit:
                break
    report.seconds = time.monotonic() - t0
    return report


def _delete_batch(session: Session, rule: Rule, c: Cutoffs, limit: int) -> int:
    model = rule.model
    newest = select(func.max(model.id)).scalar_subquery()
    chosen = select(model.id).where(rule.condition(session, c), model.id < newest).order_by(model.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Read the batch first (PostgreSQL cannot LIMIT a DELETE); the DELETE re-checks the rule.
        ids = list(session.scalars(chosen))
        if not ids:
            return 0
        chosen = select(model.id).where(model.id.in_(ids), rule.condition(session, c))
    result = session.execute(delete(model).where(model.id.in_(chosen)).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def run(rt: Runtime) -> None:
    """The scheduler's job: a run, logged when it removed something or ran out of time."""
    if not rt.settings.retention.enabled:
        return
    try:
        report = prune(rt)
    except Exception:
        log.exception("retention run failed; the next run tries again")
        return
    if report.pruned or not report.complete:
        log.info("retention: pruned %s in %.1f s%s", report.pruned or "nothing", report.seconds,
                 "" if report.complete else " (time budget reached; the next run goes on)",
                 extra={"pruned": report.pruned})
