"""Operator browser sessions live in the database: they expire, logout ends them in every web process.

Only a keyed hash (HMAC-SHA256 under a key derived from the operator token) of each session id is stored,
so changing the token ends every session too.

Revision ID: 0015_ops_sessions
Revises: 0014_deliveries
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_ops_sessions"
down_revision: str | Sequence[str] | None = "0014_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_ops_sessions_expires_at", "ops_sessions", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ops_sessions_expires_at", table_name="ops_sessions")
    op.drop_table("ops_sessions")
