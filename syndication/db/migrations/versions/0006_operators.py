"""[operators] indexes for the ops views: items by source and by first-seen time, events by item, polls by time

Revision ID: 0006_operators
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_operators"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_source_sort", "items", ["source_id", "sort_at"])
    op.create_index("ix_items_first_seen", "items", ["first_seen_at"])
    op.create_index("ix_events_item_kind", "events", ["item_id", "kind"])
    op.create_index("ix_polls_started", "polls", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_polls_started", table_name="polls")
    op.drop_index("ix_events_item_kind", table_name="events")
    op.drop_index("ix_items_first_seen", table_name="items")
    op.drop_index("ix_items_source_sort", table_name="items")
