"""Merge the schema branches of intake, normalise, publish and operators into one head.

Revision ID: 0007_merge
Revises: 0002_intake, 0004_normalise, 0005_publish, 0006_operators
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_merge"
down_revision: str | Sequence[str] | None = ("0002_intake", "0004_normalise", "0005_publish", "0006_operators")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
