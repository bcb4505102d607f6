"""WebSub pings become deliveries: a state, a due time and a lease per ping, so pings are sent (and retried
with backoff) by the notify queue instead of inline by the publisher.

`outcome` (ok | failed, written once after inline retries) becomes `state` (pending | retrying | delivered |
failed); rows written before this revision were finished, so "ok" becomes "delivered".

Revision ID: 0014_deliveries
Revises: 0017_lease_holder (re-chained after main gained 0017)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_deliveries"
down_revision: str | Sequence[str] | None = "0017_lease_holder"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("websub_pings") as batch:
        batch.alter_column("outcome", new_column_name="state", existing_type=sa.String(length=16),
                           existing_nullable=False)
        batch.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("lease_token", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", TS, nullable=True))
        batch.add_column(sa.Column("last_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("delivered_at", TS, nullable=True))
    op.execute("UPDATE websub_pings SET state = 'delivered', delivered_at = created_at WHERE state = 'ok'")
    op.execute("UPDATE websub_pings SET next_attempt_at = created_at, last_attempt_at = created_at")
    with op.batch_alter_table("websub_pings") as batch:
        batch.alter_column("next_attempt_at", existing_type=TS, nullable=False)
        batch.create_index("ix_websub_pings_due", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.execute("UPDATE websub_pings SET state = 'ok' WHERE state = 'delivered'")
    op.execute("UPDATE websub_pings SET state = 'failed' WHERE state IN ('pending', 'retrying')")
    with op.batch_alter_table("websub_pings") as batch:
        batch.drop_index("ix_websub_pings_due")
        batch.drop_column("delivered_at")
        batch.drop_column("last_attempt_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_token")
        batch.drop_column("next_attempt_at")
        batch.alter_column("state", new_column_name="outcome", existing_type=sa.String(length=16),
                           existing_nullable=False)
