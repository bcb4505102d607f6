"""[trust] Notices wait for the files that carry their change; publish failures are counted; embargo.

- `pending_notices`: a notice recorded by the relay, released by the publisher once every channel it
  names has been written at or past the dirty mark its change made (`channels.published_seq`).
- `channels`: `published_seq`, and the channel's publish health (consecutive and total failures, last
  error, since when failing, next retry), shared by every process.
- `notices.under_embargo`: the notice concerns an item under embargo at the time: the partner's only.
- `items.withdrawn_at`: when the item was withdrawn (an item withdrawn under embargo was never public).

Revision ID: 0013_publish_state
Revises: 0015_ops_sessions
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)

revision: str = "0013_publish_state"
down_revision: str | Sequence[str] | None = "0015_ops_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer(), nullable=True, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("under_embargo", sa.Boolean(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("waits", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    # Plain ADD COLUMN (SQLite has it): a batch "move and copy" of notices or items would drop the old
    # table, and with foreign keys on that cascades into deliveries, item_versions and events.
    op.add_column("channels", sa.Column("published_seq", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("channels", sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("channels", sa.Column("failures_total", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("channels", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("channels", sa.Column("last_error_at", TS, nullable=True))
    op.add_column("channels", sa.Column("failing_since", TS, nullable=True))
    op.add_column("channels", sa.Column("next_retry_at", TS, nullable=True))
    # Channels already published before this revision count as published at their current mark.
    op.execute("UPDATE channels SET published_seq = dirty_seq WHERE dirty_since IS NULL")
    op.add_column("notices", sa.Column("under_embargo", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("items", sa.Column("withdrawn_at", TS, nullable=True))
    op.execute("UPDATE items SET withdrawn_at = updated_at WHERE status = 'withdrawn'")


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL), for the same reason as above.
    op.execute("ALTER TABLE items DROP COLUMN withdrawn_at")
    op.execute("ALTER TABLE notices DROP COLUMN under_embargo")
    for name in ("next_retry_at", "failing_since", "last_error_at", "last_error", "failures_total",
                 "consecutive_failures", "published_seq"):
        op.execute(f"ALTER TABLE channels DROP COLUMN {name}")
    op.drop_table("pending_notices")
