"""[wire] WebSub-subscribed intake: our subscriptions to partners' hubs, one per polled feed that advertises one.

`websub_subscriptions`: source (SET NULL when the source is deleted, so the hub can still be told to stop),
hub, topic, state (pending | active | denied | failed | expired | unsubscribing), the request awaiting the hub's
verification, the lease as granted and when to renew it, the sealed secret, the last error, and the content
distributions taken and ignored (syndication.intake.subscriptions).

Revision ID: 0025_websub
Revises: 0023_raw_dates
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_websub"
down_revision: str | Sequence[str] | None = "0023_raw_dates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("callback_id", sa.String(length=64), nullable=False),
        sa.Column("hub_url", sa.String(length=2000), nullable=False),
        sa.Column("topic_url", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("request_mode", sa.String(length=16), nullable=True),
        sa.Column("requested_at", when, nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("verified_at", when, nullable=True),
        sa.Column("expires_at", when, nullable=True),
        sa.Column("renew_at", when, nullable=True),
        sa.Column("retry_at", when, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", when, nullable=True),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("last_push_at", when, nullable=True),
        sa.Column("ignored", sa.Integer(), nullable=False),
        sa.Column("last_ignored_at", when, nullable=True),
        sa.Column("last_ignored_reason", sa.Text(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", name="uq_websub_subscriptions_source"),
        sa.UniqueConstraint("callback_id", name="uq_websub_subscriptions_callback"),
    )


def downgrade() -> None:
    op.drop_table("websub_subscriptions")
