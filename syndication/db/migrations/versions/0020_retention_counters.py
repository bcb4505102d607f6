"""Figures kept on write: the `counters` table (syndication.db.counters), filled from today's history.

/metrics reads these rows instead of aggregating polls, notices and deliveries at every scrape, and retention
(syndication.operations.retention) can then prune those tables without lowering a counter. The backfill counts what the
history holds now: polls by partner and outcome (and their durations), items by the polls that saw them
(pushed items were not recorded before; they are counted from now on), items stored by status, notices by kind,
and finished deliveries.

Revision ID: 0020_retention_counters
Revises: 0011_rounds
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from syndication.db.counters import (
    DELIVERIES_SETTLED,
    ITEMS,
    ITEMS_STORED,
    NOTICES,
    POLL_DURATION_BUCKET,
    POLL_DURATION_BUCKETS,
    POLL_DURATION_MS,
    POLLS,
    bucket_label,
    label_key,
)

revision: str = "0020_retention_counters"
down_revision: str | Sequence[str] | None = "0011_rounds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEM_OUTCOMES = ("new", "updated", "unchanged", "rejected")


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.String(length=500), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "labels"),
    )
    conn = op.get_bind()
    figures: dict[tuple[str, str], int] = defaultdict(int)
    for pid, outcome, n, *sums in conn.execute(sa.text(
        "SELECT s.partner_id, p.outcome, COUNT(*), COALESCE(SUM(p.new), 0), COALESCE(SUM(p.updated), 0), "
        "COALESCE(SUM(p.unchanged), 0), COALESCE(SUM(p.rejected), 0) "
        "FROM polls p JOIN sources s ON s.id = p.source_id GROUP BY s.partner_id, p.outcome"
    )):
        figures[(POLLS, label_key({"partner": pid, "outcome": outcome}))] += int(n)
        for k, v in zip(ITEM_OUTCOMES, sums, strict=True):
            figures[(ITEMS, label_key({"partner": pid, "outcome": k}))] += int(v)
    total_ms = 0
    for ms, n in conn.execute(sa.text("SELECT duration_ms, COUNT(*) FROM polls GROUP BY duration_ms")):
        figures[(POLL_DURATION_BUCKET, label_key({"le": bucket_label(int(ms) / 1000.0, POLL_DURATION_BUCKETS)}))] += int(n)
        total_ms += int(ms) * int(n)
    if total_ms:
        figures[(POLL_DURATION_MS, label_key({}))] = total_ms
    for pid, status, n in conn.execute(sa.text("SELECT partner_id, status, COUNT(*) FROM items "
                                               "GROUP BY partner_id, status")):
        figures[(ITEMS_STORED, label_key({"partner": pid, "status": status}))] += int(n)
    for kind, n in conn.execute(sa.text("SELECT kind, COUNT(*) FROM notices GROUP BY kind")):
        figures[(NOTICES, label_key({"kind": kind}))] += int(n)
    for state, n in conn.execute(sa.text("SELECT state, COUNT(*) FROM deliveries "
                                         "WHERE state IN ('delivered', 'failed') GROUP BY state")):
        figures[(DELIVERIES_SETTLED, label_key({"state": state}))] += int(n)
    rows = [{"name": name, "labels": labels, "value": v} for (name, labels), v in sorted(figures.items()) if v]
    if rows:
        op.bulk_insert(counters, rows)


def downgrade() -> None:
    op.drop_table("counters")
