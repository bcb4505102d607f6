"""Work units: plain functions taking ids. The embedded executor and Celery workers both call these.

Each is idempotent: a redelivered poll with a stale lease token does nothing, item writes are upserts
on unique keys, and publishing writes only files whose bytes changed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndication.db import counters as figures
from syndication.db.models import Event, FolderFile, Item, Partner, PartnerPolicyState, PendingNotice, Poll, Source
from syndication.db.rights import rights_digest, rights_policy
from syndication.db.session import transaction
from syndication.intake import subscriptions
from syndication.intake.credentials import CredentialsError, open_credentials
from syndication.intake.decide import PollOutcome, decide, interval_bound
from syndication.intake.errors import ParseError
from syndication.intake.fetch import Credentials, FetchError, FetchPolicy, fetch, system_resolver
from syndication.intake.folder import headers_for, move_aside, read_drop, ready_files
from syndication.intake.hubs import discover
from syndication.kernel.clock import utcnow
from syndication.kernel.domain import IngestCounts, ParsedFeed, PartnerPolicy
from syndication.kernel.settings import ConfigError, Settings
from syndication.partners.registry import credentials_key
from syndication.pipeline.column_fit import fit_polled, fit_validators
from syndication.pipeline.ingest import release_embargoes as _release
from syndication.pipeline.ingest import store_items
from syndication.pipeline.policy import build_policy
from syndication.runtime import cpu, deadletters, rounds
from syndication.runtime.context import Runtime
from syndication.runtime.deadletters import is_transient
from syndication.runtime.tasks import (
    TASK_DELIVER_NOTICES,
    TASK_DELIVER_PINGS,
    TASK_STORE_ITEM,
    TASK_WEBSUB_SUBSCRIPTIONS,
)

if TYPE_CHECKING:
    from syndication.publish.publisher import ChannelResult

# The publishing stack (publish.publisher -> feeds -> lxml.html, notices, webhooks: ~130 ms of imports) is
# imported by the functions below that publish, relay or deliver, never at the top: a process that only
# polls (a Celery poll worker, an `ingest` with nothing new) does not pay for it.

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SourceReport:
    partner: str
    source: str
    status: str  # ok | not_modified | error
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def policy_of(partner: Partner, settings: Settings | None = None) -> PartnerPolicy:
    """The partner's rights policy: its row, plus the [normalise] rules of its config entry if any."""

    cfg = next((p for p in settings.partners if p.id == partner.id), None) if settings is not None else None
    return build_policy(partner, cfg)


def fetch_policy(rt: Runtime) -> FetchPolicy:
    f = rt.settings.fetch
    return FetchPolicy(
        allow_private_addresses=f.allow_private_addresses,
        connect_timeout=f.connect_timeout,
        read_timeout=f.read_timeout,
        max_body_bytes=f.max_body_bytes,
        max_redirects=f.max_redirects,
        user_agent=f.user_agent,
        per_host_concurrency=f.per_host_concurrency,
        total_timeout=f.total_timeout,
    )


def poll_source(
    rt: Runtime, source_id: int, lease_token: str | None = None, *, raise_transient: bool = False
) -> SourceReport | None:
    """Poll one source now. With a lease token, do nothing unless the lease is still ours.

    raise_transient: let transient failures (lost database connection, ...) propagate, lease kept, so a
    Celery task can retry them (deadletters.is_transient); otherwise they are recorded on the source."""
    started = utcnow()
    t0 = time.monotonic()
    with rt.sessions() as session:
        source = session.get(Source, source_id)
        if source is None:
            return None
        if lease_token is not None and source.lease_token != lease_token:
            log.info("stale lease for source %s; skipping", source_id)
            return None
        partner = session.get(Partner, source.partner_id)
        assert partner is not None
        policy = policy_of(partner, rt.settings)
        kind, locator = source.kind, source.locator
        # What a feed's fetch needs, read here: one read of the source per poll, not two.
        ask = _FeedAsk(source.effective_url or source.locator, source.etag, source.last_modified,
                       dict(source.credentials) if source.credentials else None)
    report = SourceReport(partner=policy.id, source=locator, status="ok")
    try:
        if kind == "feed":
            report = _poll_feed(rt, source_id, policy, started, t0, locator, ask)
        elif kind == "folder":
            report = _poll_folder(rt, source_id, policy, started, t0)
        else:
            _finish(rt, source_id, started, t0, report, http_status=None)
    except Exception as exc:  # errors are data: record, never crash the worker
        if raise_transient and is_transient(exc):
            raise
        log.exception("poll of source %s failed", source_id, extra={"partner": policy.id, "source_id": source_id})
        report = SourceReport(policy.id, locator, "error", error=f"internal error: {exc.__class__.__name__}: {exc}")
        _finish(rt, source_id, started, t0, report, http_status=None)
    # One line per poll: what operators grep for when a source misbehaves (JSON logs carry the ids).
    log.log(
        logging.WARNING if report.status == "error" else logging.INFO,
        "poll %s source %s: %s new=%d updated=%d unchanged=%d rejected=%d%s",
        policy.id, source_id, report.status, report.new, report.updated, report.unchanged, report.rejected,
        f" error={report.error}" if report.error else "",
        extra={"partner": policy.id, "source_id": source_id},
    )
    return report


def _credentials_for(rt: Runtime, record: dict[str, Any] | None) -> Credentials | None:
    if not record:
        return None
    return open_credentials(record, sealing_key(rt) if record.get("sealed") else None)


def sealing_key(rt: Runtime) -> bytes:
    """The key sealing source credentials and WebSub secrets (read once per process)."""
    key = rt.extras.get("credentials_key")
    if key is None:
        key = rt.extras["credentials_key"] = credentials_key(rt.settings)
    return key  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _FeedAsk:
    """How a feed is asked for: where, with the validators of its last answer and its credentials record."""

    url: str
    etag: str | None
    last_modified: str | None
    credentials: dict[str, Any] | None


def _poll_feed(
    rt: Runtime, source_id: int, policy: PartnerPolicy, started: datetime, t0: float, locator: str, ask: _FeedAsk,
) -> SourceReport:
    url, etag, last_modified, record = ask.url, ask.etag, ask.last_modified, ask.credentials
    report = SourceReport(policy.id, locator, "ok")
    try:
        creds = _credentials_for(rt, record)
    except (CredentialsError, ConfigError) as exc:
        report.status, report.error = "error", str(exc)
        _finish(rt, source_id, started, t0, report, http_status=None)
        return report
    try:
        result = fetch(url, fetch_policy(rt), etag=etag, last_modified=last_modified, credentials=creds,
                       resolver=rt.extras.get("resolver") or system_resolver, slots=rt.host_slots)
    except FetchError as exc:
        report.status, report.error = "error", exc.reason
        _finish(rt, source_id, started, t0, report, http_status=exc.status, retry_after=exc.retry_after,
                headers=exc.headers)
        return report
    redirects = [[status, target] for status, target in result.redirects]
    if result.not_modified:  # a 304 costs no parsing
        report.status = "not_modified"
        _finish(rt, source_id, started, t0, report, http_status=304, permanent_url=result.permanent_url,
                headers=result.headers, redirects=redirects)
        return report
    try:
        prepared = cpu.prepare(rt, result.body, result.headers, result.url, result.status, policy, utcnow())
    except ParseError as exc:
        report.status, report.error = "error", str(exc)
        _finish(rt, source_id, started, t0, report, http_status=result.status, headers=result.headers,
                redirects=redirects)
        return report
    if rt.settings.websub.subscribe:  # before storing: a transient failure here must leave the poll unrecorded
        _note_hub(rt, source_id, result.body, result.headers, result.url)
    _store_and_finish(
        rt, source_id, prepared.items, prepared.rejections, report, started, t0, http_status=result.status,
        etag=result.headers.get("etag"), last_modified=result.headers.get("last-modified"),
        permanent_url=result.permanent_url, parse_problem=prepared.problem, headers=result.headers,
        redirects=redirects, published=prepared.published,
    )
    return report


def _store_and_finish(
    rt: Runtime, source_id: int, items: list[Any], rejections: list[Any], report: SourceReport, started: datetime,
    t0: float, **finish: Any,
) -> None:
    """Store a fetched document's items and record the poll in ONE write transaction (the write lock is taken
    once per poll, not twice). When that transaction fails for a reason other than the database being away,
    the two-step path runs instead: storing (item by item if the batch fails, dead-lettering what fails
    alone), then the poll's record on its own, so nothing accepted is lost and a failure is still recorded."""
    now = utcnow()
    counts: IngestCounts | None = None
    try:
        with transaction(rt.sessions) as session:
            stored_counts = store_items(session, items, rejections, now=now, source_id=source_id)
            session.flush()  # a storing failure shows here, not in the poll's record below
            counts = stored_counts
            stored = dataclasses.replace(report)
            _add_counts(stored, counts)
            _record_poll(session, rt, source_id, started, t0, stored, **finish)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("storing and recording the poll of source %s in one transaction failed (%s); "
                    "doing it in steps", source_id, exc)
        if counts is None:  # storing itself failed: the item-by-item path (or, with no items, the error)
            if not items:
                raise
            _add_counts(report, _store_isolating(rt, source_id, items, rejections, now, None))
        else:  # the poll's record failed: store in one step, then record the poll (poll_source records an error)
            _store_normalised(rt, source_id, items, rejections, report, now=now)
        _finish(rt, source_id, started, t0, report, **finish)
        return
    _add_counts(report, counts)


def _add_counts(report: SourceReport, counts: IngestCounts) -> None:
    report.new += counts.new
    report.updated += counts.updated
    report.unchanged += counts.unchanged
    report.rejected += counts.rejected


def _note_hub(rt: Runtime, source_id: int, body: bytes, headers: Mapping[str, str], url: str) -> None:
    """[wire] A feed advertising a WebSub hub gets subscribed (syndication.intake.subscriptions); the poll
    itself never waits for the hub, and a problem here never fails the poll."""
    try:
        due = subscriptions.note_advertised(rt.sessions, source_id, discover(body, headers, url), utcnow(),
                                            sealing_key(rt))
        if due and rt.dispatcher is not None:
            rt.dispatcher.deliver(TASK_WEBSUB_SUBSCRIPTIONS)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("source %s: could not record its WebSub hub", source_id)


def take_distribution(
    rt: Runtime, source_id: int, body: bytes, headers: Mapping[str, str], topic: str,
) -> SourceReport:
    """[wire] A hub's content distribution for a subscribed source, taken as that source's poll would take
    the document: the same parse, normalise and store (one batch), then published like a push (debounced).
    Raises intake.parse.ParseError when the body is not a feed."""
    with rt.sessions() as session:
        source = session.get(Source, source_id)
        if source is None:
            raise LookupError(f"source {source_id} is gone")
        partner = session.get(Partner, source.partner_id)
        assert partner is not None
        policy = policy_of(partner, rt.settings)
        report = SourceReport(policy.id, source.locator, "ok")
    prepared = cpu.prepare(rt, body, headers, topic, 200, policy, utcnow())
    _store_normalised(rt, source_id, prepared.items, prepared.rejections, report)
    log.info("WebSub distribution for source %s (%s): new=%d updated=%d unchanged=%d rejected=%d", source_id,
             policy.id, report.new, report.updated, report.unchanged, report.rejected,
             extra={"partner": policy.id, "source_id": source_id})
    if (report.new or report.updated) and rt.dispatcher is not None:
        try:
            rt.dispatcher.publish_dirty()
        except Exception:  # stored is stored; the next tick or refresh publishes it anyway
            log.exception("could not trigger publication after a WebSub distribution")
    return report


def websub_subscriptions(rt: Runtime) -> dict[str, Any]:
    """One subscription run ([wire]): subscribe, renew, unsubscribe, give up on hubs that never verified.
    Hub requests get the WebSub timeout and go through the fetch address guard."""
    ws = rt.settings.websub
    policy = dataclasses.replace(fetch_policy(rt), connect_timeout=ws.timeout, read_timeout=ws.timeout,
                                 total_timeout=3 * ws.timeout)
    run = subscriptions.run(rt.sessions, rt.settings, utcnow(), key=sealing_key(rt), policy=policy,
                            resolver=rt.extras.get("resolver") or system_resolver)
    return run.as_dict()


def _store_document(
    rt: Runtime, source_id: int, policy: PartnerPolicy, parsed: ParsedFeed, url: str | None,
    report: SourceReport, folder_file: tuple[str, str] | None = None,
) -> str | None:
    """Store a dropped or fetched document's items; returns the note for operators on values fitted to our
    columns (None when none was)."""
    from syndication.pipeline.normalise import normalise_feed  # lazy: start-up: see runtime.cpu._stages

    now = utcnow()
    items, rejections = normalise_feed(parsed, policy, now=now, document_url=url)
    items, fitted = fit_polled(items)
    _store_normalised(rt, source_id, items, rejections, report, folder_file, now)
    return fitted


def _store_normalised(
    rt: Runtime, source_id: int, items: list[Any], rejections: list[Any], report: SourceReport,
    folder_file: tuple[str, str] | None = None, now: datetime | None = None,
) -> IngestCounts:
    now = now or utcnow()
    try:
        with transaction(rt.sessions) as session:
            counts = store_items(session, items, rejections, now=now, source_id=source_id)
            if folder_file is not None:
                _record_folder_file(session, source_id, folder_file[0], folder_file[1], "done", None, now)
    except Exception as exc:
        if is_transient(exc) or not items:
            raise
        # One bad item must not sink its batch: store item by item, dead-letter the ones that fail.
        log.warning("storing the batch of source %s failed (%s); retrying item by item", source_id, exc)
        counts = _store_isolating(rt, source_id, items, rejections, now, folder_file)
    _add_counts(report, counts)
    return counts


def _store_isolating(
    rt: Runtime, source_id: int, items: list[Any], rejections: list[Any], now: datetime,
    folder_file: tuple[str, str] | None,
) -> IngestCounts:
    """Store each item in its own transaction; an item that fails twice (in the batch, then alone) is
    dead-lettered (task syndication.store_item, args [source_id, key, guid]) and the rest are stored."""
    counts = IngestCounts()
    with transaction(rt.sessions) as session:
        _merge(counts, store_items(session, [], rejections, now=now, source_id=source_id))
    for item in items:
        try:
            with transaction(rt.sessions) as session:
                _merge(counts, store_items(session, [item], [], now=now, source_id=source_id))
        except Exception as exc:
            if is_transient(exc):
                raise
            deadletters.record(rt.sessions, task=TASK_STORE_ITEM, args=[source_id, item.key, item.guid],
                               error=exc, attempts=2, now=now)
            counts.add(item.key, "rejected", f"dead-lettered: {deadletters.error_text(exc)[:200]}")
    if folder_file is not None:
        with transaction(rt.sessions) as session:
            _record_folder_file(session, source_id, folder_file[0], folder_file[1], "done", None, now)
    return counts


def _merge(into: IngestCounts, other: IngestCounts) -> None:
    for key, outcome, reason in other.results:
        into.add(key, outcome, reason)


def _record_folder_file(
    session: Any, source_id: int, name: str, digest: str, state: str, error: str | None, now: datetime
) -> None:
    row = session.scalar(select(FolderFile).where(FolderFile.source_id == source_id, FolderFile.name == name))
    if row is None:
        session.add(FolderFile(source_id=source_id, name=name, sha256=digest, state=state, error=error,
                               processed_at=now))
    else:
        row.sha256, row.state, row.error, row.processed_at = digest, state, error, now


def _poll_folder(rt: Runtime, source_id: int, policy: PartnerPolicy, started: datetime, t0: float) -> SourceReport:
    """Take every settled file of a drop folder once.

    Crash safety: a file's items and its folder_files row ("done"/"failed" + content hash) commit in one
    transaction before the file is moved; a file found again with a recorded hash is only moved (never
    re-ingested), a file without a row is processed (item upserts make a half-done earlier run harmless).
    """
    with rt.sessions() as session:
        src = session.get(Source, source_id)
        assert src is not None
        folder, consume = Path(src.locator), src.consume
        known = {
            f.name: (f.sha256, f.state, f.error)
            for f in session.scalars(select(FolderFile).where(FolderFile.source_id == source_id))
        }
    report = SourceReport(policy.id, str(folder), "ok")
    try:
        paths = ready_files(folder, time.time(), rt.settings.folder.settle_seconds)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        report.status, report.error = "error", str(exc)
        _finish(rt, source_id, started, t0, report, http_status=None)
        return report
    errors: list[str] = []
    problems: list[str] = []
    cap = rt.settings.fetch.max_body_bytes
    for path in paths:
        try:
            size = path.stat().st_size
            if size > cap:
                raise _DropFailed(f"body limit: file of {size} bytes exceeds the {cap} byte cap")
            drop = read_drop(path)
        except FileNotFoundError:
            continue  # taken away meanwhile (another poller, or the partner)
        except OSError as exc:
            errors.append(f"{path.name}: cannot read: {exc.strerror or exc}")
            continue
        except _DropFailed as exc:
            errors.append(f"{path.name}: {exc}")
            _fail_drop(rt, source_id, path, path.name, "size:" + str(size), str(exc), consume)
            continue
        seen = known.get(drop.name)
        if seen is not None and seen[0] == drop.sha256 and seen[1] in ("done", "failed"):
            # Already taken (e.g. the process died between commit and move): just finish the move.
            if consume:
                move_aside(path, seen[1], seen[2] if seen[1] == "failed" else None)
            continue
        try:
            from syndication.intake.documents import read_document  # lazy: start-up: see runtime.cpu._stages

            parsed = read_document(drop.body, headers_for(drop.name), None)
        except ParseError as exc:
            errors.append(f"{drop.name}: {exc}")
            _fail_drop(rt, source_id, path, drop.name, drop.sha256, str(exc), consume)
            continue
        try:
            fitted = _store_document(rt, source_id, policy, parsed, None, report, folder_file=(drop.name, drop.sha256))
        except Exception as exc:  # one bad file must not block the folder: it goes to failed/ with the reason
            if is_transient(exc):  # the database, not the file: leave the file for the retry
                raise
            log.exception("folder file %s of source %s failed", drop.name, source_id)
            reason = f"internal error: {exc.__class__.__name__}: {exc}"
            errors.append(f"{drop.name}: {reason}")
            _fail_drop(rt, source_id, path, drop.name, drop.sha256, reason, consume)
            continue
        if notes := "; ".join(filter(None, (parsed.notes, fitted))):
            problems.append(f"{drop.name}: {notes}")
        if consume:
            move_aside(path, "done")
    if errors:
        report.status = "error" if report.new + report.updated + report.unchanged == 0 else "ok"
        report.error = "; ".join(errors)
    _finish(rt, source_id, started, t0, report, http_status=None, parse_problem="; ".join(problems) or None)
    return report


class _DropFailed(Exception):
    pass


def _fail_drop(rt: Runtime, source_id: int, path: Path, name: str, digest: str, reason: str, consume: bool) -> None:
    with transaction(rt.sessions) as session:
        _record_folder_file(session, source_id, name, digest, "failed", reason, utcnow())
    if consume:
        move_aside(path, "failed", reason)


def _finish(rt: Runtime, source_id: int, started: datetime, t0: float, report: SourceReport, **poll: Any) -> None:
    """Record the poll on the source (state, validators, next poll by intake.decide) and release its lease, in a
    transaction of its own; `poll` are _record_poll's keywords."""
    with transaction(rt.sessions) as session:
        _record_poll(session, rt, source_id, started, t0, report, **poll)


def _record_poll(
    session: Session,
    rt: Runtime,
    source_id: int,
    started: datetime,
    t0: float,
    report: SourceReport,
    *,
    http_status: int | None,
    etag: str | None = None,
    last_modified: str | None = None,
    permanent_url: str | None = None,
    retry_after: str | None = None,
    parse_problem: str | None = None,
    headers: Mapping[str, str] | None = None,
    published: tuple[datetime, ...] | None = None,
    redirects: list[list[Any]] | None = None,
) -> None:
    """_finish's work in the caller's write transaction."""
    now = utcnow()
    etag, last_modified, permanent_url, too_long = fit_validators(etag, last_modified, permanent_url)
    if too_long:  # a partner's headers must not fail the poll on PostgreSQL (SQLite would keep them)
        parse_problem = "; ".join(filter(None, (parse_problem, *too_long)))
    hdrs = dict(headers or {})
    if retry_after is not None:
        hdrs.setdefault("retry-after", retry_after)
    src = session.get(Source, source_id)
    if src is None:
        return
    ok = report.status != "error"
    # How long the source has been quiet, when that may stretch its interval: its newest stored item.
    newest = (session.scalar(select(func.max(Item.sort_at)).where(Item.source_id == source_id))
              if ok and not report.new else None)
    outcome = PollOutcome(ok=ok, status=http_status, headers=hdrs, error=report.error, published=published,
                          new_items=report.new, newest_item_at=newest)
    decision = decide(
        outcome, now=now, configured_interval=src.interval, current_interval=src.current_interval,
        consecutive_errors=src.consecutive_errors, backoff_cap=rt.settings.fetch.backoff_cap,
        max_interval=interval_bound(src.interval, src.max_interval, rt.settings.fetch.max_interval),
        rng=rt.extras.get("rng"),
    )
    src.last_attempt_at = started
    src.last_status = http_status
    src.lease_token = None
    src.lease_expires_at = None
    src.lease_holder = None
    src.last_counts = {
        "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
        "rejected": report.rejected, "accepted": report.new + report.updated + report.unchanged,
    }
    src.consecutive_errors = decision.consecutive_errors
    src.current_interval = decision.interval
    src.interval_reason = decision.reason
    src.next_poll_at = decision.next_poll_at
    if not decision.enabled:
        src.enabled = False
        src.disabled_reason = decision.disabled_reason
    if report.status == "error":
        src.last_error = report.error
        src.last_error_at = now
    else:
        src.last_success_at = now
        if report.error:  # a folder may succeed with some failed files
            src.last_error, src.last_error_at = report.error, now
        else:
            src.last_error = None
        if etag is not None or last_modified is not None:
            src.etag, src.last_modified = etag, last_modified
        if report.status == "ok":
            src.parse_problem = parse_problem
    if redirects is not None:
        src.redirects = redirects
    if permanent_url:
        src.effective_url = permanent_url
    duration_ms = int((time.monotonic() - t0) * 1000)
    figures.count(session, figures.POLLS, partner=src.partner_id, outcome=report.status)
    figures.count(session, figures.POLL_DURATION_BUCKET,
                  le=figures.bucket_label(duration_ms / 1000.0, figures.POLL_DURATION_BUCKETS))
    figures.count(session, figures.POLL_DURATION_MS, duration_ms)
    session.add(
        Poll(
            source_id=source_id, started_at=started, duration_ms=duration_ms,
            outcome=report.status, http_status=http_status, new=report.new, updated=report.updated,
            unchanged=report.unchanged, rejected=report.rejected, error=report.error,
        )
    )


def release_embargoes(rt: Runtime) -> int:
    """Write `item.released` events for items whose embargo has passed (the scheduler tick calls this;
    the relay then marks their channels dirty). Returns how many partners had items released."""

    with transaction(rt.sessions) as session:
        return len(_release(session, utcnow()))


RELAY_BATCH = 500


def relay(rt: Runtime) -> set[str]:
    """Relay every pending event, a batch per transaction: a backlog (a first bulk ingest, an outage)
    must not hold the write lock for long, so pushes and polls interleave with it."""
    from syndication.publish.publisher import relay_outbox  # lazy: start-up: the publishing stack (see top)

    dirty: set[str] = set()
    while True:
        with transaction(rt.sessions) as session:
            batch = relay_outbox(session, rt.settings, utcnow(), limit=RELAY_BATCH)
            pending = session.scalar(select(Event.id).where(Event.relayed_at.is_(None)).limit(1))
        dirty |= batch
        # Stop when drained, or when what is left is locked by another relayer (PostgreSQL skips those).
        if not batch or pending is None:
            return dirty


def publish_retry_due(rt: Runtime) -> bool:
    """Has a channel that failed to publish reached its retry time (syndication.publish.failures)?"""

    from syndication.publish.failures import retry_due  # lazy: start-up: the publishing stack (see top)

    with rt.sessions() as session:
        return retry_due(session, utcnow())


def publish_needed(rt: Runtime) -> bool:
    """Would a publish_dirty find anything to do? Decided by queries, before the publishing stack is imported:
    an event not relayed yet (a change stored, an embargo released), a channel marked and not published, a
    pending notice, a failed channel due for its retry, or a partner whose rights terms differ from those last
    published (or were never published). The caller releases due embargoes first (release_embargoes)."""
    with rt.sessions() as session:
        if rounds.publish_owed(session) or publish_retry_due(rt):
            return True
        if session.scalar(select(PendingNotice.id).limit(1)) is not None:
            return True
        rows = session.execute(select(PartnerPolicyState.partner_id, PartnerPolicyState.policy_hash))
        recorded = {partner_id: digest for partner_id, digest in rows}
        # The publisher's own test (publish.notices.check_rights_changes): the digest of the terms as they are now.
        return any(recorded.get(p.id) != rights_digest(rights_policy(p)) for p in session.scalars(select(Partner)))


def publish_dirty(rt: Runtime) -> list[ChannelResult]:
    from syndication.publish.publisher import publish  # lazy: start-up: the publishing stack (see top)

    release_embargoes(rt)
    relay(rt)
    return _pinged(rt, publish(rt.sessions, rt.settings, utcnow(), only_dirty=True))


def publish_all(rt: Runtime) -> list[ChannelResult]:
    from syndication.publish.publisher import publish  # lazy: start-up: the publishing stack (see top)

    release_embargoes(rt)
    relay(rt)
    return _pinged(rt, publish(rt.sessions, rt.settings, utcnow(), only_dirty=False))


def _pinged(rt: Runtime, results: list[ChannelResult]) -> list[ChannelResult]:
    """The publisher recorded pings for changed topics; hand them to the notify queue (never sent here)."""
    if rt.settings.websub.hub_url and rt.dispatcher is not None and any(r.changed for r in results):
        try:
            rt.dispatcher.deliver(TASK_DELIVER_PINGS)
        except Exception:  # the pings are rows: the scheduled delivery run sends them anyway
            log.exception("could not dispatch WebSub pings")
    return results


def deliver_notices(rt: Runtime) -> dict[str, Any]:
    """One webhook delivery run (scheduled every webhooks.interval s, on the notify queue when scaled).

    Deliveries are claimed one by one just before each POST, so concurrent runs never send one twice. A run
    stops starting POSTs when its time budget is spent and dispatches a follow-up for what is left."""

    from syndication.publish.webhooks import deliver_due, run_budget  # lazy: start-up: the publishing stack

    run = deliver_due(rt.sessions, rt.settings, utcnow(), budget=run_budget(rt.settings))
    if run.more and run.claimed and rt.dispatcher is not None:
        rt.dispatcher.deliver(TASK_DELIVER_NOTICES)
    return run.as_dict()


# A follow-up run for a retry is dispatched with a countdown only when that stays well below Celery's
# visibility timeout (longer countdowns are redelivered); later retries wait for the scheduled run.
def _follow_up_bound(settings: Settings) -> float:
    return settings.celery.visibility_timeout / 2


def deliver_pings(rt: Runtime) -> dict[str, Any]:
    """One WebSub ping run (after each publish that changed a topic, and every webhooks.interval s).

    Only a run that sent something dispatches the follow-up for its retries (or its leftovers), so runs
    triggered by the same publish do not multiply."""

    from syndication.publish.webhooks import run_budget  # lazy: start-up: the publishing stack (see top)
    from syndication.publish.websub import deliver_pings as _deliver  # lazy: as above

    now = utcnow()
    run = _deliver(rt.sessions, rt.settings, now, budget=run_budget(rt.settings))
    if run.claimed and rt.dispatcher is not None:
        if run.more:
            rt.dispatcher.deliver(TASK_DELIVER_PINGS)
        elif run.next_due is not None:
            wait = max(0.0, (run.next_due - utcnow()).total_seconds())
            if wait <= _follow_up_bound(rt.settings):
                rt.dispatcher.deliver(TASK_DELIVER_PINGS, countdown=wait)
    return run.as_dict()


DELIVERIES = {TASK_DELIVER_NOTICES: deliver_notices, TASK_DELIVER_PINGS: deliver_pings,
              TASK_WEBSUB_SUBSCRIPTIONS: websub_subscriptions}
