"""[publish] notices, webhook deliveries and endpoints, WebSub pings, archive pages, partner policy state

Revision ID: 0005_publish
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_publish"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=45), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("partner_item_id", sa.String(length=2000), nullable=True),
        sa.Column("partner_item_url", sa.String(length=2000), nullable=True),
        sa.Column("item_uid", sa.String(length=100), nullable=True),
        sa.Column("item_version", sa.Integer(), nullable=True),
        sa.Column("item_url", sa.String(length=2000), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("attribution", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_notices_partner_time", "notices", ["partner_id", "created_at"])
    op.create_index("ix_notices_kind_time", "notices", ["kind", "created_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "endpoint", name="uq_deliveries_notice_endpoint"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_deliveries_notice_id", "deliveries", ["notice_id"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("unsubscribed_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "websub_pings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("topic_url", sa.String(length=2000), nullable=False),
        sa.Column("hub_url", sa.String(length=2000), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_websub_pings_time", "websub_pings", ["created_at"])
    op.create_table(
        "archive_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "item_id", name="uq_archive_entries"),
    )
    op.create_index("ix_archive_entries_page", "archive_entries", ["channel_id", "page"])
    op.create_table(
        "archive_pages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("frozen_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "page", name="uq_archive_pages"),
    )
    op.create_table(
        "partner_policy_state",
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )


def downgrade() -> None:
    op.drop_table("partner_policy_state")
    op.drop_table("archive_pages")
    op.drop_index("ix_archive_entries_page", table_name="archive_entries")
    op.drop_table("archive_entries")
    op.drop_index("ix_websub_pings_time", table_name="websub_pings")
    op.drop_table("websub_pings")
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_deliveries_notice_id", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_notices_kind_time", table_name="notices")
    op.drop_index("ix_notices_partner_time", table_name="notices")
    op.drop_table("notices")
