"""Sources carry their own bound on the adaptive interval, and why the current interval differs.

`max_interval` (NULL: 4 x interval) is how far a quiet source's polls may be stretched, within
`fetch.max_interval`; `interval_reason` says why the next poll is not `interval` after the last (quiet
feed, backoff after errors, Retry-After), for `status` and /ops.

Revision ID: 0022_source_max_interval
Revises: 0011_rounds
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_source_max_interval"
down_revision: str | Sequence[str] | None = "0021_ops_samples"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("max_interval", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("interval_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("interval_reason")
        batch.drop_column("max_interval")
