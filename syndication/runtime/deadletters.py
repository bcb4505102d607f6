"""Dead letters: work that failed for good (retries exhausted, or a permanent error) — Redis keeps none.

Rows of `dead_letters` (task, args, error, traceback, attempts, created_at, replayed_at). Written by the
Celery tasks (workers/celery_app.py) when a task gives up, and by ingest when one item of a batch cannot
be stored (the rest of the batch is stored). Operators list and replay them (the `failures`/`replay`
commands and pages build on `list_dead_letters`, `get_dead_letter` and `replay`).

Also here: `is_transient(exc)`, the one rule for "retry this" versus "give up now".
"""

from __future__ import annotations

import logging
import traceback as tb
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import DeadLetter
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow

log = logging.getLogger(__name__)



def transient_errors() -> tuple[type[BaseException], ...]:
    """The failures worth retrying: lost/refused database connections, broker and network hiccups, a soft time
    limit. Everything else (bad data, constraint violations, bugs) is permanent. Celery's `autoretry_for`."""
    from sqlalchemy.exc import InterfaceError, OperationalError  # lazy: SQLAlchemy costs ~0.2 s at start-up
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    found: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, PoolTimeout, ConnectionError,
                                              TimeoutError)
    try:
        # lazy: start-up: Celery and kombu cost ~0.1 s; only a retry decision needs them
        from celery.exceptions import SoftTimeLimitExceeded
        from kombu.exceptions import OperationalError as BrokerError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
    except ImportError:  # pragma: no cover - celery[redis] is a dependency
        return found
    return (*found, SoftTimeLimitExceeded, BrokerError, RedisConnectionError, RedisTimeout)


def is_transient(exc: BaseException) -> bool:
    """True for a failure worth retrying (transient_errors, or any database error that invalidated its
    connection)."""
    from sqlalchemy.exc import DBAPIError  # lazy: SQLAlchemy costs ~0.2 s at start-up

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, transient_errors())


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    id: int
    task: str
    args: list[Any]
    error: str
    traceback: str | None
    attempts: int
    created_at: datetime
    replayed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "task": self.task, "args": self.args, "error": self.error,
            "traceback": self.traceback, "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
        }


def _info(row: DeadLetter) -> DeadLetterInfo:
    return DeadLetterInfo(row.id, row.task, list(row.args or []), row.error, row.traceback, row.attempts,
                          row.created_at, row.replayed_at)


def error_text(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:4000]


def add(
    session: Session, *, task: str, args: list[Any], error: str, traceback: str | None, attempts: int,
    now: datetime | None = None,
) -> DeadLetter:
    """Add a dead letter in the caller's transaction."""
    row = DeadLetter(task=task, args=list(args), error=error[:4000], traceback=traceback, attempts=attempts,
                     created_at=now or utcnow(), replayed_at=None)
    session.add(row)
    return row


def record(
    sessions: sessionmaker[Session], *, task: str, args: list[Any], error: str | BaseException,
    traceback: str | None = None, attempts: int = 1, now: datetime | None = None,
) -> int:
    """Write one dead letter in its own transaction; return its id. `error` may be the exception itself
    (then its traceback is taken from it unless given)."""
    if isinstance(error, BaseException):
        if traceback is None and error.__traceback__ is not None:
            traceback = "".join(tb.format_exception(error))
        error = error_text(error)
    with transaction(sessions) as session:
        row = add(session, task=task, args=args, error=error, traceback=traceback, attempts=attempts, now=now)
        session.flush()
        log.warning("dead letter %s: %s%s failed after %d attempt(s): %s", row.id, task, args, attempts, error)
        return row.id


def list_dead_letters(
    sessions: sessionmaker[Session], *, include_replayed: bool = False, task: str | None = None, limit: int = 100,
) -> list[DeadLetterInfo]:
    """Newest first. By default only those not replayed yet."""
    with sessions() as session:
        query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if not include_replayed:
            query = query.where(DeadLetter.replayed_at.is_(None))
        if task:
            query = query.where(DeadLetter.task == task)
        return [_info(r) for r in session.scalars(query)]


def get_dead_letter(sessions: sessionmaker[Session], dead_letter_id: int) -> DeadLetterInfo | None:
    with sessions() as session:
        row = session.get(DeadLetter, dead_letter_id)
        return _info(row) if row else None
