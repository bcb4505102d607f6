"""Scheduling by leases in the database (DESIGN.md principle 5).

A claim atomically takes due sources with a fresh token and expiry. PostgreSQL uses
`FOR UPDATE SKIP LOCKED`; SQLite's `BEGIN IMMEDIATE` (see db.session) serialises claimers.
A poll whose token no longer matches does nothing, and a lost task heals when its lease expires.

Embedded mode also records who holds a lease (`Holder`: host, boot, pid, the pid's start time, data dir).
After a kill -9 the restarted process need not wait `schedule.lease_seconds`: at start it takes back the
leases it can prove were its predecessor's — same host and data dir, and that process is gone (its pid is
not running, or now belongs to a process started at another time, or the machine has booted since).
Anything it cannot prove (another host, no /proc) is left to expire. Scaled mode records no holder: a
scheduler's claims are run by workers elsewhere, so only expiry can tell they were lost.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Source
from syndication.db.session import transaction
from syndication.kernel.settings import Settings

log = logging.getLogger(__name__)

POLLED_KINDS = ("feed", "folder")
PROC = Path("/proc")


def claim_due(
    sessions: sessionmaker[Session], now: datetime, *, lease_seconds: int, limit: int, holder: str | None = None
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
        round_id = new_round()  # the sources claimed together are one round of polls (syndication.runtime.rounds)
        return [_lease(src, now, lease_seconds, holder, round_id) for src in session.scalars(query)]


def claim_sources(
    sessions: sessionmaker[Session], source_ids: list[int], now: datetime, *, lease_seconds: int,
    holder: str | None = None,
) -> list[tuple[int, str]]:
    """Claim named sources now (ingest, poll-now), unless another worker holds a live lease."""
    with transaction(sessions) as session:
        query = select(Source).where(Source.id.in_(source_ids))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        round_id = new_round()
        return [_lease(src, now, lease_seconds, holder, round_id) for src in session.scalars(query)
                if src.lease_token is None or not src.lease_expires_at or src.lease_expires_at < now]


def _lease(src: Source, now: datetime, lease_seconds: int, holder: str | None, round_id: str) -> tuple[int, str]:
    """Give `src` a fresh lease (token, expiry, holder, round) and return (id, token)."""
    src.lease_token = secrets.token_hex(16)
    src.lease_expires_at = now + timedelta(seconds=lease_seconds)
    src.lease_holder = holder
    src.lease_round = round_id
    return src.id, src.lease_token


# ---------------------------------------------------------------- lease holders (embedded mode)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lease: enough to tell later, on the same machine, whether that process is still alive."""

    host: str
    boot: str  # the kernel's boot id; empty where there is none to read
    pid: int
    start: str  # the pid's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells pid reuse
    data: str  # digest of the data dir: another installation on the same host is not our predecessor

    def __str__(self) -> str:
        return f"v1|{self.host}|{self.boot}|{self.pid}|{self.start}|{self.data}"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        parts = text.split("|")
        if len(parts) != 6 or parts[0] != "v1" or not parts[3].isdigit():
            return None
        return cls(parts[1], parts[2], int(parts[3]), parts[4], parts[5])


def process_start(pid: int, proc: Path = PROC) -> str | None:
    """The start time of `pid` (clock ticks after boot), or None when no such process runs."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ")".
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def boot_id(proc: Path = PROC) -> str:
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def this_process(data_dir: Path, proc: Path = PROC) -> Holder:
    pid = os.getpid()
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Holder(socket.gethostname(), boot_id(proc), pid, process_start(pid, proc) or "", digest)


def holder_for(settings: Settings) -> str | None:
    """The lease holder to record: this process in embedded mode; none when scaled out (expiry heals there)."""
    return str(this_process(settings.data_dir)) if settings.embedded else None


def predecessor_gone(holder: Holder, me: Holder, start_of: Callable[[int], str | None]) -> bool:
    """True only when `holder` was an earlier process of this installation that is no longer running."""
    if holder.host != me.host or holder.data != me.data or not holder.boot or not me.boot:
        return False
    if holder.boot != me.boot:
        return True  # the machine has booted since: every process of that boot is gone
    if not holder.start or (holder.pid == me.pid and holder.start == me.start):
        return False
    return start_of(holder.pid) != holder.start  # not running, or the pid now names a newer process


def reclaim_predecessor_leases(
    sessions: sessionmaker[Session], me: Holder, now: datetime,
    start_of: Callable[[int], str | None] = process_start,
) -> list[int]:
    """Release the live leases of sources whose holder is provably a dead earlier process of ours."""
    with transaction(sessions) as session:
        query = select(Source).where(
            Source.lease_token.is_not(None), Source.lease_holder.is_not(None), Source.lease_expires_at >= now
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        freed: dict[int, str] = {}
        for src in session.scalars(query):
            holder = Holder.parse(src.lease_holder or "")
            if holder is not None and predecessor_gone(holder, me, start_of):
                freed[src.id] = f"pid {holder.pid}"
                src.lease_token = src.lease_expires_at = src.lease_holder = None
    if freed:
        log.info("took back the leases of %d source(s) held by a process that is gone (%s): polled again now",
                 len(freed), ", ".join(sorted(set(freed.values()))))
    return sorted(freed)


def new_round() -> str:
    return secrets.token_hex(8)
