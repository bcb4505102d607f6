"""normalise: stories and item fingerprints

Revision ID: 0004_normalise
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_normalise"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("original_agency", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("simhash", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("title_key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("embargo_released_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_items_story_id", "stories", ["story_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_items_story_id", ["story_id"])
        batch.create_index("ix_items_body_hash", ["body_hash"])
        batch.create_index("ix_items_embargo_pending", ["embargo_released_at", "embargo_until"])


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_embargo_pending")
        batch.drop_index("ix_items_body_hash")
        batch.drop_index("ix_items_story_id")
        batch.drop_constraint("fk_items_story_id", type_="foreignkey")
        batch.drop_column("embargo_released_at")
        batch.drop_column("title_key")
        batch.drop_column("body_hash")
        batch.drop_column("simhash")
        batch.drop_column("story_id")
    op.drop_table("stories")
