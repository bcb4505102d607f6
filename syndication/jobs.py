"""Work units: plain functions taking ids. The embedded executor and Celery workers both call these.

Each is idempotent: a redelivered poll with a stale lease token does nothing, item writes are upserts
on unique keys, and publishing writes only files whose bytes changed.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from syndication.clock import utcnow
from syndication.db.models import FolderFile, Partner, Poll, Source
from syndication.db.session import transaction
from syndication.domain import IngestCounts, ParsedFeed, PartnerPolicy
from syndication.intake.fetch import Credentials, FetchError, FetchPolicy, fetch
from syndication.intake.folder import headers_for, move_aside, read_drop, ready_files
from syndication.intake.parse import ParseError, parse_document
from syndication.pipeline.ingest import store_items
from syndication.pipeline.normalise import normalise_feed
from syndication.publish.publisher import ChannelResult, publish, relay_outbox
from syndication.runtime import Runtime

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


def policy_of(partner: Partner) -> PartnerPolicy:
    return PartnerPolicy(
        id=partner.id,
        name=partner.name,
        credit=partner.credit,
        homepage=partner.homepage,
        license_url=partner.license_url,
        usage_terms=partner.usage_terms,
        copyright=partner.copyright,
        language=partner.language,
    )


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
    )


def next_poll_after_error(interval: int, errors: int, cap: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: interval * 2^(errors-1), capped, ±20 %."""
    base = min(cap, interval * (2 ** max(0, errors - 1)))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(cap, base * jitter)


def poll_source(rt: Runtime, source_id: int, lease_token: str | None = None) -> SourceReport | None:
    """Poll one source now. With a lease token, do nothing unless the lease is still ours."""
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
        policy = policy_of(partner)
        kind, locator = source.kind, source.locator
    report = SourceReport(partner=policy.id, source=locator, status="ok")
    try:
        if kind == "feed":
            report = _poll_feed(rt, source_id, policy, started, t0)
        elif kind == "folder":
            report = _poll_folder(rt, source_id, policy, started, t0)
        else:
            _finish(rt, source_id, started, t0, report, http_status=None)
    except Exception as exc:  # errors are data: record, never crash the worker
        log.exception("poll of source %s failed", source_id)
        report = SourceReport(policy.id, locator, "error", error=f"internal error: {exc.__class__.__name__}: {exc}")
        _finish(rt, source_id, started, t0, report, http_status=None)
    return report


def _poll_feed(rt: Runtime, source_id: int, policy: PartnerPolicy, started: datetime, t0: float) -> SourceReport:
    with rt.sessions() as session:
        src = session.get(Source, source_id)
        assert src is not None
        url = src.effective_url or src.locator
        etag, last_modified = src.etag, src.last_modified
        creds = Credentials(**src.credentials) if src.credentials else None
    report = SourceReport(policy.id, src.locator, "ok")
    try:
        result = fetch(url, fetch_policy(rt), etag=etag, last_modified=last_modified, credentials=creds)
    except FetchError as exc:
        report.status, report.error = "error", exc.reason
        _finish(rt, source_id, started, t0, report, http_status=exc.status, retry_after=exc.retry_after)
        return report
    if result.not_modified:
        report.status = "not_modified"
        _finish(rt, source_id, started, t0, report, http_status=304, permanent_url=result.permanent_url)
        return report
    try:
        parsed = parse_document(result.body, result.headers, result.url)
    except ParseError as exc:
        report.status, report.error = "error", str(exc)
        _finish(rt, source_id, started, t0, report, http_status=result.status)
        return report
    _store_document(rt, source_id, policy, parsed, result.url, report)
    _finish(
        rt, source_id, started, t0, report, http_status=result.status, etag=result.headers.get("etag"),
        last_modified=result.headers.get("last-modified"), permanent_url=result.permanent_url,
        parse_problem=parsed.problem,
    )
    return report


def _store_document(
    rt: Runtime, source_id: int, policy: PartnerPolicy, parsed: ParsedFeed, url: str | None,
    report: SourceReport, folder_file: tuple[str, str] | None = None,
) -> IngestCounts:
    now = utcnow()
    items, rejections = normalise_feed(parsed, policy, now=now, document_url=url)
    with transaction(rt.sessions) as session:
        counts = store_items(session, items, rejections, now=now, source_id=source_id)
        if folder_file is not None:
            _record_folder_file(session, source_id, folder_file[0], folder_file[1], "done", None, now)
    report.new += counts.new
    report.updated += counts.updated
    report.unchanged += counts.unchanged
    report.rejected += counts.rejected
    return counts


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
    with rt.sessions() as session:
        src = session.get(Source, source_id)
        assert src is not None
        folder, consume = Path(src.locator), src.consume
        known = {
            f.name: (f.sha256, f.state)
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
    for path in paths:
        drop = read_drop(path)
        seen = known.get(drop.name)
        if seen is not None and seen[0] == drop.sha256 and seen[1] in ("done", "failed"):
            # Already taken (e.g. the process died between commit and move): just finish the move.
            if consume:
                move_aside(path, seen[1])
            continue
        try:
            parsed = parse_document(drop.body, headers_for(drop.name), None)
        except ParseError as exc:
            errors.append(f"{drop.name}: {exc}")
            with transaction(rt.sessions) as session:
                _record_folder_file(session, source_id, drop.name, drop.sha256, "failed", str(exc), utcnow())
            if consume:
                move_aside(path, "failed", str(exc))
            continue
        _store_document(rt, source_id, policy, parsed, None, report, folder_file=(drop.name, drop.sha256))
        if consume:
            move_aside(path, "done")
    if errors:
        report.status = "error" if report.new + report.updated + report.unchanged == 0 else "ok"
        report.error = "; ".join(errors)
    _finish(rt, source_id, started, t0, report, http_status=None)
    return report


def _finish(
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
) -> None:
    """Record the poll on the source (state, validators, next poll) and release its lease."""
    now = utcnow()
    with transaction(rt.sessions) as session:
        src = session.get(Source, source_id)
        if src is None:
            return
        src.last_attempt_at = started
        src.last_status = http_status
        src.lease_token = None
        src.lease_expires_at = None
        src.last_counts = {
            "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
            "rejected": report.rejected,
        }
        if report.status == "error":
            src.consecutive_errors += 1
            src.last_error = report.error
            src.last_error_at = now
            delay = next_poll_after_error(src.interval, src.consecutive_errors, rt.settings.fetch.backoff_cap)
            src.next_poll_at = now + timedelta(seconds=delay)
        else:
            src.consecutive_errors = 0
            src.last_success_at = now
            src.last_error = report.error  # a folder may succeed with some failed files
            if etag is not None or last_modified is not None:
                src.etag, src.last_modified = etag, last_modified
            src.parse_problem = parse_problem if report.status == "ok" else src.parse_problem
            src.next_poll_at = now + timedelta(seconds=src.interval)
        if permanent_url:
            src.effective_url = permanent_url
        session.add(
            Poll(
                source_id=source_id, started_at=started, duration_ms=int((time.monotonic() - t0) * 1000),
                outcome=report.status, http_status=http_status, new=report.new, updated=report.updated,
                unchanged=report.unchanged, rejected=report.rejected, error=report.error,
            )
        )


def relay(rt: Runtime) -> set[str]:
    with transaction(rt.sessions) as session:
        return relay_outbox(session, rt.settings, utcnow())


def publish_dirty(rt: Runtime) -> list[ChannelResult]:
    relay(rt)
    return publish(rt.sessions, rt.settings, utcnow(), only_dirty=True)


def publish_all(rt: Runtime) -> list[ChannelResult]:
    relay(rt)
    return publish(rt.sessions, rt.settings, utcnow(), only_dirty=False)
