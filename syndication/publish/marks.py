"""A channel's dirty mark: "this channel has a change to publish". Set by the relay of item events and by
notices (their channels must carry them), taken by the publisher (syndication.publish.publisher).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from syndication.db.models import Channel
from syndication.db.session import insert_missing


def mark_dirty(session: Session, channel_ids: set[str], now: datetime) -> None:
    if not channel_ids:
        return
    # Two relays (schedulers, workers) may meet a channel's first mark at once: the row is created with
    # "insert unless present", never a plain INSERT that fails the loser's whole transaction.
    insert_missing(session, Channel, [{"id": cid, "dirty_seq": 0} for cid in sorted(channel_ids)], "id")
    # Every mark moves the sequence, on an already dirty channel too: a publisher that read the channel
    # before this change may have rendered without it, and must leave the mark for its next run.
    session.execute(
        update(Channel).where(Channel.id.in_(channel_ids))
        .values(dirty_seq=Channel.dirty_seq + 1, dirty_since=func.coalesce(Channel.dirty_since, now))
        .execution_options(synchronize_session=False)
    )
