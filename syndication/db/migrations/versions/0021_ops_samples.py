"""Operators' figures over time: the samples behind the /ops charts ([newcomer]).

The scheduler writes one row per figure every `ops.sample_seconds` (items received and published per partner,
republish lag, poll errors per source, queue depth) and deletes rows older than two days itself.

Revision ID: 0021_ops_samples
Revises: 0011_rounds
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_ops_samples"
down_revision: str | Sequence[str] | None = "0020_retention_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_samples",
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("taken_at", "metric", "subject"),
    )


def downgrade() -> None:
    op.drop_table("ops_samples")
