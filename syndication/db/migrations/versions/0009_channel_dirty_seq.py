"""Channels count their dirty marks, so a publisher clears only the mark it rendered.

`dirty_since` keeps the time of the oldest unpublished change; `dirty_seq` moves on every mark, even on
a channel that is already dirty. A publish run clears the mark only where `dirty_seq` is still the value
it read before rendering: a change relayed while it rendered keeps the channel dirty for the next run.

Revision ID: 0009_channel_dirty_seq
Revises: 0008_story_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_channel_dirty_seq"
down_revision: str | Sequence[str] | None = "0008_story_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("dirty_seq", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("dirty_seq")
