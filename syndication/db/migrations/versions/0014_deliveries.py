"""WebSub pings become deliveries: a state, a due time and a lease per ping, so pings are sent (and retried
with backoff) by the notify queue instead of inline by the publisher.

`state` (pending | retrying | delivered | failed) is the delivery's; `outcome` stays as the last attempt's
(ok | failed), empty before the first. Rows written before this revision were finished: "ok" ones are
delivered, the others failed.

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
        batch.alter_column("outcome", existing_type=sa.String(length=16), nullable=True)
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("lease_token", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", TS, nullable=True))
        batch.add_column(sa.Column("last_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("delivered_at", TS, nullable=True))
    op.execute("UPDATE websub_pings SET state = CASE WHEN outcome = 'ok' THEN 'delivered' ELSE 'failed' END, "
               "next_attempt_at = created_at, last_attempt_at = created_at")
    op.execute("UPDATE websub_pings SET delivered_at = created_at WHERE outcome = 'ok'")
    with op.batch_alter_table("websub_pings") as batch:
        batch.alter_column("state", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("next_attempt_at", existing_type=TS, nullable=False)
        batch.create_index("ix_websub_pings_due", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.execute("UPDATE websub_pings SET outcome = CASE WHEN state = 'delivered' THEN 'ok' ELSE 'failed' END "
               "WHERE outcome IS NULL OR state IN ('pending', 'retrying')")
    with op.batch_alter_table("websub_pings") as batch:
        batch.drop_index("ix_websub_pings_due")
        batch.drop_column("delivered_at")
        batch.drop_column("last_attempt_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_token")
        batch.drop_column("next_attempt_at")
        batch.drop_column("state")
        batch.alter_column("outcome", existing_type=sa.String(length=16), nullable=False)
