"""Scheduling by leases in the database (DESIGN.md principle 5).

A claim atomically takes due sources with a fresh token and expiry. PostgreSQL uses
`FOR UPDATE SKIP LOCKED`; SQLite's `BEGIN IMMEDIATE` (see db.session) serialises claimers.
A poll whose token no longer matches does nothing, and a lost task heals when its lease expires.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Source
from syndication.db.session import transaction

POLLED_KINDS = ("feed", "folder")


def claim_due(
    sessions: sessionmaker[Session], now: datetime, *, lease_seconds: int, limit: int
) -> list[tuple[int, str]]:
    with transaction(sessions) as session:
        query = (
            select(Source)
            .where(Source.enabled.is_(True), Source.kind.in_(POLLED_KINDS), Source.next_poll_at <= now)
            .where(or_(Source.lease_token.is_(None), Source.lease_expires_at < now))
            .order_by(Source.next_poll_at, Source.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        round_id = new_round()  # the sources claimed together are one round of polls (syndication.rounds)
        for src in session.scalars(query):
            src.lease_token = secrets.token_hex(16)
            src.lease_expires_at = now + timedelta(seconds=lease_seconds)
            src.lease_round = round_id
            claimed.append((src.id, src.lease_token))
        return claimed


def claim_sources(
    sessions: sessionmaker[Session], source_ids: list[int], now: datetime, *, lease_seconds: int
) -> list[tuple[int, str]]:
    """Claim named sources now (ingest, poll-now), unless another worker holds a live lease."""
    with transaction(sessions) as session:
        query = select(Source).where(Source.id.in_(source_ids))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        round_id = new_round()
        for src in session.scalars(query):
            if src.lease_token is not None and src.lease_expires_at and src.lease_expires_at >= now:
                continue
            src.lease_token = secrets.token_hex(16)
            src.lease_expires_at = now + timedelta(seconds=lease_seconds)
            src.lease_round = round_id
            claimed.append((src.id, src.lease_token))
        return claimed


def new_round() -> str:
    return secrets.token_hex(8)
