"""Indexes for story matching: the publication-time window and the canonical-URL lookup.

Revision ID: 0008_story_indexes
Revises: 0007_merge
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_story_indexes"
down_revision: str | Sequence[str] | None = "0007_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_published", "items", ["published_at"])
    op.create_index("ix_items_url", "items", ["url"])


def downgrade() -> None:
    op.drop_index("ix_items_url", table_name="items")
    op.drop_index("ix_items_published", table_name="items")
