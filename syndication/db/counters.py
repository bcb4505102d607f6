"""Figures kept on write: one `counters` row per (metric, label set), moved in the transaction that does the work.

Why: /metrics used to aggregate whole history tables (polls, notices, deliveries) at every scrape, so its cost
grew with history and pruning those tables would have made counters go down. Here a write adds to the figure
it changes (`count(session, ...)`); the additions are held on the session and written just before its commit,
in one sorted batch, so they land in the same transaction as the rows they describe (a rollback takes them
back), row locks on hot counters are held only for the commit, and two transactions always lock counter rows
in the same order (no deadlock on PostgreSQL). Every process reads the same table, so every process reports
the same totals, and retention (syndication.operations.retention) never touches it.

Most rows are counters (only ever added to); a few are gauges kept on write (`items_stored`: +1/-1 as an item's
status changes) and `publish_lag_watermark`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, event, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from syndication.db.models import Counter

# Names of the rows (not the exported metric names: syndication.operations.metrics maps them).
POLLS = "polls"  # labels: partner, outcome (ok | not_modified | error)
POLL_DURATION_BUCKET = "poll_duration_bucket"  # labels: le (upper bound in seconds, "+Inf"); non-cumulative
POLL_DURATION_MS = "poll_duration_ms"  # no labels: sum of poll durations in milliseconds
ITEMS = "items"  # labels: partner, outcome (new | updated | unchanged | rejected): polled, pushed, folder alike
ITEMS_STORED = "items_stored"  # gauge: labels partner, status (usable | withdrawn)
NOTICES = "notices"  # labels: kind
DELIVERY_ATTEMPTS = "delivery_attempts"  # labels: outcome (ok | error)
DELIVERIES_SETTLED = "deliveries_settled"  # labels: state (delivered | failed)
PRUNED = "pruned"  # labels: table (rows removed by retention)
WEBSUB_DISTRIBUTIONS = "websub_distributions"  # labels: partner, outcome (taken | ignored): [wire] hub pushes
LAG_BUCKET = "publish_lag_bucket"  # labels: le; non-cumulative
LAG_SUM = "publish_lag_ms"  # no labels: sum of republish lags, milliseconds
LAG_WATERMARK = "publish_lag_watermark"  # no labels: items up to this id are in the lag histogram

POLL_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # seconds
LAG_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 24 * 3600.0, 7 * 86400.0)  # seconds


_PENDING = "syndication.db.counters"


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    labels: dict[str, str]
    value: int


def label_key(labels: Mapping[str, str]) -> str:
    """The stored form of a label set: JSON with sorted keys (equal sets, equal keys)."""
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def count(session: Session, name: str, n: int = 1, **labels: str) -> None:
    """Add n to a figure when this session's transaction commits (nothing if it rolls back)."""
    if n == 0:
        return
    pending: dict[tuple[str, str], int] = session.info.setdefault(_PENDING, {})
    key = (name, label_key(labels))
    pending[key] = pending.get(key, 0) + n


def bucket_label(seconds: float, bounds: tuple[float, ...]) -> str:
    """The `le` label of the one (non-cumulative) bucket a value falls in: its smallest bound >= the value."""
    for b in bounds:
        if seconds <= b:
            return repr(b)
    return "+Inf"


@functools.cache
def upsert_statement(dialect: str) -> Any:
    """INSERT .. ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value (SQLite and PostgreSQL),
    one row's values bound at execution. Built once per dialect (a Core statement on the table: building it and
    the ORM's path for every row were a third of a storing transaction's commit)."""
    table = cast(Table, Counter.__table__)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # lazy: start-up: SQLite-only processes never need it

        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(index_elements=["name", "labels"],
                                        set_={"value": table.c.value + pg.excluded.value})
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(index_elements=["name", "labels"],
                                      set_={"value": table.c.value + lite.excluded.value})


def _write_pending(session: Session) -> None:
    pending: dict[tuple[str, str], int] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    # The transaction's own changes first: counter rows are then the last locks it takes, held only for the
    # commit, and never before a row another transaction could hold while waiting for a counter (no deadlock).
    session.flush()
    stmt = upsert_statement(session.get_bind().dialect.name)
    # Row by row in sorted order: a multi-row upsert does not promise to lock in VALUES order.
    for (name, labels), n in sorted(pending.items()):
        session.execute(stmt, {"name": name, "labels": labels, "value": n})


def _drop_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# Every Session: whoever calls count() has imported this module, so the hooks are in place before its commit.
event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_transaction_end", _drop_pending)


def read(session: Session) -> list[Figure]:
    return [Figure(name, json.loads(labels), int(value))
            for name, labels, value in session.execute(select(Counter.name, Counter.labels, Counter.value))]


def value(session: Session, name: str, **labels: str) -> int:
    v = session.scalar(select(Counter.value).where(Counter.name == name, Counter.labels == label_key(labels)))
    return int(v or 0)


def move_watermark(session: Session, name: str, expected: int, new: int) -> bool:
    """Compare-and-set of a watermark row in the caller's transaction: True when it was `expected` (0 = no row
    yet) and is now `new`; False when another process moved it first."""
    key = label_key({})
    moved = session.execute(update(Counter).where(Counter.name == name, Counter.labels == key,
                                                  Counter.value == expected).values(value=new))
    if int(getattr(moved, "rowcount", 0) or 0) == 1:
        return True
    if expected != 0:
        return False
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # lazy: start-up: SQLite-only processes never need it

        stmt: Any = postgresql.insert(Counter).values(name=name, labels=key, value=new).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(Counter).values(name=name, labels=key, value=new).on_conflict_do_nothing()
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0) == 1
