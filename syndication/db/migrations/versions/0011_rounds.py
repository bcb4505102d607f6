"""Sources remember the round of polls their lease belongs to.

A round is the set of sources claimed together (one scheduler tick, one `syndication ingest`). While any
of them still holds its lease, polls that stored changes leave their channels marked dirty; the poll that
ends the round (or the tick, when the round has made changes wait `publish.round_max_delay`) publishes.

Revision ID: 0011_rounds
Revises: 0013_publish_state
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_rounds"
down_revision: str | Sequence[str] | None = "0013_publish_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("lease_round", sa.String(length=32), nullable=True))
        batch.create_index("ix_sources_lease_round", ["lease_round"])


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_index("ix_sources_lease_round")
        batch.drop_column("lease_round")
