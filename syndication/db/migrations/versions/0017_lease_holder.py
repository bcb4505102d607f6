"""Sources record who holds their lease, so a restarted embedded process can take back its dead predecessor's.

`lease_holder` names the process that claimed the source (host, boot, pid, process start time, data dir; see
syndication.runtime.schedule.Holder). Scaled mode leaves it empty and keeps healing lost polls by lease expiry.

Revision ID: 0017_lease_holder
Revises: 0009_channel_dirty_seq
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_lease_holder"
down_revision: str | Sequence[str] | None = "0009_channel_dirty_seq"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("lease_holder")
