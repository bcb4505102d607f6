"""[intake] adaptive interval and redirect chain on sources

Revision ID: 0002_intake
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_intake"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("current_interval", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("redirects", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("redirects")
        batch.drop_column("current_interval")
