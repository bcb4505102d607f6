"""[real-feeds] Items keep the partner dates normalisation set aside; items stored with such dates are re-dated.

- `items.partner_dates`: JSON list of {"field", "raw", "reason"} (syndication/pipeline/dates.py), NULL when
  every date of the item was used.
- Items stored before this revision with a date before 1970-01-02 (Hugo's `0001-01-01` and the like, which
  broke the story window and were published as `1-01-01T00:00:00Z`) are dated by their first sighting, as
  normalisation now does, and the old value is recorded in `partner_dates`.
- `items.simhash` recomputed: SimHash now hashes shingles with XXH3-64 instead of blake2b
  (syndication/pipeline/dedupe.py), and a story can only be matched against fingerprints of the same hash.
  The pipeline's own function is used: a fingerprint is derived data, recomputed with the code that reads it.

Revision ID: 0023_raw_dates
Revises: 0022_source_max_interval
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0023_raw_dates"
down_revision: str | Sequence[str] | None = "0022_source_max_interval"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a migration must keep meaning what it meant when it was written.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
REASON = "before 1970-01-02 (a placeholder for no date)"

_items = sa.table(
    "items",
    sa.column("id", sa.Integer()),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("sort_at", sa.DateTime(timezone=True)),
    sa.column("first_seen_at", sa.DateTime(timezone=True)),
    sa.column("flags", sa.JSON()),
    sa.column("partner_dates", sa.JSON()),
    sa.column("content_html", sa.Text()),
    sa.column("title_key", sa.Text()),
    sa.column("simhash", sa.BigInteger()),
)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def upgrade() -> None:
    # Plain ADD COLUMN (see 0013): a batch copy of items would cascade into the tables that reference it.
    op.add_column("items", sa.Column("partner_dates", sa.JSON(), nullable=True))
    bind = op.get_bind()
    # SQLite's timestamps are ISO strings, which sort as dates; the typed literal is bound as one there and
    # as a timestamptz on PostgreSQL.
    cut = sa.literal(EARLIEST if bind.dialect.name != "sqlite" else EARLIEST.replace(tzinfo=None),
                     sa.DateTime(timezone=True))
    early = sa.or_(_items.c.published_at < cut, _items.c.updated_at < cut)
    rows = bind.execute(sa.select(_items.c.id, _items.c.published_at, _items.c.updated_at, _items.c.first_seen_at,
                                  _items.c.flags).where(early)).all()
    for item_id, published, updated, first_seen, flags in rows:
        published, updated, first_seen = _aware(published), _aware(updated), _aware(first_seen)
        notes: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        if published < EARLIEST:
            notes.append({"field": "published", "raw": published.isoformat(), "reason": REASON})
            published = values["published_at"] = values["sort_at"] = first_seen  # sort_at: min(published, seen)
        if updated < EARLIEST:
            notes.append({"field": "updated", "raw": updated.isoformat(), "reason": REASON})
        values.update(updated_at=max(updated, published), flags=[*(flags or []), "date_set_aside"],
                      partner_dates=notes)
        if bind.dialect.name == "sqlite":  # stored naive, as syndication.db.models.UTCDateTime does
            values.update({k: v.astimezone(UTC).replace(tzinfo=None) for k, v in values.items()
                           if isinstance(v, datetime)})
        bind.execute(sa.update(_items).where(_items.c.id == item_id).values(**values))
    _recompute_simhash(bind)


def _recompute_simhash(bind: sa.Connection, batch: int = 500) -> None:
    # lazy: only this upgrade needs the pipeline; Alembic loads every revision
    from syndication.pipeline.dedupe import body_words, simhash, to_signed

    last = 0
    while True:
        rows = bind.execute(sa.select(_items.c.id, _items.c.content_html)
                            .where(_items.c.title_key.is_not(None), _items.c.id > last)
                            .order_by(_items.c.id).limit(batch)).all()
        if not rows:
            return
        # A body too short for a SimHash has none under either hash: nothing to rewrite for it.
        changes = [{"item_id": item_id, "value": to_signed(value)} for item_id, html in rows
                   if (value := simhash(body_words(html or ""))) is not None]
        if changes:
            bind.execute(sa.update(_items).where(_items.c.id == sa.bindparam("item_id"))
                         .values(simhash=sa.bindparam("value")), changes)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_column("items", "partner_dates")
